"""Batched float64 experiments to hold the theory against: closed-form ridge and exact full-batch GD, for E
members at once (torch linear algebra batched over the leading axis; no Python loop over members or steps).

Features: Z = X (linear regression) or Z = X F (random features); predictors are returned in input space,
w = F v [E, ..., M], so ``toymodels.tasks.powerlaw.population_loss`` gives their exact test loss.
"""
from __future__ import annotations

import torch

from ..errors import ConfigError
from ._checks import as64, nonnegative, positive

F64 = torch.float64


def _features(X: torch.Tensor, F: torch.Tensor | None) -> torch.Tensor:
    X = as64(X)
    if X.ndim != 3:
        raise ConfigError("theory.X", f"needs [E, P, M] (got {tuple(X.shape)})")
    return X if F is None else X @ as64(F)  # [E, P, N]


def _to_input_space(v: torch.Tensor, F: torch.Tensor | None) -> torch.Tensor:
    # v [E, ..., N] -> w [E, ..., M]
    return v if F is None else torch.einsum("emn,e...n->e...m", as64(F), v)


def _spectral(Z: torch.Tensor, y: torch.Tensor):
    """Eigen-decomposition of the smaller of Z^T Z/P [N, N] and Z Z^T/P [P, P]: returns (s [E, r], apply) where
    apply(f [E, L, r]) = f(Z^T Z/P) Z^T y/P [E, L, N] for a spectral filter f given on the eigenvalues s."""
    y = as64(y)
    P, N = Z.shape[1], Z.shape[2]
    if P <= N:  # push-through: f(Z^T Z/P) Z^T y/P = Z^T f(Z Z^T/P) y/P
        s, U = torch.linalg.eigh(Z @ Z.transpose(1, 2) / P)  # [E, P], [E, P, P]
        c = torch.einsum("epr,ep->er", U, y) / P  # [E, r]
        return s, lambda f: torch.einsum("epn,epr,elr,er->eln", Z, U, f, c)
    s, V = torch.linalg.eigh(Z.transpose(1, 2) @ Z / P)  # [E, N], [E, N, N]
    c = torch.einsum("enr,en->er", V, torch.einsum("epn,ep->en", Z, y) / P)  # [E, r]
    return s, lambda f: torch.einsum("enr,elr,er->eln", V, f, c)


def ridge_weights(X: torch.Tensor, y: torch.Tensor, lam, F: torch.Tensor | None = None) -> torch.Tensor:
    """argmin_v (1/P)|y - Z v|^2 + lambda |v|^2 for every member: X [E, P, M], y [E, P], lam [L] (>= 0), optional
    F [E, M, N]; returns w = F v (or v) [E, L, M]. lambda = 0 gives the min-norm interpolator / least squares
    (eigenvalues below 1e-12 of the largest count as zero)."""
    Z = _features(X, F)
    lam = nonnegative(lam, "theory.lambda").reshape(-1)  # [L]
    s, apply = _spectral(Z, y)  # [E, r]
    live = s > 1e-12 * s.max(-1, keepdim=True).values  # [E, r]
    filt = torch.where(live[:, None, :], 1.0 / (s[:, None, :] + lam[None, :, None]), 0.0)  # [E, L, r]
    return _to_input_space(apply(filt), F)


def gd_weights(X: torch.Tensor, y: torch.Tensor, t, lr, F: torch.Tensor | None = None,
               flow: bool = False) -> torch.Tensor:
    """Weights after t steps of full-batch GD from zero on (1/P)|y - Z v|^2 (v <- v - lr * grad), exactly, via the
    spectral filter phi_t(s) = (1 - (1 - 2 lr s)^t)/s of the empirical feature covariance (gradient flow:
    (1 - exp(-2 lr s t))/s). X [E, P, M], y [E, P], t [T]; returns w [E, T, M]."""
    Z = _features(X, F)
    t = nonnegative(t, "theory.t").reshape(-1)  # [T]
    lr = float(positive(lr, "theory.lr"))
    s, apply = _spectral(Z, y)  # [E, r]
    s = torch.clamp(s, min=0.0)
    x = 2 * lr * s  # [E, r]
    if flow:
        expo = -x[:, None, :] * t[None, :, None]  # [E, T, r]
    else:
        expo = t[None, :, None] * torch.log1p(-x)[:, None, :]
    small = s[:, None, :] <= 0
    phi = torch.where(small, 2 * lr * t[None, :, None], -torch.expm1(expo) / torch.where(small, 1.0, s[:, None, :]))
    return _to_input_space(apply(phi), F)


def gd_weights_loop(X: torch.Tensor, y: torch.Tensor, steps: int, lr: float,
                    F: torch.Tensor | None = None) -> torch.Tensor:
    """Literal GD (``steps`` batched updates) from zero, for cross-checking ``gd_weights``: w [E, M]."""
    Z = _features(X, F)
    y = as64(y)
    P = Z.shape[1]
    v = torch.zeros(Z.shape[0], Z.shape[2], dtype=F64)
    for _ in range(int(steps)):
        resid = torch.einsum("epn,en->ep", Z, v) - y  # [E, P]
        v = v - lr * 2.0 / P * torch.einsum("epn,ep->en", Z, resid)
    return _to_input_space(v, F)
