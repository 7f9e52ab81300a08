"""Deterministic equivalent of ridge regression (Atanasov, Zavatone-Veth, Pehlevan 2024, "Scaling and
renormalization in high-dimensional regression", arXiv:2405.00592: deterministic equivalent, S-transform and
GCV; notation and formulas of SCIENCE.md section 2).

Setting: x ~ N(0, Sigma), Sigma = diag(eta) [M]; y = wbar . x + eps, eps ~ N(0, sigma^2); P rows; ridge minimises
(1/P)|y - X w|^2 + lambda |w|^2. Every function broadcasts over grids: the spectrum has shape [..., M] (last axis =
eigenvalues) and P, lambda, sigma have shapes broadcastable to the grid [...]; sums over eigenvalues run over the
last axis. All float64.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..errors import ConfigError
from . import _linalg
from ._checks import as64, nonnegative, positive, spectrum, target
from .solvers import bisect_log

F64 = torch.float64


def df1(eta: torch.Tensor, kappa: torch.Tensor) -> torch.Tensor:
    """Df1(kappa) = sum_k eta_k / (eta_k + kappa): eta [..., M], kappa [...] -> [...] (real or complex kappa)."""
    return (eta / (eta + kappa[..., None])).sum(-1)


def df2(eta: torch.Tensor, kappa: torch.Tensor) -> torch.Tensor:
    """Df2(kappa) = sum_k eta_k^2 / (eta_k + kappa)^2: [...]."""
    return ((eta / (eta + kappa[..., None])) ** 2).sum(-1)


def T_fn(eta: torch.Tensor, wbar: torch.Tensor, kappa: torch.Tensor) -> torch.Tensor:
    """T(kappa) = sum_k wbar_k^2 eta_k / (eta_k + kappa) = wbar^T Sigma (Sigma + kappa)^-1 wbar: [...]."""
    return (wbar ** 2 * eta / (eta + kappa[..., None])).sum(-1)


def Tp_fn(eta: torch.Tensor, wbar: torch.Tensor, kappa: torch.Tensor) -> torch.Tensor:
    """T'(kappa) = sum_k wbar_k^2 eta_k / (eta_k + kappa)^2 = -dT/dkappa (positive sign convention): [...]."""
    return (wbar ** 2 * eta / (eta + kappa[..., None]) ** 2).sum(-1)


def interpolation_kappa(eta: torch.Tensor, n: torch.Tensor) -> torch.Tensor:
    """kappa_0 with Df1(kappa_0) = n where n < M (the lambda -> 0 limit of the renormalised ridge), else 0.

    eta [..., M], n [...] (P for ridge; min(N, P) for random features). Bracket: Df1(k) <= sum(eta)/k gives
    kappa_0 <= sum(eta)/n; Df1(k) >= M eta_min/(eta_min + k) gives kappa_0 >= eta_min (M - n)/n.
    """
    M = eta.shape[-1]
    n = as64(n)
    shape = torch.broadcast_shapes(eta.shape[:-1], n.shape)
    n = n.expand(shape)
    under = n < M
    n_safe = torch.where(under, n, torch.full_like(n, M / 2.0))
    lo = eta.min(-1).values * (M - n_safe) / n_safe
    hi = eta.sum(-1) / n_safe
    k0 = bisect_log(lambda k: n_safe - df1(eta, k), lo, hi)
    return torch.where(under, k0, torch.zeros_like(k0))


def kappa_ridge(eta, P, lam) -> torch.Tensor:
    """Renormalised ridge kappa: the root of kappa (1 - Df1(kappa)/P) = lambda with Df1(kappa) < P (AZP 2024,
    SCIENCE.md "Renormalised ridge"). Shapes: eta [..., M], P and lam broadcast to the grid [...] -> kappa [...].

    The left side is increasing wherever Df1 < P (its derivative is 1 - gamma > 1 - Df1/P > 0), so the physical root
    is unique: it lies in [max(kappa_0, lambda), lambda + sum(eta)/P] with kappa_0 = ``interpolation_kappa``, and
    lambda = 0 gives kappa_0 (P < M) or 0 (P >= M).
    """
    eta = spectrum(eta)
    P = positive(P, "theory.P")
    lam = nonnegative(lam, "theory.lambda")
    shape = torch.broadcast_shapes(eta.shape[:-1], P.shape, lam.shape)
    P, lam = P.expand(shape), lam.expand(shape)
    k0 = interpolation_kappa(eta, P)
    lo = torch.maximum(k0, lam)
    hi = lam + eta.sum(-1) / P
    ok = lam > 0
    lo_s = torch.where(ok, lo, torch.ones_like(lo))
    hi_s = torch.where(ok, hi, torch.ones_like(hi))
    lam_s = torch.where(ok, lam, torch.ones_like(lam))
    kappa = bisect_log(lambda k: k * (1.0 - df1(eta, k) / P) - lam_s, lo_s, hi_s)
    return torch.where(ok, kappa, k0)


@dataclass
class RidgeTheory:
    """Ridge predictions on a grid [...]: E_g is the excess test error (w - wbar)^T Sigma (w - wbar) against a clean
    label; test_loss = E_g + sigma^2; E_g = bias2 + var_X + var_eps."""

    kappa: torch.Tensor
    gamma: torch.Tensor
    T: torch.Tensor
    Tp: torch.Tensor
    E_g: torch.Tensor
    E_tr: torch.Tensor
    bias2: torch.Tensor
    var_X: torch.Tensor
    var_eps: torch.Tensor
    test_loss: torch.Tensor

    def as_dict(self) -> dict[str, torch.Tensor]:
        return dict(self.__dict__)


def train_error(lam_over_kappa: torch.Tensor, lam: torch.Tensor, test_loss: torch.Tensor) -> torch.Tensor:
    """E_tr = (lambda/kappa)^2 (E_g + sigma^2), with lambda/kappa = 1 - df/P passed in; exactly 0 for the ridgeless
    interpolator (lambda = 0 and df = P), where the test loss may be infinite."""
    interp = (lam == 0) & (lam_over_kappa.abs() < 1e-9)
    return torch.where(interp, torch.zeros_like(test_loss), lam_over_kappa ** 2 * test_loss)


def _ratio(num: torch.Tensor, one_minus: torch.Tensor) -> torch.Tensor:
    """num / (1 - g) with 0 / 0 = 0 (a vanishing bias or noise term at the interpolation threshold stays 0)."""
    return torch.where(num == 0, torch.zeros_like(num), num / one_minus)


def ridge_theory(eta, wbar, P, lam, sigma=0.0) -> RidgeTheory:
    """Ridge deterministic equivalent (AZP 2024; SCIENCE.md section 2):

    gamma = (1/P) sum eta^2/(eta+kappa)^2;  T, T' as in ``T_fn``, ``Tp_fn``;
    E_g = (kappa^2 T' + sigma^2 gamma)/(1 - gamma), bias2 = kappa^2 T', var_X = kappa^2 T' gamma/(1 - gamma),
    var_eps = sigma^2 gamma/(1 - gamma);  E_tr = (lambda/kappa)^2 (E_g + sigma^2), written as
    (1 - Df1/P)^2 (E_g + sigma^2) (the same number, and finite at lambda = 0).
    eta, wbar [..., M]; P, lam, sigma broadcast to the grid [...]; every field [...].
    """
    eta = spectrum(eta)
    wbar = target(wbar, eta)
    sigma = nonnegative(sigma, "theory.sigma")
    kappa = kappa_ridge(eta, P, lam)  # [...]
    P = as64(P)
    gamma = df2(eta, kappa) / P
    T = T_fn(eta, wbar, kappa)
    Tp = Tp_fn(eta, wbar, kappa)
    bias2 = kappa ** 2 * Tp
    one_minus = torch.clamp(1.0 - gamma, min=0.0)  # 0 only at lambda = 0, P = M (rounding kept off the wrong side)
    var_X = _ratio(bias2 * gamma, one_minus)
    var_eps = _ratio(sigma ** 2 * gamma, one_minus)
    E_g = bias2 + var_X + var_eps
    E_tr = train_error(1.0 - df1(eta, kappa) / P, as64(lam), E_g + sigma ** 2)
    return RidgeTheory(kappa, gamma, T, Tp, E_g, E_tr, bias2, var_X, var_eps, E_g + sigma ** 2)


def gcv(X: torch.Tensor, y: torch.Tensor, lam) -> dict[str, torch.Tensor]:
    """Generalised cross-validation from data alone (AZP 2024, the S-transform as train-test gap; SCIENCE.md "GCV").

    X [E, P, D], y [E, P], lam [...] (lambda >= 0). With S = X^T X / P and G = X X^T / P:
    P > D: kappa_hat = lambda / (1 - Tr[S (S + lambda)^-1] / P); P <= D: kappa_hat = 1 / ((1/P) Tr[(G + lambda)^-1])
    (the two are one formula; each is computed from the smaller matrix, here from the SVD of X).
    E_tr = (1/P)|y - X w_lambda|^2 and the GCV estimate of the test loss E_g + sigma^2 = (kappa_hat/lambda)^2 E_tr
    = E_tr / (1 - df/P)^2. Returns {"kappa_hat", "E_tr", "test_loss_hat", "df"}, each [E, ...].
    For random-feature ridge pass the features Z = X F in place of X: kappa_hat then estimates k1.
    """
    X, y = as64(X), as64(y)
    if X.ndim != 3 or y.shape != X.shape[:2]:
        raise ConfigError("theory.X", f"needs X [E, P, D] and y [E, P] (got {tuple(X.shape)}, {tuple(y.shape)})")
    lam = nonnegative(lam, "theory.lambda")
    E, P, D = X.shape
    if P <= D and bool((lam == 0).any()):
        raise ConfigError("theory.lambda", f"GCV needs lambda > 0 when P <= D (P={P}, D={D}): 0/0 at interpolation")
    U, S, _ = _linalg.svd(X)  # U [E, P, r], S [E, r]
    s = S ** 2 / P  # [E, r] nonzero eigenvalues of S and G
    proj = torch.einsum("epr,ep->er", U, y)  # [E, r]
    lam_flat = lam.reshape(-1)  # [L]
    s_, p2 = s[:, None, :], (proj ** 2)[:, None, :]  # [E, 1, r]
    shrink = lam_flat[None, :, None] / (s_ + lam_flat[None, :, None])  # [E, L, r]
    E_tr = ((y ** 2).sum(-1)[:, None] - p2.sum(-1) + (shrink ** 2 * p2).sum(-1)) / P  # [E, L]
    df = (1.0 - shrink).sum(-1)  # [E, L]
    if P > D:
        one_minus = 1.0 - df / P
        kappa_hat = lam_flat[None, :] / one_minus
    else:
        kappa_hat = P / (1.0 / (s_ + lam_flat[None, :, None])).sum(-1)
        one_minus = lam_flat[None, :] / kappa_hat
    out = {"kappa_hat": kappa_hat, "E_tr": E_tr, "test_loss_hat": E_tr / one_minus ** 2, "df": df}
    return {k: v.reshape(E, *lam.shape) for k, v in out.items()}
