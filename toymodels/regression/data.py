"""Per-member training sets (and held-out sets) of the power-law regression task, as features on the device.

Member e draws its P_e training inputs from stream "data" of its data seed and its label noise from stream "noise" of
its noise seed, exactly as ``toymodels.tasks.powerlaw.sample_dataset(task, P_e, [seed])`` does, so a member sees the
same rows whatever else is in the ensemble (and ``toymodels.theory.simulate`` reproduces it). Held-out rows (needed
only by nonlinear features, whose test loss has no closed form) come from streams "heldout" / "heldout_noise".

The random features are fixed, so each member's feature matrix Z_e = z(X_e) [P_e, N] is computed once here; training
then only touches Z. Rows beyond P_e and features beyond N_e are zero, and ``valid`` marks the real rows. The loop
over members runs once, at set-up (each member needs its own generators); inputs shared by several members (same
data seed and P) are drawn once.
"""
from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace
from typing import Sequence

import torch

from ..models.random_features import EnsembleRandomFeatures
from ..rng import generator
from ..tasks.powerlaw import PowerLawTask, sample_inputs, sample_noise

F64 = torch.float64


@dataclass
class RegressionData:
    """Z [E, P_max, N_max], y [E, P_max], valid [E, P_max] bool, n_train [E] int64 (P_e), widths [E] int64 (N_e,
    = M for the linear model); held-out Z_test
    [E, T, N_max], y_test [E, T] or None; eta, wbar [M] float64 (for the exact population loss); sigma [E]
    float64 label-noise std; checksum [E] float64 (a fingerprint checked on resume)."""

    Z: torch.Tensor
    y: torch.Tensor
    valid: torch.Tensor
    n_train: torch.Tensor
    widths: torch.Tensor
    Z_test: torch.Tensor | None
    y_test: torch.Tensor | None
    eta: torch.Tensor
    wbar: torch.Tensor
    sigma: torch.Tensor
    checksum: torch.Tensor

    # the Lightning layer asks ``engine.data.table.n_classes`` when loss.name is "mse": one output
    table = SimpleNamespace(n_classes=1)


def heldout(task: PowerLawTask, T: int, seed: int, noise_seed: int, sigma: float) -> tuple[torch.Tensor, torch.Tensor]:
    """T held-out rows (X [T, M], y [T]) from streams "heldout" (data seed) and "heldout_noise" (noise seed)."""
    X = torch.randn(T, task.M, generator=generator(seed, "heldout"), dtype=F64) * task.eta.sqrt()
    eps = torch.randn(T, generator=generator(noise_seed, "heldout_noise"), dtype=F64)
    return X, X @ task.wbar + float(sigma) * eps


def build_data(task: PowerLawTask, model: EnsembleRandomFeatures, P: Sequence[int], data_seeds: Sequence[int],
               noise_seeds: Sequence[int], sigmas: Sequence[float], test_size: int | None = None) -> RegressionData:
    """Every member's features on the model's device and dtype (inputs drawn in float64 on the CPU)."""
    E, dev = model.n_members, model.v.device
    dtype = model.v.dtype
    P = [int(p) for p in P]
    P_max, N_max = max(P), model.v.shape[1]
    Z = torch.zeros(E, P_max, N_max, dtype=dtype, device=dev)
    y = torch.zeros(E, P_max, dtype=dtype, device=dev)
    Z_test = torch.zeros(E, test_size, N_max, dtype=dtype, device=dev) if test_size else None
    y_test = torch.zeros(E, test_size, dtype=dtype, device=dev) if test_size else None
    checksum = torch.zeros(E, dtype=F64)
    last: tuple[tuple[int, int], torch.Tensor] | None = None
    for e in sorted(range(E), key=lambda i: (int(data_seeds[i]), P[i])):  # members sharing inputs in a row
        key = (int(data_seeds[e]), P[e])
        if last is None or last[0] != key:  # keep one input matrix at a time (P_e x M can be large)
            last = (key, sample_inputs(task, P[e], [key[0]])[0].to(dev))  # [P_e, M] float64
        X = last[1]
        ye = X @ task.wbar.to(dev) + sample_noise(P[e], [int(noise_seeds[e])], float(sigmas[e]))[0].to(dev)
        Ze = model.member_features(e, X)  # [P_e, N_max] float64
        Z[e, :P[e]] = Ze.to(dtype)
        y[e, :P[e]] = ye.to(dtype)
        checksum[e] = (Ze.sum() + ye.sum()).cpu()
        if test_size:
            Xt, yt = heldout(task, test_size, int(data_seeds[e]), int(noise_seeds[e]), float(sigmas[e]))
            Z_test[e] = model.member_features(e, Xt.to(dev)).to(dtype)
            y_test[e] = yt.to(device=dev, dtype=dtype)
    valid = torch.arange(P_max, device=dev)[None, :] < torch.tensor(P, device=dev)[:, None]
    return RegressionData(Z, y, valid, torch.tensor(P, dtype=torch.int64, device=dev),
                          torch.tensor(model.widths, dtype=torch.int64, device=dev), Z_test, y_test,
                          task.eta.to(dev), task.wbar.to(dev), torch.as_tensor(sigmas, dtype=F64, device=dev),
                          checksum.to(dev))

