"""What the callbacks that follow the module's evaluations share (train-test gap, theory overlay): acting once on
each scheduled evaluation after it is done, and per-member relative deviations of a history from a reference."""
from __future__ import annotations

import math

import lightning as L
import numpy as np
import torch


class EvaluationFollower(L.Callback):
    """Calls ``_sync(pl_module)`` after every training step that ran an evaluation; ``new_evaluations`` gives the
    schedule indices evaluated since the last call. ``self.logged`` [n_sched] bool is set up by the subclass (it
    lives in its checkpoint state)."""

    logged: torch.Tensor | None = None

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if trainer.global_step in pl_module._index:
            self._sync(pl_module)

    def _sync(self, pl_module):
        raise NotImplementedError

    def new_evaluations(self, pl_module) -> torch.Tensor:
        """Indices into the schedule of evaluations done but not yet handled (marked handled now): [k] int64."""
        new = torch.nonzero(pl_module.evaluated.cpu() & ~self.logged).flatten()
        self.logged[new] = True
        return new


def relative_deviation(est: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """|est / ref - 1| elementwise, NaN where it is not finite."""
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.abs(est / ref - 1)
    return np.where(np.isfinite(r), r, np.nan)


def max_and_final(dev: np.ndarray, n_members: int) -> tuple[list[float], list[float]]:
    """Per member of dev [E, n_logged]: the largest finite value and the last value (NaN where there are none)."""
    worst = [float(np.nanmax(r)) if np.isfinite(r).any() else math.nan for r in dev]
    return worst, (dev[:, -1].tolist() if dev.size else [math.nan] * n_members)
