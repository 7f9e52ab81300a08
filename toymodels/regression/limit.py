"""The t -> infinity limit of gradient descent from zero, in closed form, for every member of an ensemble.

GD from v = 0 on (1/P)|y - Z v|^2 + lambda |v|^2 converges to the ridge solution at lambda (lambda = 0: the
minimum-norm interpolator when N >= P, least squares when N < P). Members are grouped by their true sizes and lambda
(P_e, N_e, lambda_e) and each group is solved at those sizes by ``toymodels.theory.simulate.ridge_weights`` (float64,
batched over the group), so each member is normalised by its own P and padding never enters.
"""
from __future__ import annotations

import torch

from ..theory.simulate import ridge_weights
from .data import RegressionData

F64 = torch.float64


def member_groups(data: RegressionData, ridge: torch.Tensor) -> dict[tuple[int, int, float], torch.Tensor]:
    """(P, N, lambda) -> indices [n] of the members with those true sizes and ridge (on the data's device)."""
    out: dict[tuple[int, int, float], list[int]] = {}
    keys = zip(data.n_train.tolist(), data.widths.tolist(), torch.as_tensor(ridge).tolist())
    for e, (P, N, lam) in enumerate(keys):
        out.setdefault((int(P), int(N), float(lam)), []).append(e)
    return {k: torch.tensor(v, device=data.Z.device) for k, v in out.items()}


def closed_form_limit(data: RegressionData, ridge: torch.Tensor) -> torch.Tensor:
    """v_infinity [E, N_max] (float64, zero beyond each member's width): ridge at each member's lambda."""
    E, _, N_max = data.Z.shape
    v = torch.zeros(E, N_max, dtype=F64, device=data.Z.device)
    for (P, N, lam), idx in member_groups(data, ridge).items():
        # lambdas (lam, 0) on the data's device select simulate's eigen-decomposition path, which runs on any
        # device (its Cholesky path, taken for a few lambdas > 0, builds its identity on the CPU)
        lams = torch.tensor([lam, 0.0], dtype=F64, device=data.Z.device)
        w = ridge_weights(data.Z[idx, :P, :N], data.y[idx, :P], lams)[:, 0]  # [n, N]
        v[idx, :N] = w
    return v
