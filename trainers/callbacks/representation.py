"""Representation measures over training (toymodels.metrics.representation.probe) on their own schedule.

Written to the run directory at the end of the fit (and kept in checkpoints, so a resumed fit continues them):
    histories/repr_steps.npy                [T]
    histories/repr_<measure>.npy            [E, T] for per-member measures (rqi, gini_embed, restricted_loss, ...)
    histories/repr_fourier_embed.npy        [E, T, p // 2 + 1] (and fourier_unembed)
    histories/repr_cka_members.npy          [T, E, E]
Member means go to the logger (wandb) at each probe.
"""
from __future__ import annotations

from pathlib import Path

import lightning as L
import numpy as np
import torch


class ProbeRecorder(L.Callback):
    """Runs a probe (a callable model -> {name: tensor with a leading member axis}) at chosen steps."""

    prefix = "probe"

    def __init__(self, probe, steps: list[int], run_dir: Path):
        self.probe, self.steps, self.run_dir = probe, set(steps), Path(run_dir)
        self.done: list[int] = []
        self.records: dict[str, list[np.ndarray]] = {}

    def measure(self, pl_module) -> dict[str, torch.Tensor]:
        return self.probe(pl_module.engine.model)

    def _run(self, trainer, pl_module, step: int):
        if step in self.done:
            return
        out = self.measure(pl_module)
        for k, v in out.items():
            self.records.setdefault(k, []).append(v.detach().double().cpu().numpy())
        self.done.append(step)
        if trainer.logger is not None:
            scalars = {f"{self.prefix}/{k}_mean": float(np.nanmean(self.records[k][-1]))
                       for k, v in out.items() if v.dim() == 1}
            trainer.logger.log_metrics(scalars, step=step)

    def on_train_start(self, trainer, pl_module):
        if trainer.global_step == 0 and 0 in self.steps:
            self._run(trainer, pl_module, 0)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if trainer.global_step in self.steps:
            self._run(trainer, pl_module, trainer.global_step)

    def arrays(self) -> dict[str, np.ndarray]:
        """Member-major arrays: [E, T] scalars, [E, T, F] vectors; [E, E] matrices as [T, E, E]."""
        out = {}
        for k, vals in self.records.items():
            a = np.stack(vals)  # [T, E, ...]
            out[k] = a if (a.ndim == 3 and a.shape[1] == a.shape[2]) else np.moveaxis(a, 0, 1)
        return out

    def on_train_end(self, trainer, pl_module):
        h = self.run_dir / "histories"
        h.mkdir(parents=True, exist_ok=True)
        np.save(h / f"{self.prefix}_steps.npy", np.asarray(self.done, dtype=np.int64))
        for k, a in self.arrays().items():
            np.save(h / f"{self.prefix}_{k}.npy", a)

    def state_dict(self):  # tensors, not numpy arrays: checkpoints are loaded with weights_only
        return {"done": list(self.done),
                "records": {k: torch.from_numpy(np.stack(v)) for k, v in self.records.items()}}

    def load_state_dict(self, state):
        self.done = list(state["done"])
        self.records = {k: list(v.numpy()) for k, v in state["records"].items()}


class RepresentationCallback(ProbeRecorder):
    prefix = "repr"

    def state_dict(self):
        state = super().state_dict()
        state["init_hidden"] = self.probe.init_hidden  # CKA against initialisation survives a resume
        return state

    def load_state_dict(self, state):
        super().load_state_dict(state)
        self.probe.init_hidden = state.get("init_hidden")
