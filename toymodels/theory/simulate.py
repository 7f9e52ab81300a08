"""Batched float64 experiments to hold the theory against: closed-form ridge and exact full-batch GD, for E
members at once (torch linear algebra batched over the leading axis; no Python loop over members or steps).

Features: Z = X (linear regression) or Z = X F (random features); predictors are returned in input space,
w = F v [E, ..., M], so ``toymodels.tasks.powerlaw.population_loss`` gives their exact test loss.
"""
from __future__ import annotations

import torch

from ..errors import ConfigError
from . import _linalg
from ._checks import as64, nonnegative, positive

F64 = torch.float64


def _check(X, y) -> tuple[torch.Tensor, torch.Tensor]:
    X, y = as64(X), as64(y)
    if X.ndim != 3 or y.shape != X.shape[:2]:
        raise ConfigError("theory.X", f"needs X [E, P, M] and y [E, P] (got {tuple(X.shape)}, {tuple(y.shape)})")
    return X, y


def _system(X: torch.Tensor, y: torch.Tensor, F: torch.Tensor | None):
    """Least squares on features Z = X F (or X) through the smallest of three r x r problems (r = P, N or M):
    returns (K [E, r, r] PSD, rhs [E, r], back) such that for any spectral filter f,
    F f(Z^T Z/P) Z^T y/P = back(f(K) rhs), back: [E, L, r] -> [E, L, M]:
      P: K = Z Z^T/P, rhs = y/P, back(v) = F Z^T v (push-through);  N: K = Z^T Z/P, rhs = Z^T y/P, back(v) = F v;
      M: K = B S^ B, rhs = B X^T y/P, back(v) = B v, with B = (F F^T)^(1/2), S^ = X^T X/P
         (F (F^T S^ F)^k F^T = B (B S^ B)^k B for every k)."""
    P, M = X.shape[1], X.shape[2]
    N = M if F is None else F.shape[2]
    if F is not None and M < min(P, N):
        a, Q = _linalg.eigh(F @ F.transpose(1, 2))  # [E, M], [E, M, M]
        B = torch.einsum("emk,ek,enk->emn", Q, torch.clamp(a, min=0).sqrt(), Q)  # [E, M, M]
        K = B @ (X.transpose(1, 2) @ X / P) @ B
        return K, torch.einsum("emn,epn,ep->em", B, X, y) / P, lambda v: torch.einsum("emk,elk->elm", B, v)
    Z = X if F is None else X @ F  # [E, P, N]
    to_w = (lambda v: v) if F is None else (lambda v: torch.einsum("emn,eln->elm", F, v))
    if P <= N:
        return Z @ Z.transpose(1, 2) / P, y / P, lambda v: to_w(torch.einsum("epn,elp->eln", Z, v))
    return Z.transpose(1, 2) @ Z / P, torch.einsum("epn,ep->en", Z, y) / P, to_w


def _spectral(X: torch.Tensor, y: torch.Tensor, F: torch.Tensor | None):
    """(s [E, r], apply) with apply(f [E, L, r]) = F f(Z^T Z/P) Z^T y/P [E, L, M] (eigen-decomposition of K)."""
    K, rhs, back = _system(X, y, F)
    s, U = _linalg.eigh(K)  # [E, r], [E, r, r]
    c = torch.einsum("ekr,ek->er", U, rhs)  # [E, r]
    return s, lambda f: back(torch.einsum("ekr,elr,er->elk", U, f, c))


def ridge_weights(X: torch.Tensor, y: torch.Tensor, lam, F: torch.Tensor | None = None) -> torch.Tensor:
    """argmin_v (1/P)|y - Z v|^2 + lambda |v|^2 for every member: X [E, P, M], y [E, P], lam [L] (>= 0), optional
    F [E, M, N]; returns w = F v (or v) [E, L, M]. lambda = 0 gives the min-norm interpolator / least squares
    (eigenvalues below 1e-12 of the largest count as zero). A few lambdas > 0 use Cholesky solves (8-10x faster
    than the eigen-decomposition: [40, 300, 300] float64, 1 thread, 0.06 s vs 0.65 s, measured with
    torch.linalg.cholesky + cholesky_solve against torch.linalg.eigh)."""
    X, y = _check(X, y)
    lam = nonnegative(lam, "theory.lambda").reshape(-1)  # [L]
    F = None if F is None else as64(F)
    if bool((lam > 0).all()) and len(lam) <= 4:
        K, rhs, back = _system(X, y, F)
        eye = torch.eye(K.shape[-1], dtype=F64)
        v = [torch.cholesky_solve(rhs[..., None], torch.linalg.cholesky(K + l * eye))[..., 0] for l in lam.tolist()]
        return back(torch.stack(v, 1))  # [E, L, M]
    s, apply = _spectral(X, y, F)  # [E, r]
    live = (s > 1e-12 * s.max(-1, keepdim=True).values)[:, None, :]  # [E, 1, r]
    inv = 1.0 / (torch.clamp(s, min=0)[:, None, :] + lam[None, :, None])  # [E, L, r]
    return apply(torch.where(live, inv, torch.zeros_like(inv)))


def gd_weights(X: torch.Tensor, y: torch.Tensor, t, lr, F: torch.Tensor | None = None,
               flow: bool = False) -> torch.Tensor:
    """Weights after t steps of full-batch GD from zero on (1/P)|y - Z v|^2 (v <- v - lr * grad), exactly, via the
    spectral filter phi_t(s) = (1 - (1 - 2 lr s)^t)/s of the empirical feature covariance (gradient flow:
    (1 - exp(-2 lr s t))/s). X [E, P, M], y [E, P], t [T]; returns w [E, T, M]."""
    X, y = _check(X, y)
    t = nonnegative(t, "theory.t").reshape(-1)[None, :, None]  # [1, T, 1]
    lr = float(positive(lr, "theory.lr"))
    s, apply = _spectral(X, y, None if F is None else as64(F))
    s = torch.clamp(s, min=0.0)[:, None, :]  # [E, 1, r]
    expo = -2 * lr * s * t if flow else t * torch.log1p(-2 * lr * s)  # [E, T, r]
    small = s <= 0
    phi = torch.where(small, 2 * lr * t, -torch.expm1(expo) / torch.where(small, torch.ones_like(s), s))
    return apply(phi)  # [E, T, M]


def gd_weights_loop(X: torch.Tensor, y: torch.Tensor, steps: int, lr: float,
                    F: torch.Tensor | None = None) -> torch.Tensor:
    """Literal GD (``steps`` batched updates) from zero, for cross-checking ``gd_weights``: w [E, M]."""
    X, y = _check(X, y)
    Z = X if F is None else X @ as64(F)
    P = Z.shape[1]
    v = torch.zeros(Z.shape[0], Z.shape[2], dtype=F64)
    for _ in range(int(steps)):
        resid = torch.einsum("epn,en->ep", Z, v) - y  # [E, P]
        v = v - lr * 2.0 / P * torch.einsum("epn,ep->en", Z, resid)
    return v if F is None else torch.einsum("emn,en->em", as64(F), v)
