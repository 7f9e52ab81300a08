"""Test-loss curves of full-batch gradient descent from zero on least squares (linear regression or linear /
Gaussian-equivalent random features), loss (1/P) sum (f - y)^2 (its gradient carries the factor 2).

* ``gd_curve_infinite``: N, P -> infinity (Bordelon, Atanasov, Pehlevan 2024, "A dynamical model of neural scaling
  laws", the N, P -> infinity limit): each mode relaxes on its own, L(t) = sum_k (w*_k)^2 lambda_k (1 - c' lr lambda_k)^(2t) with
  c' = 2 for this loss (continuous time: exp(-2 c' lr lambda_k t)); lambda_k = eta_k, (w*_k)^2 lambda_k =
  eta_k wbar_k^2. For random features with F iid N(0, 1/M) and N >> M pass the feature-space rate lr N/M.
* ``gd_curve``: finite N and P. GD from zero is a spectral filter of the empirical (feature) covariance S^:
  w_t - wbar = -r_t(S^) wbar + phi_t(S^) X^T eps/P with r_t(s) = (1 - 2 lr s)^t (GD) or exp(-2 lr s t) (flow) and
  phi_t = (1 - r_t)/s. Writing both through the resolvent (S^ - z)^-1, i.e. ridge at lambda = -z, gives the
  expected test loss as contour integrals over deterministic equivalents -- the resolvent form of Bordelon et al.'s
  DMFT transfer functions. The two-point equivalents needed (derived here from the one-point ones, and checked by
  the experiments below) reduce to divided differences of one-point functions through the identity
  lambda - lambda' = (kappa - kappa')(1 - gamma(kappa, kappa')) of the AZP 2024 fixed point (SCIENCE.md "Renormalised ridge"):
    w^T (S^+lam)^-1 Sigma (S^+lam')^-1 w ~ (k k'/(lam lam')) (T(k') - T(k))/(lam - lam'),
    (1/P) Tr[(S^+lam)^-1 S^ (S^+lam')^-1 Sigma] ~ ((k - lam) - (k' - lam'))/(lam - lam'),
  so that, with k = k1(z) and T = T_C of ``one_level``,
    bias(t)  = (1/2 pi i)^2 oint oint r(z) r(z') (k k'/(z z')) (T(k') - T(k))/(z' - z) dz dz',
    noise(t) = sigma_eff^2 [ -1 + (1/2 pi i) oint (r(z)^2 - 2 r(z)) (k(z) - k(0))/z^2 dz ]   (one contour: phi
               is entire, so oint oint phi(z) phi(z') (H(z) - H(z'))/(z - z') = -oint phi^2 H; the -1 is
               oint k/z^2 taken at infinity, k ~ -z; the k(0) term integrates to 0),
    E_g(t) = bias + noise + sigma_F^2,  sigma_eff^2 = sigma^2 + sigma_F^2.
  Quadrature: write r_t = exp(t w) with w = -2 lr z (flow) or w = log(1 - 2 lr z) (GD, needs 2 lr s_+ < 1 for the
  right spectral edge s_+: plain GD is stable up to 2 lr s_+ < 2, but for 2 lr s_+ >= 1 the branch point of
  log(1 - 2 lr z) at z = 1/(2 lr) lies inside the spectrum, so no contour encloses the spectrum while keeping w
  analytic. The polynomial (1 - 2 lr z)^t itself is entire, but on a closed contour around the spectrum
  |1 - 2 lr z| exceeds 1 (it is 1 + 2 lr |z| on the left), so the integral becomes a difference of terms growing
  like |1 - 2 lr z|^t; that quadrature is not implemented, and 1 <= 2 lr s_+ < 2 is refused with this reason); the contour is Weideman & Trefethen's parabola w(u) = mu (1 + i u)^2 (2007, "Parabolic and
  hyperbolic contours for computing the Bromwich integral"), on which the spectrum sits at Im u = 1, with the
  trapezoid rule in u (exponentially convergent); mu = mu_t/t, capped for GD so that the parabola does not enclose
  the 2 pi i translates of the spectrum. k1(z) is followed along the contour by Newton continuation from the real
  vertex. Precision: exact to ~1e-6 relative up to t = 1e9 steps and ~1e-4 at t = 1e10 (lr = 0.1/s_+, measured
  against the t -> infinity limit, ridgeless ridge, at P = 80, 300, (N, P) = (60, 150), (150, 60), M = 200;
  tests/theory/test_gd_curves.py::test_late_time_limit_is_the_ridgeless_solution runs the t = 1e9 case).
  Measured (tests/theory/test_gd_curves.py): changing the contour ((mu_t, h) = (2.5, default) or (6, 0.05) instead of
  (4, default)) moves E_g by at most 4.7e-10 (GD) and 2.2e-11 (flow) relatively; against 30-seed ensembles of
  linear random features (M = 256 and 512, N, P in {64, 256, 1024}, sigma = 0.2, t = 0..1e4 steps) the largest
  deviation anywhere on the curve was 6.6%, and 1.2% against 400 seeds at N = P = 64, M = 512.
* ``gd_curve_ridge_approx``: the ridge-GD correspondence lambda = 1/(2 lr t) -- an APPROXIMATION, not the
  finite-N, P theory: on a gradient-flow curve (M = 256, N = 256, P = 128) its error reached 51% where the
  contour theory was within 3.9% (tests/theory/test_gd_curves.py).
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
    if not bool(torch.isfinite(t).all()):
        raise ConfigError("theory.t", "must be a finite time (t -> infinity is the ridgeless solution: "
                                      "toylab theory ridge / rf with --lam 0)")
    if not flow and bool((t != t.round()).any()):
        raise ConfigError("theory.t", "discrete-time GD needs integer step counts (use flow=True for real times)")
    return t


def gd_curve_infinite(eta, wbar, t, lr, c: float = 2.0, flow: bool = False) -> torch.Tensor:
    """N, P -> infinity excess test loss E_g(t) (clean label; add sigma^2 for the noisy loss) [..., T]
    (BAP 2024, N, P -> infinity):
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


def _parabola(t: torch.Tensor, mu: torch.Tensor, lr: torch.Tensor, flow: bool, h: float, tail: float):
    """Trapezoid nodes u_j = j hu >= 0 on w(u) = mu (1 + i u)^2 and their images z(w) (the nodes u < 0 are the
    conjugates). t [T], mu [..., T], lr [...]. Returns w, dw/du, z, dz/du [..., T, n+1] and hu [..., T, 1]."""
    tpos = torch.clamp(t, min=1.0 if not flow else 1e-12)  # as in _mu (t = 0 is answered separately)
    u_max = torch.sqrt(1.0 + tail / (tpos * mu))  # [..., T]: exp(t Re w) = exp(-tail) there
    n = int(math.ceil(float(u_max.max()) / h))
    if n > 20000:
        raise ConfigError("theory.mu_t", f"the contour would need {n} nodes: raise mu_t or h")
    hu = (u_max / n)[..., None]  # [..., T, 1]
    u = hu * torch.arange(0, n + 1, dtype=F64)  # [..., T, n+1]
    w = mu[..., None] * (1 + 1j * u) ** 2
    dw = 2j * mu[..., None] * (1 + 1j * u)
    lr_ = lr[..., None, None]
    if flow:  # r = exp(-2 lr z t) = exp(t w)
        z, dz = -w / (2 * lr_), dw * (-1 / (2 * lr_))
    else:  # r = (1 - 2 lr z)^t = exp(t w)
        z, dz = (1 - torch.exp(w)) / (2 * lr_), dw * (-torch.exp(w) / (2 * lr_))
    return w, dw, z, dz, hu


def _mu(model: OneLevel, t: torch.Tensor, lr: torch.Tensor, flow: bool, mu_t: float) -> torch.Tensor:
    """Parabola size mu [..., T] = mu_t/t; for GD capped so that the parabola passes left of the spectrum's
    2 pi i translates in w = log(1 - 2 lr z) (and they stay >= 1 away from the nodes in u)."""
    mu = (mu_t / torch.clamp(t, min=1.0 if not flow else 1e-12)).expand(*lr.shape, -1).clone()  # [..., T]
    if flow:
        return mu
    s_plus = model.right_edge()  # [...]
    if bool((2 * lr * s_plus >= 1).any()):
        bad = (2 * lr * s_plus)[2 * lr * s_plus >= 1].flatten()[0].item()
        raise ConfigError("theory.lr", f"the discrete-time theory covers 2 lr s_+ < 1 (s_+: right edge of the "
                                       f"empirical spectrum), got {bad:.3g}; GD itself is stable up to 2, but "
                                       f"past 1 the contour quadrature has no valid contour (gd_curves docstring): "
                                       f"lower lr or use flow=True")
    w_min = torch.log1p(-2 * lr * s_plus)  # [...] < 0
    enclose = 0.5 * (w_min + torch.sqrt(w_min ** 2 + 4 * math.pi ** 2))  # parabola left of w_min at Im w = 2 pi
    return torch.minimum(mu, torch.clamp(0.8 * enclose, max=math.pi / 4)[..., None])


def gd_curve(eta, wbar, P, t, lr, sigma=0.0, N=None, mu1=1.0, mustar=0.0, flow: bool = False,
             mu_t: float = 4.0, h: float | None = None, tail: float = 40.0) -> dict[str, torch.Tensor]:
    """Expected test loss of full-batch GD from zero at finite P (and N), see the module docstring.

    eta, wbar [..., M]; P, N, lr, sigma, mu1, mustar broadcast to the grid [...]; t [T] (integer steps for GD,
    real for flow, time in units of steps). N None: linear regression on x; else random features F iid
    N(0, 1/M) with features mu1 F^T x + mustar xi. Returns {"E_g", "bias", "noise", "sigma_F2", "test_loss"},
    each [..., T]; E_g = (w_t - wbar)^T Sigma (w_t - wbar) averaged over data, noise and projection
    (= bias + noise + sigma_F2); test_loss adds sigma^2.
    Quadrature knobs (the answer does not depend on them, see the module docstring): mu_t = t mu, the parabola's
    size; h, the node spacing in u (default 2 pi/(8 mu_t + 40): the spectrum sits at Im u = 1, where r^2 grows
    like exp(8 mu_t), and the trapezoid error decays like exp(-2 pi/h)); tail: the nodes stop where
    exp(t Re w) = exp(-tail).
    """
    if h is None:
        h = 2 * math.pi / (8 * mu_t + 40)
    eta = spectrum(eta)
    wbar = target(wbar, eta)
    positive(P, "theory.P")
    if N is not None:
        positive(N, "theory.N")
    model = OneLevel.build(eta, wbar, P, N, mu1, mustar)
    grid = model.P.shape
    lr = positive(lr, "theory.lr").expand(grid)
    sigma = nonnegative(sigma, "theory.sigma").expand(grid)
    t = _times(t, flow)  # [T]
    w, dw, z, dz, hu = _parabola(t, _mu(model, t, lr, flow, mu_t), lr, flow, h, tail)  # [..., T, n+1]
    # follow the physical root p(z) from the real vertex u = 0 (z < 0, lambda = -z > 0)
    p0 = model.unsqueeze(1).p_of_lambda(-z[..., 0].real)  # [..., T]
    p = newton_path(model.unsqueeze(1).residual, z, p0)  # [..., T, n+1]
    q = model.unsqueeze(2).parts(p)
    # residual against the size of the terms of lambda(p) (~|p|, cancelling near the spectrum's edge)
    miss = ((q["lam"] + z).abs() / (z.abs() + 1e-4 * p.abs() + 1e-300)).max().item()
    if not miss < 1e-8:  # the continuation lost the root (never seen; a guard, not a tolerance)
        raise RuntimeError(f"gd_curve: contour continuation failed (relative residual {miss:.2e})")
    # the full symmetric contour: node -j is the conjugate of node j, with dz/du -> -conj(dz/du)
    full = lambda x: torch.cat([x[..., 1:].conj().flip(-1), x], dim=-1)  # [..., T, K], K = 2n+1
    zf, k1f, pf, wf = full(z), full(q["k1"]), full(p), full(w)
    dzf = torch.cat([-dz[..., 1:].conj().flip(-1), dz], dim=-1)
    r = torch.exp(t[:, None].to(C128) * wf)  # [..., T, K] the residual filter r_t(z)
    # noise per unit sigma_eff^2: -1 + (1/2 pi i) oint (r^2 - 2r)(k1 - k1(0))/z^2 dz. k1(0) drops out exactly
    # (oint (r^2 - 2r)/z^2 dz = (r^2 - 2r)'(0) = 0 since r(0) = 1) and subtracting it removes the large cancelling
    # part of the integrand at late times (k1(0) > 0 past the interpolation threshold).
    k1_0 = model.parts(model.p_of_lambda(torch.zeros_like(model.P)))["k1"][..., None, None]  # [..., 1, 1]
    integrand = (r * r - 2 * r) * (k1f - k1_0) / zf ** 2 * dzf
    noise_unit = -1.0 + (hu[..., 0] * integrand.sum(-1) / (2j * math.pi)).real  # [..., T]
    # bias: (1/2 pi i)^2 sum_jk v_j D_jk v_k with v = r k1/z dz and D the divided differences of T_C in z
    v = r * (k1f / zf) * dzf  # [..., T, K]
    D = model.unsqueeze(1).divided_TC(pf)  # [..., T, K, K]
    bias = -(hu[..., 0] ** 2 * torch.einsum("...j,...jk,...k->...", v, D, v) / (4 * math.pi ** 2)).real
    sF2 = model.sF2[..., None]  # [..., 1]
    noise = ((sigma ** 2)[..., None] + sF2) * noise_unit
    E_g = bias + noise + sF2
    # t = 0: w = 0, the whole target power is bias
    E0 = (model.eta * model.wbar ** 2).sum(-1)[..., None].expand_as(E_g)
    zero = (t == 0).expand_as(E_g)
    return {"E_g": torch.where(zero, E0, E_g), "bias": torch.where(zero, E0 - sF2, bias),
            "noise": torch.where(zero, torch.zeros_like(noise), noise), "sigma_F2": sF2.expand_as(E_g),
            "test_loss": torch.where(zero, E0, E_g) + (sigma ** 2)[..., None]}
