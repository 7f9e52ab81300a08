"""Two-level deterministic equivalent of random-feature ridge regression (Atanasov, Zavatone-Veth, Pehlevan 2024,
"Scaling and renormalization in high-dimensional regression", arXiv:2405.00592, linear random features; notation of
SCIENCE.md section 2), with the Gaussian-equivalent nonlinear extension (Mei & Montanari 2019; Goldt et al. 2022;
Hu & Lu 2023).

Setting: x ~ N(0, Sigma) in D = M dims, Sigma = diag(eta); features z = mu1 F^T x + mustar xi with F [D, N] iid
N(0, 1/D) and xi ~ N(0, I_N) independent per row (mu1 = 1, mustar = 0: linear random features; otherwise the
Gaussian-equivalent model of sigma(F^T x), see ``gaussian_equivalence``). Ridge: (1/P)|y - Z v|^2 + lambda |v|^2;
predictor w = mu1 F v.

Derivation used here (checked against SCIENCE.md's formulas, which it reproduces at mu1 = 1, mustar = 0): given F,
(z, y) are jointly Gaussian, so the problem is one-level ridge on features with covariance C = mu1^2 F^T Sigma F +
mustar^2 I, target v* = C^-1 Cov(z, y) and extra noise sigma_F^2 = |wbar|_Sigma^2 - v*^T C v* (what the features
cannot express). The one-level renormalised ridge k1 solves lambda = k1 (1 - df_C(k1)/P) with df_C = Tr C (C+k1)^-1;
the F-average is a second ridge equivalent with kappa~ = (mustar^2 + k1)/mu1^2 = k2 (N - Df1(k2))/D. With
A = k1/(mu1^2 kappa~) (A = 1 for linear features):
  df_C = N - A (N - Df1),  g1 = gamma_C = (1/P)[N - A(2 - A)(N - Df1) - A^2 l (Df1 - Df2)],  l = (N-Df1)/(N-Df2),
  E_inf = k2 T (1 - A l) + A l k2^2 T'   (the P = infinity error, = k1^2 T_C' + sigma_F^2),
  E_g = (E_inf + sigma^2 g1)/(1 - g1),  E_tr = (lambda/k1)^2 (E_g + sigma^2),
  T_C(k1) = v*^T C (C + k1)^-1 v* = (k2 T(k2) - sigma_F^2)/k1,
  sigma_F^2 = k2_0 T(k2_0) with kappa~(k2_0) = mustar^2/mu1^2.
Shapes: eta, wbar [..., M]; N, P, lam, sigma, mu1, mustar broadcast to the grid [...]; every output [...]. float64.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ._checks import as64, nonnegative, positive, spectrum, target
from .ridge import T_fn, Tp_fn, df1, df2, interpolation_kappa, train_error
from .solvers import bisect_log

F64 = torch.float64


def kappa_tilde(eta: torch.Tensor, N, k2: torch.Tensor) -> torch.Tensor:
    """kappa~(k2) = k2 (N - Df1(k2)) / D: the ridge seen by the projection level (real or complex k2) [...]."""
    return k2 * (N - df1(eta, k2)) / eta.shape[-1]


def k2_of_kappa_tilde(eta: torch.Tensor, N: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """The physical k2 (Df1(k2) < N) with kappa~(k2) = c >= 0, [...]. kappa~ increases with k2 there
    (d kappa~/d k2 = (N - Df2)/D > 0); bracket [max(kappa_0(N), c D/N), (c D + sum eta)/N]."""
    D = eta.shape[-1]
    k0 = interpolation_kappa(eta, N)
    pos = c > 0
    lo = torch.maximum(k0, c * D / N)
    hi = (c * D + eta.sum(-1)) / N
    lo_s, hi_s = torch.where(pos, lo, 1.0), torch.where(pos, torch.maximum(hi, lo), 1.0)
    root = bisect_log(lambda k: kappa_tilde(eta, N, k) - c, lo_s, hi_s)
    return torch.where(pos, root, k0)


def _A(k1: torch.Tensor, kt: torch.Tensor, mu1: torch.Tensor, mustar: torch.Tensor) -> torch.Tensor:
    """A = k1/(mu1^2 kappa~) = k1/(mustar^2 + k1); exactly 1 for linear features (also at k1 = 0)."""
    return torch.where(mustar == 0, torch.ones_like(k1), k1 / (mu1 ** 2 * kt))


def rf_lambda(eta, N, P, k2, mu1=1.0, mustar=0.0) -> torch.Tensor:
    """lambda(k2) = k1 (1 - df_C/P) with k1 = mu1^2 kappa~(k2) - mustar^2; linear features: lambda =
    k2 (1 - Df1/P)(N - Df1)/D (SCIENCE.md's k2 equation). Works for complex k2 (used by the GD contours)."""
    k1 = as64(mu1) ** 2 * kappa_tilde(eta, N, k2) - as64(mustar) ** 2
    return k1 * (1.0 - _dfC(eta, N, k2, mu1, mustar) / P)


def _dfC(eta, N, k2, mu1, mustar):
    """df_C = Tr C (C + k1)^-1 = N - A (N - Df1(k2)) [...]."""
    mu1, mustar = as64(mu1), as64(mustar)
    kt = kappa_tilde(eta, N, k2)
    k1 = mu1 ** 2 * kt - mustar ** 2
    return N - _A(k1, kt, mu1, mustar) * (N - df1(eta, k2))


def rf_k2(eta, N, P, lam, mu1=1.0, mustar=0.0) -> torch.Tensor:
    """The physical root k2 [...] of lambda(k2) = lambda (SCIENCE.md "Root choice").

    The k2 equation also holds where (1 - Df1/P) and (N - Df1) are both negative (a spurious root, found by a naive
    bracket at small lambda near N ~ P, with negative E_g). The physical branch has k1 > 0 and df_C < P (for linear
    features: Df1(k2) < min(N, P)); there lambda(k2) increases (k1 increases with k2, and d lambda/d k1 = 1 - g1 > 0),
    so the root is bracketed between the branch edge k2_lo and an explicit upper bound and found by bisection.
    lambda = 0 returns the edge itself (the ridgeless limit).
    """
    eta = spectrum(eta)
    N, P = positive(N, "theory.N"), positive(P, "theory.P")
    lam = nonnegative(lam, "theory.lambda")
    mu1, mustar = positive(mu1, "theory.mu1"), nonnegative(mustar, "theory.mustar")
    shape = torch.broadcast_shapes(eta.shape[:-1], N.shape, P.shape, lam.shape, mu1.shape, mustar.shape)
    N, P, lam, mu1, mustar = (t.expand(shape) for t in (N, P, lam, mu1, mustar))
    D, S1 = eta.shape[-1], eta.sum(-1)
    c0 = mustar ** 2 / mu1 ** 2
    k2_0 = k2_of_kappa_tilde(eta, N, c0)  # k1 = 0 here
    # edge where df_C = P (only when N > P): df_C decreases with k2 from N (at k2_0) to 0
    need = N > P
    lo_b = torch.where(need, torch.clamp(k2_0, min=1e-300), 1.0)
    hi_b = torch.where(need, torch.maximum(2 * S1 / P, (D * c0 * 2 * N / P + S1) / N), 1.0)
    hi_b = torch.maximum(hi_b, lo_b)
    k2_b = bisect_log(lambda k: P - _dfC(eta, N, k, mu1, mustar), lo_b, hi_b)
    k2_lo = torch.where(need, torch.maximum(k2_b, k2_0), k2_0)
    ok = lam > 0
    lo = torch.maximum(k2_lo, lam * D / (mu1 ** 2 * N))
    hi = torch.maximum(torch.maximum(4 * S1 / P, (D * c0 * 4 * N / P + S1) / N),
                       (D * (2 * lam + mustar ** 2) / mu1 ** 2 + S1) / N)
    lo_s = torch.where(ok, lo, 1.0)
    hi_s = torch.where(ok, torch.maximum(hi, lo), 1.0)
    lam_s = torch.where(ok, lam, 1.0)
    k2 = bisect_log(lambda k: rf_lambda(eta, N, P, k, mu1, mustar) - lam_s, lo_s, hi_s)
    return torch.where(ok, k2, k2_lo)


def sigma_F2(eta, wbar, N, mu1=1.0, mustar=0.0) -> torch.Tensor:
    """sigma_F^2 = k2_0 T(k2_0), kappa~(k2_0) = mustar^2/mu1^2: the error of the best predictor the features allow
    (P = infinity, lambda = 0): the model-limited loss kappa T(kappa) with Df1 = N for linear features [...]."""
    eta = spectrum(eta)
    wbar = target(wbar, eta)
    N = positive(N, "theory.N")
    c0 = as64(mustar) ** 2 / as64(mu1) ** 2
    shape = torch.broadcast_shapes(eta.shape[:-1], N.shape, c0.shape)
    k2_0 = k2_of_kappa_tilde(eta, N.expand(shape), c0.expand(shape))
    return k2_0 * T_fn(eta, wbar, k2_0)


@dataclass
class RFTheory:
    """Random-feature ridge predictions on a grid [...]. E_g = (w - wbar)^T Sigma (w - wbar) (clean label);
    E_g = bias2 + var_F + var_X + var_eps, where (averaging eps, then X given F, then F):
    bias2 = k2^2 T' (error of the mean predictor), var_F = E_inf - bias2 (variance over the projection at
    P = infinity), var_X = E_inf g1/(1 - g1), var_eps = sigma^2 g1/(1 - g1)."""

    k2: torch.Tensor
    k1: torch.Tensor
    Df1: torch.Tensor
    Df2: torch.Tensor
    l: torch.Tensor
    g1: torch.Tensor
    T: torch.Tensor
    Tp: torch.Tensor
    E_g: torch.Tensor
    E_tr: torch.Tensor
    bias2: torch.Tensor
    var_F: torch.Tensor
    var_X: torch.Tensor
    var_eps: torch.Tensor
    sigma_F2: torch.Tensor
    test_loss: torch.Tensor

    def as_dict(self) -> dict[str, torch.Tensor]:
        return dict(self.__dict__)


def _ratio(num, one_minus):
    return torch.where(num == 0, torch.zeros_like(num), num / one_minus)


def rf_theory(eta, wbar, N, P, lam, sigma=0.0, mu1=1.0, mustar=0.0) -> RFTheory:
    """Random-feature ridge deterministic equivalent (AZP 2024, linear random features; SCIENCE.md section 2, "Linear random
    features"): k2 from ``rf_k2``; k1 = lambda/(1 - df_C/P); Df1, Df2, l, g1, T, T' at k2;
    E_g = (k2^2 T' l + k2 T (1 - l) + sigma^2 g1)/(1 - g1) for linear features (general A in the module docstring);
    E_tr = (lambda/k1)^2 (E_g + sigma^2) = (1 - df_C/P)^2 (E_g + sigma^2). N -> infinity gives ridge at
    lambda D/N. Shapes: eta, wbar [..., M]; the rest broadcast to [...]."""
    eta = spectrum(eta)
    wbar = target(wbar, eta)
    sigma = nonnegative(sigma, "theory.sigma")
    k2 = rf_k2(eta, N, P, lam, mu1, mustar)  # [...]
    N, P, mu1, mustar = as64(N), as64(P), as64(mu1), as64(mustar)
    D = eta.shape[-1]
    D1, D2 = df1(eta, k2), df2(eta, k2)
    kt = k2 * (N - D1) / D
    k1 = mu1 ** 2 * kt - mustar ** 2
    A = _A(k1, kt, mu1, mustar)
    l = torch.where(N - D2 == 0, torch.ones_like(D1), (N - D1) / (N - D2))
    g1 = (N - A * (2 - A) * (N - D1) - A ** 2 * l * (D1 - D2)) / P
    T, Tp = T_fn(eta, wbar, k2), Tp_fn(eta, wbar, k2)
    E_inf = k2 * T * (1 - A * l) + A * l * k2 ** 2 * Tp
    # 0 only at the ridgeless peak (lambda = 0, g1 = 1, e.g. N = P <= M), where rounding leaves 1 - g1 ~ 1e-16 and
    # would print a finite 1e13 for what diverges: snapped to 0 there, so E_g = inf as ridge reports at P = M
    one_minus = torch.clamp(1.0 - g1, min=0.0)
    one_minus = torch.where((as64(lam) == 0) & (one_minus < 1e-9), torch.zeros_like(one_minus), one_minus)
    var_X = _ratio(E_inf * g1, one_minus)
    var_eps = _ratio(sigma ** 2 * g1, one_minus)
    E_g = E_inf + var_X + var_eps
    dfC = N - A * (N - D1)
    E_tr = train_error(1.0 - dfC / P, as64(lam), E_g + sigma ** 2)
    bias2 = k2 ** 2 * Tp
    sF2 = sigma_F2(eta, wbar, N.expand(k2.shape), mu1, mustar)
    return RFTheory(k2, k1, D1, D2, l, g1, T, Tp, E_g, E_tr, bias2, E_inf - bias2, var_X, var_eps, sF2,
                    E_g + sigma ** 2)
