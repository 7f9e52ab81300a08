"""Generalised cross-validation (GCV) for the members of a regression ensemble: the test loss estimated from the
training data alone, E_test ~ E_tr / (1 - df/P)^2 with df = Tr of the smoother matrix (SCIENCE.md "GCV").

* ``gcv_limit``: ridge / random-feature ridge at a fixed lambda (``toymodels.theory.ridge.gcv``'s formula on each
  member's features) -- consistent there (Atanasov, Zavatone-Veth, Pehlevan 2024). Undefined (NaN) at lambda = 0 with
  P <= N (0/0 at interpolation).
* ``gcv_over_time``: the same formula along gradient descent, with the GD filter's degrees of freedom
  df_t = sum_i s_i/(s_i + lambda) (1 - (1 - 2 lr (s_i + lambda))^t) over the eigenvalues s_i of Z^T Z / P.
  AN APPROXIMATION, NOT A CONSISTENT ESTIMATE: GCV is not consistent along early-stopped GD (Patil, Wu, Tibshirani
  2024). Report it only with its measured error (the gap callback does).
"""
from __future__ import annotations

import math

import torch

F64 = torch.float64


def gcv_limit(train_loss: torch.Tensor, s: torch.Tensor, ridge: torch.Tensor, P: torch.Tensor,
              N: torch.Tensor) -> torch.Tensor:
    """GCV estimate [E] of the test loss (E_g + sigma^2) of each member's ridge solution at its lambda, from that
    solution's training loss [E] and the eigenvalues s [E, r] of Z^T Z / P: E_tr / (1 - df/P)^2 with
    df = sum_i s_i/(s_i + lambda) -- the formula of ``toymodels.theory.ridge.gcv`` (which recomputes the SVD) on the
    decomposition the limit already made. NaN where undefined (lambda = 0 with P <= N: 0/0 at interpolation)."""
    lam = ridge.to(F64)[:, None]
    live = s > 1e-12 * s.amax(-1, keepdim=True).clamp(min=1e-300)
    df = torch.where(live, s / (s + lam), torch.zeros((), dtype=F64, device=s.device)).sum(-1)
    est = train_loss.to(F64) / (1 - df / P.to(F64)) ** 2
    return torch.where((ridge == 0) & (P <= N), torch.full_like(est, math.nan), est)


def _power(base: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """base^t for integer t >= 0 and any real base (negative bases alternate in sign)."""
    mag = base.abs() ** t
    return torch.where((base < 0) & (torch.remainder(t, 2) == 1), -mag, mag)


def gcv_over_time(train_loss: torch.Tensor, steps: torch.Tensor, s: torch.Tensor, lr: torch.Tensor,
                  ridge: torch.Tensor, P: torch.Tensor) -> torch.Tensor:
    """APPROXIMATE GCV along full-batch GD [E, T]: train_loss [E, T] at integer ``steps`` [T]; s [E, r] the
    eigenvalues of Z^T Z / P (``RegressionEngine.limit()["spectra"]``); lr, ridge, P [E]. Where df_t >= P
    (interpolation) the estimate is inf."""
    s, t = s[:, None, :], steps.to(F64)[None, :, None]  # [E, 1, r], [1, T, 1]
    lam, lr_ = ridge.to(F64)[:, None, None], lr.to(F64)[:, None, None]
    live = s > 1e-12 * s.amax(-1, keepdim=True).clamp(min=1e-300)
    share = torch.where(live, s / (s + lam), torch.zeros((), dtype=F64, device=s.device))
    df = (share * (1 - _power(1 - 2 * lr_ * (s + lam), t))).sum(-1)  # [E, T]
    one_minus = 1 - df / P.to(F64)[:, None]
    return torch.where(one_minus > 0, train_loss.to(F64) / one_minus.clamp(min=1e-300) ** 2,
                       torch.full_like(df, math.inf))
