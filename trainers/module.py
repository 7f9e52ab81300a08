"""The Lightning layer over any engine of the ``toymodels.engines.EnsembleEngine`` contract: manual optimisation of
all members at once, per-member evaluation on a schedule into device-side histories (no host sync between
evaluations), first threshold crossings, and checkpoint hooks for the state Lightning does not know about."""
from __future__ import annotations

import itertools

import lightning as L
import torch
from lightning.pytorch.callbacks import ProgressBar
from torch.utils.data import DataLoader, IterableDataset

from toymodels.engines import EnsembleEngine
from toymodels.errors import ConfigError

from .progress import PlainProgress


class _Steps(IterableDataset):
    """The step loop's "data": the engine samples its own rows on the device, so batches are placeholders."""

    def __iter__(self):
        return itertools.count()


class EnsembleModule(L.LightningModule):
    def __init__(self, engine: EnsembleEngine, schedule: list[int], thresholds: list[float],
                 loss_thresholds: list[float] = (), stop_test_loss: float | None = None):
        super().__init__()
        self.engine = engine
        self.model = engine.model  # registered: Lightning moves and checkpoints it
        if engine.head is not None:
            self.head = engine.head  # a head with buffers (mse templates) is checkpointed with the model
        self.automatic_optimization = False
        self.schedule = list(schedule)
        self._index = {s: i for i, s in enumerate(self.schedule)}
        self.metric_names = tuple(engine.metric_names)
        E = engine.n_members
        self.register_buffer("history", torch.full((len(self.metric_names), len(schedule), E), float("nan"),
                                                   dtype=torch.float64))
        self.register_buffer("evaluated", torch.zeros(len(schedule), dtype=torch.bool))
        # the evaluation steps, checkpointed so a resume with another train.max_steps can map its history
        self.register_buffer("schedule_steps", torch.tensor(self.schedule, dtype=torch.int64))
        # events: (metric, threshold, above) -- "train_acc >= 0.9", "test_loss < 0.01", ...
        has = set(self.metric_names)
        self.events = [(f"{s}_acc", t, True) for s in ("train", "test") for t in thresholds if f"{s}_acc" in has] + \
                      [(f"{s}_loss", t, False) for s in ("train", "test") for t in loss_thresholds
                       if f"{s}_loss" in has]
        self.register_buffer("event_thresholds", torch.tensor([t for _, t, _ in self.events], dtype=torch.float64))
        self.register_buffer("event_above", torch.tensor([a for _, _, a in self.events], dtype=torch.bool),
                             persistent=False)
        self.register_buffer("crossings", torch.full((len(self.events), E), -1, dtype=torch.int64))
        self._first_test_acc = next((i for i, (m, _, _) in enumerate(self.events) if m == "test_acc"), None)
        self.stop_test_loss = stop_test_loss
        self.interrupted = False
        self._log_summary = True  # set by on_train_start: whether anything reads the logged summary

    # ---- Lightning plumbing ----------------------------------------------------------------------------------
    def configure_optimizers(self):
        return self.engine.optimizer

    def train_dataloader(self):
        return DataLoader(_Steps(), batch_size=None)

    def on_train_start(self):
        self._optimizer_step = self.optimizers().step  # Lightning's wrapper: it counts the global step
        # the summary goes through Lightning's logging only when a logger or a progress display reads it (~3 ms a
        # call for six scalars on the CPU: a quarter of a second over the main job's 80 evaluations)
        self._log_summary = bool(self.trainer.loggers) or any(
            isinstance(c, (ProgressBar, PlainProgress)) for c in self.trainer.callbacks)
        if self.global_step == 0 and 0 in self._index:
            self.evaluate(0, log=False)  # Lightning allows self.log only inside steps

    def training_step(self, batch, batch_idx):
        # the engine's own backward (no loss scaling to apply: float32/64 parameters, bf16 by autocast without a
        # scaler); Lightning's optimiser wrapper keeps its step count and hooks. Per step, that is all Lightning
        # adds to the engine's step (scripts/bench_grokking.py reports the ratio at E = 1).
        step = self.global_step  # not the placeholder batch: a resumed fit's loader restarts at 0
        self.engine.train_step(step, optimizer_step=self._optimizer_step)
        if step + 1 in self._index:
            self.evaluate(step + 1)

    def on_save_checkpoint(self, checkpoint):
        checkpoint["toylab_engine"] = self.engine.state_dict()

    def on_load_checkpoint(self, checkpoint):
        self.engine.load_state_dict(checkpoint["toylab_engine"])
        self._map_schedule(checkpoint["state_dict"], int(checkpoint.get("global_step", 0)))

    def _map_schedule(self, state: dict, global_step: int):
        """A resume may change train.max_steps and so the evaluation schedule: move the checkpoint's evaluations to
        their steps in this schedule (an evaluated step this schedule lacks is dropped). Checkpoints written before
        the steps were stored are taken as this schedule's first entries when that is consistent (every evaluated
        entry at or before the checkpoint's step; a longer schedule must be linear, whose first entries are
        unchanged), else refused in one line."""
        n_old = state["evaluated"].shape[0]
        old = state.get("schedule_steps")
        if old is None:
            head = self.schedule[:n_old]
            evaluated = [s for s, done in zip(head, state["evaluated"].tolist()) if done]
            consistent = len(head) == n_old and all(s <= global_step for s in evaluated)
            linear = all(b - a == head[1] - head[0] for a, b in zip(head, head[1:]))
            if not (consistent and (n_old == len(self.schedule) or linear)):
                raise ConfigError("train.max_steps", "this checkpoint predates stored evaluation steps and its "
                                                     "schedule cannot be mapped; resume with its own max_steps")
            old = torch.tensor(head, dtype=torch.int64)
            state["schedule_steps"] = old
        old = [int(s) for s in old.tolist()]
        if old == self.schedule:
            return
        hist = torch.full_like(self.history, float("nan"))  # [metric, n_sched, E]
        done = torch.zeros_like(self.evaluated)
        for i, s in enumerate(old):
            j = self._index.get(s)
            if j is not None:
                hist[:, j], done[j] = state["history"][:, i].to(hist), state["evaluated"][i]
        state["history"], state["evaluated"], state["schedule_steps"] = hist, done, self.schedule_steps.clone()

    # ---- evaluation ----------------------------------------------------------------------------------------------
    @torch.no_grad()
    def evaluate(self, step: int, log: bool = True) -> dict[str, torch.Tensor]:
        with self.engine.autocast():
            values = self.engine.evaluate()  # {metric: [E]}
        i = self._index[step]
        self.history[:, i] = torch.stack([values[m].to(torch.float64) for m in self.metric_names])
        self.evaluated[i] = True
        if self.events:
            v = torch.stack([values[m].to(torch.float64) for m, _, _ in self.events])  # [n_events, E]
            thr = self.event_thresholds[:, None]
            # accuracies are float32 ratios: 9/10 is stored as 0.8999999762, hence the tolerance
            reached = torch.where(self.event_above[:, None], v >= thr - 1e-6, v < thr)
            self.crossings.copy_(torch.where((self.crossings < 0) & reached, step, self.crossings))
        active = ~self.engine.diverged
        n_active = active.sum().clamp(min=1)
        summary = {f"{m}_mean": torch.where(active, values[m].to(torch.float64), 0).sum() / n_active
                   for m in self.metric_names}
        if self._first_test_acc is not None:  # share of members whose test accuracy reached the first threshold
            summary["generalised"] = (self.crossings[self._first_test_acc] >= 0).double().mean()
        summary["diverged"] = self.engine.diverged.double().mean()
        if log and self._trainer is not None:  # one host sync per evaluation, never per step
            if self._log_summary:
                self.log_dict(summary, prog_bar=True, on_step=True, on_epoch=False)
            if self.stop_test_loss is not None:
                done = torch.where(active, values["test_loss"].to(torch.float64) < self.stop_test_loss, True)
                if bool(done.all()):
                    self.trainer.should_stop = True
        return values
