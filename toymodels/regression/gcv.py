"""Generalised cross-validation (GCV) for the members of a regression ensemble: the test loss estimated from the
training data alone, E_test ~ E_tr / (1 - df/P)^2 with df = Tr of the smoother matrix (SCIENCE.md "GCV").

* ``gcv_limit``: ridge / random-feature ridge at a fixed lambda, through ``toymodels.theory.ridge.gcv`` on each
  member's features -- consistent there (Atanasov, Zavatone-Veth, Pehlevan 2024). Undefined (NaN) at lambda = 0 with
  P <= N (0/0 at interpolation).
* ``gcv_over_time``: the same formula along gradient descent, with the GD filter's degrees of freedom
  df_t = sum_i s_i/(s_i + lambda) (1 - (1 - 2 lr (s_i + lambda))^t) over the eigenvalues s_i of Z^T Z / P.
  AN APPROXIMATION, NOT A CONSISTENT ESTIMATE: GCV is not consistent along early-stopped GD (Patil, Wu, Tibshirani
  2024). Report it only with its measured error (the gap callback does).
"""
from __future__ import annotations

import math

import torch

from ..theory import _linalg
from ..theory.ridge import gcv
from .data import RegressionData
from .limit import member_groups

F64 = torch.float64


def feature_spectra(data: RegressionData) -> torch.Tensor:
    """Eigenvalues of each member's Z^T Z / P_e [E, r_max] float64 (r = min(P_e, N_e) of them, then zeros)."""
    E = data.Z.shape[0]
    r_max = int(torch.minimum(data.n_train, data.widths).max())
    s = torch.zeros(E, r_max, dtype=F64, device=data.Z.device)
    for (P, N, _), idx in member_groups(data, torch.zeros(E)).items():
        Z = data.Z[idx, :P, :N].to(F64)
        K = Z @ Z.transpose(1, 2) if P <= N else Z.transpose(1, 2) @ Z  # the smaller Gram matrix
        vals = torch.clamp(_linalg.eigh(K / P)[0], min=0.0).flip(-1)  # [n, min(P, N)] descending
        s[idx, :vals.shape[1]] = vals
    return s


def gcv_limit(data: RegressionData, ridge: torch.Tensor) -> torch.Tensor:
    """GCV estimate [E] of the test loss (E_g + sigma^2) of each member's ridge solution at its lambda; NaN where
    undefined (lambda = 0 with P <= N)."""
    E = data.Z.shape[0]
    out = torch.full((E,), math.nan, dtype=F64, device=data.Z.device)
    for (P, N, lam), idx in member_groups(data, ridge).items():
        if lam == 0 and P <= N:
            continue
        est = gcv(data.Z[idx, :P, :N], data.y[idx, :P], torch.tensor(lam, dtype=F64, device=data.Z.device))
        out[idx] = est["test_loss_hat"].reshape(-1)
    return out


def _power(base: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """base^t for integer t >= 0 and any real base (negative bases alternate in sign)."""
    mag = base.abs() ** t
    return torch.where((base < 0) & (torch.remainder(t, 2) == 1), -mag, mag)


def gcv_over_time(train_loss: torch.Tensor, steps: torch.Tensor, s: torch.Tensor, lr: torch.Tensor,
                  ridge: torch.Tensor, P: torch.Tensor) -> torch.Tensor:
    """APPROXIMATE GCV along full-batch GD [E, T]: train_loss [E, T] at integer ``steps`` [T]; s [E, r] from
    ``feature_spectra``; lr, ridge, P [E]. Where df_t >= P (interpolation) the estimate is inf."""
    s, t = s[:, None, :], steps.to(F64)[None, :, None]  # [E, 1, r], [1, T, 1]
    lam, lr_ = ridge.to(F64)[:, None, None], lr.to(F64)[:, None, None]
    live = s > 1e-12 * s.amax(-1, keepdim=True).clamp(min=1e-300)
    share = torch.where(live, s / (s + lam), torch.zeros((), dtype=F64, device=s.device))
    df = (share * (1 - _power(1 - 2 * lr_ * (s + lam), t))).sum(-1)  # [E, T]
    one_minus = 1 - df / P.to(F64)[:, None]
    return torch.where(one_minus > 0, train_loss.to(F64) / one_minus.clamp(min=1e-300) ** 2,
                       torch.full_like(df, math.inf))
