"""Power-law exponents of the random-feature model trained by gradient descent, and the compute-optimal frontier
(Bordelon, Atanasov, Pehlevan 2024, "A dynamical model of neural scaling laws"; SCIENCE.md section 2).

Exponents: spectrum lambda_k ~ k^-b, target power (w*_k)^2 lambda_k ~ k^-a (b = alpha, a = 1 + 2 alpha r).
  time-limited  (N, P -> inf):  L ~ t^-(a-1)/b
  data-limited  (N, t -> inf):  L ~ P^-min(a-1, 2b)
  model-limited (P, t -> inf):  L ~ N^-min(a-1, b)  -- the projection error kappa T(kappa) with
                                sum_k lambda_k/(lambda_k + kappa) = N for a Gaussian projection. (Not min(a-1, 2b):
                                SCIENCE.md measured slope -1.55 at b = 1.5, a = 4; tests/theory/test_scaling.py fits
                                it again.)
Compute-optimal: with L ~ t^-x + N^-y (+ P^-z) minimised at fixed cost, every term is balanced, so
  L* ~ C^-1/(1/x + 1/y [+ 1/z]),  t* ~ C^(1/x)/(...),  N* ~ C^(1/y)/(...)  [, P* ~ C^(1/z)/(...)].
  cost "sgd": C = N B t (online SGD, batch B fixed, fresh data: no P term) -- for a-1 <= b this is
  L* ~ C^-(a-1)/(1+b), t* ~ C^b/(1+b), N* ~ C^1/(1+b); for a-1 > b, L* ~ C^-b(a-1)/(a-1+b^2).
  cost "full_batch": C = N P t (every step touches all P rows; P chosen too: the data term enters).
"""
from __future__ import annotations

import math

import torch

from ..errors import ConfigError
from ._checks import as64, positive
from .gd_curves import gd_curve
from .random_features import sigma_F2


def _ab(a, b) -> tuple[float, float]:
    a, b = float(a), float(b)
    if not a > 1:
        raise ConfigError("theory.a", f"must be > 1 (got {a}): sum_k k^-a diverges")
    if not b > 0:
        raise ConfigError("theory.b", f"must be > 0 (got {b})")
    return a, b


def exponents(a, b, cost: str = "sgd") -> dict[str, float]:
    """Predicted exponents (positive numbers e in L ~ x^-e; t*, N*, P* as C^e) for target exponent a and spectrum
    exponent b (BAP 2024; the model-limited one corrected as in SCIENCE.md)."""
    a, b = _ab(a, b)
    x, y, z = (a - 1) / b, min(a - 1, b), min(a - 1, 2 * b)
    out = {"time": x, "data": z, "model": y, "regime": "a-1<=b" if a - 1 <= b else "a-1>b"}
    if cost == "sgd":
        s = 1 / x + 1 / y
        out.update(compute=1 / s, t_star=(1 / x) / s, N_star=(1 / y) / s)
    elif cost == "full_batch":
        s = 1 / x + 1 / y + 1 / z
        out.update(compute=1 / s, t_star=(1 / x) / s, N_star=(1 / y) / s, P_star=(1 / z) / s)
    else:
        raise ConfigError("theory.cost", f"must be 'sgd' or 'full_batch' (got {cost!r})")
    return out


def model_limited_loss(eta, wbar, N) -> torch.Tensor:
    """kappa T(kappa) with Df1(kappa) = N: the P, t -> infinity loss of linear random features [...]."""
    return sigma_F2(eta, wbar, N)


def fit_power_law(x, y, fit_floor: bool = False) -> dict[str, float]:
    """Least-squares fit of y = c x^-e (+ floor) in log space over all the points given (the caller picks the
    window). With ``fit_floor`` the floor is chosen by a golden-section search in [0, min y) minimising the log-space
    residual of the remaining power law. Returns {"exponent", "prefactor", "floor", "rms"}."""
    x, y = as64(x).reshape(-1), as64(y).reshape(-1)
    positive(x, "theory.x")
    positive(y, "theory.y")
    if x.numel() < 3:
        raise ConfigError("theory.x", f"needs at least 3 points (got {x.numel()})")
    lx = x.log()

    def line(floor: float):
        ly = (y - floor).log()
        A = torch.stack([torch.ones_like(lx), lx], -1)
        coef = torch.linalg.lstsq(A, ly[:, None]).solution[:, 0]
        rms = ((A @ coef - ly) ** 2).mean().sqrt().item()
        return coef, rms

    floor = 0.0
    if fit_floor:
        lo, hi = 0.0, float(y.min()) * (1 - 1e-9)
        g = (math.sqrt(5) - 1) / 2
        c, d = hi - g * (hi - lo), lo + g * (hi - lo)
        for _ in range(80):
            if line(c)[1] < line(d)[1]:
                hi, d = d, c
                c = hi - g * (hi - lo)
            else:
                lo, c = c, d
                d = lo + g * (hi - lo)
        floor = 0.5 * (lo + hi)
    coef, rms = line(floor)
    return {"exponent": -coef[1].item(), "prefactor": math.exp(coef[0].item()), "floor": floor, "rms": rms}


def loss_table(eta, wbar, N, t, lr0: float, P=1e12, sigma=0.0, flow: bool = True) -> torch.Tensor:
    """E_g(N, t) [nN, nT] of linear random features trained from zero, from ``gd_curve`` (P = 1e12 stands for
    infinite data, i.e. online SGD's fresh samples; pass a finite P for full batch). Bordelon et al.'s normalisation
    keeps the per-mode rate fixed as N grows: with F iid N(0, 1/M) this means lr = lr0 M/N (F F^T ~ (N/M) I)."""
    eta = as64(eta)
    N = positive(N, "theory.N").reshape(-1)
    lr = float(lr0) * eta.shape[-1] / N  # [nN]
    return gd_curve(eta, wbar, P, t, lr, sigma, N=N, flow=flow)["E_g"]


def compute_frontier(L: torch.Tensor, N, t, C, B: float = 1.0, P=None) -> dict[str, torch.Tensor]:
    """Compute-optimal frontier from a loss table L [nN, nT] on a grid of widths N [nN] and steps t [nT] (e.g.
    ``gd_curve`` evaluated on that grid). Cost of a run: N B t (SGD-like, batch B) or N P t (full batch: pass P).
    For each budget C [nC] and each N, L(N, t = C/(N cost_per_step)) is interpolated linearly in (log t, log L);
    budgets outside the t grid are skipped for that N. Returns {"L", "N", "t"} each [nC] (L*, N*, t*)."""
    L, N, t, C = as64(L), as64(N).reshape(-1), as64(t).reshape(-1), as64(C).reshape(-1)
    positive(L, "theory.L")
    positive(t, "theory.t")
    per_step = N * (float(B) if P is None else float(P))  # [nN]
    tq = C[:, None] / per_step[None, :]  # [nC, nN]
    lt, lL = t.log(), L.log()
    idx = torch.searchsorted(lt.contiguous(), tq.log().contiguous().reshape(-1)).reshape(tq.shape)
    inside = (idx > 0) & (idx < len(t))
    i1 = idx.clamp(1, len(t) - 1)
    i0 = i1 - 1
    frac = (tq.log() - lt[i0]) / (lt[i1] - lt[i0])  # [nC, nN]
    rows = torch.arange(len(N))[None, :].expand_as(i0)
    val = lL[rows, i0] + frac * (lL[rows, i1] - lL[rows, i0])
    val = torch.where(inside, val, torch.full_like(val, math.inf))
    best = val.argmin(-1)  # [nC]
    Ls = val.gather(-1, best[:, None])[:, 0].exp()
    return {"L": Ls, "N": N[best], "t": tq.gather(-1, best[:, None])[:, 0]}
