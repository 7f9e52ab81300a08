"""Lazy versus rich over training (toymodels.metrics.lazy_rich) for two-layer networks, on the probe schedule.

Probe rows (chosen by the model's family, ``trainers.families``): a regression engine's first ``rows`` training rows
of each member (targets y); a classification table's fixed random subset of ``rows`` rows (the same for every member;
targets the members' one-hot labels).

Written at the end of the fit (and kept in checkpoints, so a resumed fit continues them):
    histories/lazy_rich_steps.npy                   [T]
    histories/lazy_rich_<measure>.npy               [E, T]   weight_change_W, weight_change_a, ntk_alignment,
                                                             feature_alignment, ntk_change, feature_kernel_change
and, for regression fits, members.csv columns final_<measure> and ntk_alignment_gain (final - first probe).
Member means go to the logger at each probe.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from toymodels.metrics.lazy_rich import lazy_rich_measures

from .representation import ProbeRecorder


class LazyRichProbe:
    def __init__(self, x: torch.Tensor, y: torch.Tensor):
        self.x, self.y = x, y

    def __call__(self, model) -> dict[str, torch.Tensor]:
        return lazy_rich_measures(model, self.x, self.y)


class LazyRichCallback(ProbeRecorder):
    prefix = "lazy_rich"

    def __init__(self, x: torch.Tensor, y: torch.Tensor, steps: list[int], run_dir: Path,
                 columns: dict[str, list] | None = None):
        super().__init__(LazyRichProbe(x, y), steps, run_dir)
        self.columns = columns  # members.csv outcome columns to fill at the end (None: histories only)

    def on_train_end(self, trainer, pl_module):
        super().on_train_end(trainer, pl_module)
        cols = self.columns
        if cols is None or not self.records:
            return
        for k, vals in self.records.items():
            cols[f"final_{k}"] = np.asarray(vals[-1], dtype=float).tolist()
        align = self.records["ntk_alignment"]
        cols["ntk_alignment_gain"] = (np.asarray(align[-1]) - np.asarray(align[0])).tolist()
