"""Weight spectra over training: WeightWatcher-compatible HTSR / SETOL metrics of every weight matrix of every
member (toymodels.metrics.spectra.analyze, batched over members and same-shape layers), on the probe schedule.

Written at the end of the fit (and kept in checkpoints):
    histories/spectra_steps.npy                  [T]
    histories/spectra_<layer>__<metric>.npy      [E, T]   e.g. spectra_mlp.W_in__alpha.npy
Member means of alpha per layer go to the logger at each probe.
"""
from __future__ import annotations

from pathlib import Path

import torch

from toymodels.metrics.spectra import analyze
from toymodels.models.matrices import weight_matrices

from .representation import ProbeRecorder

RECORDED = ("alpha", "xmin", "xmax", "D", "sigma", "num_pl_spikes", "num_fit_evals", "alpha_weighted", "log_norm",
            "log_spectral_norm", "log_alpha_norm", "stable_rank", "detX_num", "detX_val", "ERG_gap", "detX_delta",
            "num_spikes", "mp_softrank", "rand_distance", "num_traps")


class SpectraCallback(ProbeRecorder):
    prefix = "spectra"

    def __init__(self, steps: list[int], run_dir: Path, full: bool = False, seed: int = 0):
        """``full`` adds the Marchenko-Pastur fit and the randomised ESD (rand_distance, correlation traps),
        which cost more than the power-law fit and detX."""
        super().__init__(None, steps, run_dir)
        self.full, self.seed = full, seed

    def measure(self, pl_module) -> dict[str, torch.Tensor]:
        model = pl_module.engine.model
        res = analyze(weight_matrices(model), mp_fit=self.full, randomize=self.full, detX=True,
                      seed=self.seed + pl_module.global_step)
        return {f"{layer}__{m}": v.double() for layer, metrics in res.items() for m, v in metrics.items()
                if m in RECORDED}
