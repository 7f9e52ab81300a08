"""Test-loss curves of full-batch gradient descent from zero on least squares (linear regression or linear /
Gaussian-equivalent random features), loss (1/P) sum (f - y)^2 (its gradient carries the factor 2).

* ``gd_curve_infinite``: N, P -> infinity (Bordelon, Atanasov, Pehlevan 2024, "A dynamical model of neural scaling
  laws", Sec. 3): each mode relaxes on its own, L(t) = sum_k (w*_k)^2 lambda_k (1 - c' lr lambda_k)^(2t) with
  c' = 2 for this loss (continuous time: exp(-2 c' lr lambda_k t)); lambda_k = eta_k, (w*_k)^2 lambda_k =
  eta_k wbar_k^2. For random features with F iid N(0, 1/M) and N >> M pass the feature-space rate lr N/M.
* ``gd_curve``: finite N and P. GD from zero is a spectral filter of the empirical (feature) covariance S^:
  w_t - wbar = -r_t(S^) wbar + phi_t(S^) X^T eps/P with r_t(s) = (1 - 2 lr s)^t (GD) or exp(-2 lr s t) (flow) and
  phi_t = (1 - r_t)/s. Writing both through the resolvent (S^ - z)^-1, i.e. ridge at lambda = -z, gives the
  expected test loss as contour integrals over deterministic equivalents -- the resolvent form of Bordelon et al.'s
  DMFT transfer functions. The two-point equivalents needed reduce to divided differences of one-point functions
  (AZP 2024 Sec. 3 identity lambda - lambda' = (kappa - kappa')(1 - gamma(kappa, kappa'))):
    w^T (S^+lam)^-1 Sigma (S^+lam')^-1 w ~ (k k'/(lam lam')) (T(k') - T(k))/(lam - lam'),
    (1/P) Tr[(S^+lam)^-1 S^ (S^+lam')^-1 Sigma] ~ ((k - lam) - (k' - lam'))/(lam - lam'),
  so that, with k = k1(z) and T = T_C of ``one_level``,
    bias(t)  = (1/2 pi i)^2 oint oint r(z) r(z') (k k'/(z z')) (T(k') - T(k))/(z' - z) dz dz',
    noise(t) = sigma_eff^2 [ -1 + (1/2 pi i) oint (r(z)^2 - 2 r(z)) k(z)/z^2 dz ]   (one contour: phi is entire),
    E_g(t) = bias + noise + sigma_F^2,  sigma_eff^2 = sigma^2 + sigma_F^2.
  Quadrature: write r_t = exp(t w) with w = -2 lr z (flow) or w = log(1 - 2 lr z) (GD, needs 2 lr s_+ < 1 for the
  right spectral edge s_+); the contour is Weideman & Trefethen's parabola w(u) = mu (1 + i u)^2 (2007, "Parabolic and
  hyperbolic contours for computing the Bromwich integral"), on which the spectrum sits at Im u = 1, with the
  trapezoid rule in u (exponentially convergent); mu = mu_t/t, capped for GD so that the parabola does not enclose
  the 2 pi i translates of the spectrum. k1(z) is followed along the contour by Newton continuation from the real
  vertex.
* ``gd_curve_ridge_approx``: the ridge-GD correspondence lambda = 1/(2 lr t) -- an APPROXIMATION (its measured
  error is reported by tests/theory/test_gd_curves.py), not the finite-N, P theory.
"""
from __future__ import annotations

import math

import torch

from ..errors import ConfigError
from ._checks import as64, nonnegative, positive, spectrum, target
from .one_level import OneLevel
from .random_features import rf_theory
from .ridge import ridge_theory
from .solvers import newton_path

F64, C128 = torch.float64, torch.complex128


def _times(t, flow: bool) -> torch.Tensor:
    t = nonnegative(t, "theory.t").reshape(-1)  # [T]
    if not flow and bool((t != t.round()).any()):
        raise ConfigError("theory.t", "discrete-time GD needs integer step counts (use flow=True for real times)")
    return t


def gd_curve_infinite(eta, wbar, t, lr, c: float = 2.0, flow: bool = False) -> torch.Tensor:
    """N, P -> infinity excess test loss E_g(t) (clean label; add sigma^2 for the noisy loss) [..., T]
    (BAP 2024 Sec. 3):
    sum_k eta_k wbar_k^2 (1 - c lr eta_k)^(2t), or sum_k eta_k wbar_k^2 exp(-2 c lr eta_k t) for gradient flow.
    eta, wbar [..., M]; lr broadcast to [...]; t [T]. c = 2 for the loss (1/P) sum (f - y)^2 (1 with a 1/2)."""
    eta = spectrum(eta)
    wbar = target(wbar, eta)
    lr = positive(lr, "theory.lr")[..., None, None]  # [..., 1, 1]
    t = _times(t, flow)[:, None]  # [T, 1]
    power = eta * wbar ** 2  # [..., M]
    if flow:
        decay = torch.exp(-2.0 * c * lr * eta[..., None, :] * t)
    else:
        decay = (1.0 - c * lr * eta[..., None, :]) ** (2.0 * t)
    return (power[..., None, :] * decay).sum(-1)  # [..., T]


def gd_curve_ridge_approx(eta, wbar, P, t, lr, sigma=0.0, N=None, mu1=1.0, mustar=0.0) -> torch.Tensor:
    """APPROXIMATION: E_g(t) ~ E_g of ridge (or random-feature ridge) at lambda = 1/(2 lr t), the ridge-GD
    correspondence (t = 0 gives the initial loss). [..., T]. Not exact at finite N, P; see ``gd_curve``."""
    t = _times(t, flow=True)
    lam = 1.0 / (2.0 * as64(lr)[..., None] * torch.clamp(t, min=1e-300))  # [..., T]
    eta, wbar = spectrum(eta), as64(wbar)
    add = lambda v: as64(v)[..., None]
    if N is None:
        out = ridge_theory(eta[..., None, :], wbar[..., None, :], add(P), lam, add(sigma)).E_g
    else:
        out = rf_theory(eta[..., None, :], wbar[..., None, :], add(N), add(P), lam, add(sigma), add(mu1),
                        add(mustar)).E_g
    return torch.where(t == 0, (eta * wbar ** 2).sum(-1)[..., None], out)


def gd_curve(eta, wbar, P, t, lr, sigma=0.0, N=None, mu1=1.0, mustar=0.0, flow: bool = False,
             mu_t: float = 4.0, h: float | None = None, tail: float = 40.0) -> dict[str, torch.Tensor]:
    """Expected test loss of full-batch GD from zero at finite P (and N), see the module docstring.

    eta, wbar [..., M]; P, N, lr, sigma, mu1, mustar broadcast to the grid [...]; t [T] (integer steps for GD,
    real for flow, time in units of steps). N None: linear regression on x; else random features F iid
    N(0, 1/M) with features mu1 F^T x + mustar xi. Returns {"E_g", "bias", "noise", "sigma_F2", "test_loss"},
    each [..., T]; E_g = (w_t - wbar)^T Sigma (w_t - wbar) averaged over data, noise and projection; test_loss adds
    sigma^2. Quadrature knobs: mu_t = t mu (the parabola's size); h, the node spacing in u: the spectrum sits at
    Im u = 1 and r^2 = exp(2 t w) grows like exp(8 mu_t) there, so the trapezoid error is ~ exp(8 mu_t - 2 pi/h)
    and the default h = 2 pi/(8 mu_t + 40) makes it ~ exp(-40); tail: the integrand is cut where
    exp(t Re w) < exp(-tail).
    """
    if h is None:
        h = 2 * math.pi / (8 * mu_t + 40)
    eta = spectrum(eta)
    wbar = target(wbar, eta)
    positive(P, "theory.P")
    if N is not None:
        positive(N, "theory.N")
    lr = positive(lr, "theory.lr")
    sigma = nonnegative(sigma, "theory.sigma")
    t = _times(t, flow)  # [T]
    model = OneLevel.build(eta, wbar, P, N, mu1, mustar)
    grid = model.P.shape
    lr = lr.expand(grid)
    sigma = sigma.expand(grid)
    tpos = torch.clamp(t, min=1.0 if not flow else 1e-12)  # [T]
    mu = (mu_t / tpos).expand(*grid, -1).clone()  # [..., T]
    if not flow:
        s_plus = model.right_edge()  # [...]
        if bool((2 * lr * s_plus >= 1).any()):
            bad = (2 * lr * s_plus)[2 * lr * s_plus >= 1].flatten()[0].item()
            raise ConfigError("theory.lr", f"discrete-time theory needs 2 lr s_+ < 1 (right spectral edge s_+); "
                                           f"got 2 lr s_+ = {bad:.3g}: lower lr or use flow=True")
        w_min = torch.log1p(-2 * lr * s_plus)  # [...] < 0
        enclose = 0.5 * (w_min + torch.sqrt(w_min ** 2 + 4 * math.pi ** 2))  # parabola left of w_min at Im w = 2 pi
        cap = torch.clamp(0.8 * enclose, max=math.pi / 4)[..., None]  # translates stay >= 1 away in u
        mu = torch.minimum(mu, cap)
    u_max = torch.sqrt(1.0 + tail / (tpos * mu))  # [..., T]
    n = int(math.ceil(float(u_max.max()) / h))
    j = torch.arange(0, n + 1, dtype=F64)  # [n+1]
    hu = (u_max / n)[..., None]  # [..., T, 1] node spacing
    u = hu * j  # [..., T, n+1]
    w = mu[..., None] * (1 + 1j * u) ** 2  # [..., T, n+1] complex
    dw = 2j * mu[..., None] * (1 + 1j * u)
    lr_ = lr[..., None, None]
    if flow:
        z = -w / (2 * lr_)
        dz = dw * (-1 / (2 * lr_))
    else:
        z = (1 - torch.exp(w)) / (2 * lr_)
        dz = dw * (-torch.exp(w) / (2 * lr_))
    # follow the physical root p(z) from the real vertex u = 0 (z < 0, lambda = -z > 0)
    p0 = model.unsqueeze(1).p_of_lambda(-z[..., 0].real)  # [..., T]
    p = newton_path(model.unsqueeze(1).residual, z, p0)  # [..., T, n+1]
    q = model.unsqueeze(2).parts(p)
    miss = ((q["lam"] + z).abs() / (z.abs() + 1e-300)).max().item()
    if not miss < 1e-8:  # the continuation lost the root (never seen; a guard, not a tolerance)
        raise RuntimeError(f"gd_curve: contour continuation failed (relative residual {miss:.2e})")
    k1, TC = q["k1"], q["TC"]
    dTCdz = -q["dTC"] / q["dlam"]
    # full symmetric contour: node -j is the conjugate of node j, with dz/du -> -conj(dz/du)
    full = lambda x: torch.cat([x[..., 1:].conj().flip(-1), x], dim=-1)  # [..., T, K], K = 2n+1
    zf, k1f, TCf, dTf = full(z), full(k1), full(TC), full(dTCdz)
    dzf = torch.cat([-dz[..., 1:].conj().flip(-1), dz], dim=-1)
    wf = full(w)
    tt = t[:, None].to(C128)  # [T, 1]
    r = torch.exp(tt * wf)  # [..., T, K]
    # noise: -1 + (1/2 pi i) oint (r^2 - 2r) k1 / z^2 dz   (trapezoid in u with spacing hu)
    integrand = (r * r - 2 * r) * k1f / zf ** 2 * dzf
    noise_unit = -1.0 + (hu[..., 0] * integrand.sum(-1) / (2j * math.pi)).real  # [..., T]
    # bias: (1/2 pi i)^2 sum_jk v_j D_jk v_k, D = divided differences of T_C in z
    v = r * (k1f / zf) * dzf  # [..., T, K]
    dT = TCf[..., None, :] - TCf[..., :, None]  # [..., T, K, K]  T_k - T_j
    dZ = zf[..., None, :] - zf[..., :, None]
    eye = torch.eye(zf.shape[-1], dtype=torch.bool)
    Dmat = torch.where(eye, dTf[..., :, None].expand_as(dT), dT / torch.where(eye, torch.ones_like(dZ), dZ))
    bias = -(hu[..., 0] ** 2 * torch.einsum("...j,...jk,...k->...", v, Dmat, v) / (4 * math.pi ** 2)).real
    sF2 = model.sF2[..., None]
    noise = (sigma ** 2)[..., None] * noise_unit + sF2 * noise_unit
    E_g = bias + noise + sF2
    E0 = (model.eta * model.wbar ** 2).sum(-1)[..., None].expand_as(E_g)  # t = 0: w = 0
    zero = (t == 0).expand_as(E_g)
    E_g = torch.where(zero, E0, E_g)
    bias = torch.where(zero, E0 - sF2, bias)
    noise = torch.where(zero, torch.zeros_like(noise), noise)
    return {"E_g": E_g, "bias": bias, "noise": noise, "sigma_F2": sF2.expand_as(E_g),
            "test_loss": E_g + (sigma ** 2)[..., None]}
