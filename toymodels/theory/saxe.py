"""Saxe, McClelland & Ganguli (2014), "Exact solutions to the nonlinear dynamics of learning in deep linear neural
networks" (arXiv:1312.6120): the mode dynamics of a depth-L linear network on whitened inputs from balanced,
teacher-aligned initial conditions (float64, vectorised over modes and members).

Symbols (the paper's): s = a singular value of the input-output correlation Sigma^31 (whitened inputs: of the
teacher map W*), u = the network's strength on that mode (u = U_k^T W V_k), u0 = its value at t = 0, tau = the
time constant, L = the number of weight matrices (the paper's N_l - 1). Each mode follows on its own

    tau du/dt = L u^(2 - 2/L) (s - u)                        (the paper's "deeper multilayer nets" section, with
                                                             N_l - 1 = L; L = 2: the reduced a, b dynamics of one mode)

and for L = 2 in closed form (the paper's sigmoidal two-layer solution)

    u(t) = s e^(2st/tau) / (e^(2st/tau) - 1 + s/u0),

with the time to go from u0 to u_f (its "timescale of learning") t = (tau / 2s) ln[u_f (s - u0) / (u0 (s - u_f))]
(cited by name, not by equation number). The half-way time
is (tau / 2s) ln(s/u0 - 1) ~ (tau / 2s) ln(s/u0), so strong modes are learned first and, at small u0, one after
the other (stage-like plateaus of the loss). For L > 2 the small-u0 time is tau / ((L - 2) s u0^(1 - 2/L)):
a power of 1/u0, not a logarithm.

tau in this lab's normalisation (``toymodels.regression.deep_linear``): the loss (1/d_out) E|W x - y|^2 has the
gradient (2/d_out) x Saxe's (who use (1/2) sum |y - W x|^2 averaged over examples, tau = 1/lr), so gradient
descent with learning rate lr is the flow above with t = the step count and

    tau = d_out / (2 lr)   steps                             (``time_constant``)

(in the continuous time t' = lr * step: tau' = d_out / 2). Discrete steps add a relative rate error of order
lr s / d_out; ``discrete_modes`` is the exact step-by-step map of the aligned balanced network (each layer's
singular value a_l = u^(1/L) moves as a <- a + (2 lr / d_out) a^(L-1) (s - a^L)).

Population test loss of a network whose end-to-end map is sum_k u_k U_k V_k^T (teacher W* = sum_k s_k U_k V_k^T):
(1/d_out) sum_k (s_k - u_k)^2 + sigma^2 (``loss_curve``).

Integrator: why hand-written. scipy is a test-only dependency here, and torch has no ODE solver; RK4 is a few
lines and runs vectorised over every mode and member at once. It integrates the coordinate x = ln(u / |s - u|)
(x = ln u when s = 0), in which dx/dt = L s u^(1-2/L) / tau (s = 0: -L u^(2-2/L) / tau): bounded, non-stiff,
exactly linear in t for L = 2 (the closed form), so steps may grow where the modes have converged. The step is
h = dx_max / max |d(dx/dt)/dx| (dx_max = 0.02 by default), cut at every requested time.
"""
from __future__ import annotations

import math

import numpy as np
import torch

F64 = torch.float64


def time_constant(lr, out_dim: int) -> torch.Tensor:
    """tau = d_out / (2 lr) in steps, for the loss (1/d_out) E|W x - y|^2 (module docstring). lr: scalar or [E]."""
    return float(out_dim) / (2.0 * torch.as_tensor(lr, dtype=F64))


def mode_rate(u: torch.Tensor, s: torch.Tensor, depth: int, tau) -> torch.Tensor:
    """du/dt = L u^(2-2/L) (s - u) / tau, elementwise."""
    L = int(depth)
    return L * u.clamp(min=0) ** (2 - 2 / L) * (s - u) / tau


def closed_form_two_layer(s, u0, t, tau) -> torch.Tensor:
    """Saxe et al.'s two-layer solution (L = 2): u(t) = s e^(2st/tau) / (e^(2st/tau) - 1 + s/u0), s > 0. Shapes
    broadcast; t [..., T] against s, u0, tau [..., 1] for whole curves. Written as s / (1 + (s/u0 - 1) e^(-2st/tau))
    (no overflow)."""
    s, u0, t, tau = (torch.as_tensor(v, dtype=F64) for v in (s, u0, t, tau))
    return s / (1 + (s / u0 - 1) * torch.exp(-2 * s * t / tau))


# ---- the integrator -----------------------------------------------------------------------------------------------
def _to_x(u, s):
    zero = s == 0
    return torch.where(zero, torch.log(u), torch.log(u) - torch.log((s - u).abs().where(~zero, torch.ones_like(u))))


def _from_x(x, s, grow):
    # s = 0: u = e^x; growing (u < s): u = s sigmoid(x); decaying to s > 0 (u > s): u = s / (1 - e^-x)
    return torch.where(s == 0, torch.exp(x),
                       torch.where(grow, s * torch.sigmoid(x), s / -torch.expm1(-x.clamp(min=1e-300))))


def _dxdt(x, s, grow, L, tau):
    u = _from_x(x, s, grow)
    return torch.where(s == 0, -L * u ** (2 - 2 / L), L * s * u ** (1 - 2 / L)) / tau


def _stiffness(x, s, grow, L, tau):
    """|d(dx/dt)/dx|: (1 - 2/L) |f| |s - u| / s (s > 0), (2 - 2/L) |f| (s = 0)."""
    u, f = _from_x(x, s, grow), _dxdt(x, s, grow, L, tau).abs()
    return torch.where(s == 0, (2 - 2 / L) * f, (1 - 2 / L) * f * (s - u).abs() / s.where(s > 0, torch.ones_like(s)))


def mode_ode(s, u0, t, depth: int, tau, dx_max: float = 0.02) -> torch.Tensor:
    """u(t) of every mode by RK4 in x = ln(u / |s - u|) (module docstring), float64.

    s, u0: [...] (s >= 0, u0 >= 0; modes with u0 = 0 or u0 = s stay put); tau: scalar or broadcastable to s;
    t: [T] times in steps (>= 0, any order). Returns u [..., T]."""
    L = int(depth)
    if L < 2:
        raise ValueError(f"depth must be >= 2, got {depth}")
    s, u0 = torch.broadcast_tensors(torch.as_tensor(s, dtype=F64), torch.as_tensor(u0, dtype=F64))
    if bool((s < 0).any()) or bool((u0 < 0).any()):
        raise ValueError("the mode dynamics need s >= 0 and u0 >= 0")
    tau = torch.as_tensor(tau, dtype=F64).expand_as(s)
    t = torch.as_tensor(t, dtype=F64).reshape(-1)
    if bool((t < 0).any()):
        raise ValueError("times must be >= 0")
    fixed = (u0 == 0) | (u0 == s)
    grow = u0 < s
    safe_u0 = torch.where(fixed, torch.where(s > 0, s / 2, torch.ones_like(s)), u0)  # integrated, then discarded
    x = _to_x(safe_u0, s)
    f = lambda y: _dxdt(y, s, grow, L, tau)  # noqa: E731
    order = torch.argsort(t)
    out = torch.empty(*s.shape, t.numel(), dtype=F64)
    now = 0.0
    for j in order.tolist():
        while now < t[j].item():
            stiff = _stiffness(x, s, grow, L, tau).max().item()
            h = min(t[j].item() - now, dx_max / stiff if stiff > 0 else math.inf)
            k1 = f(x)
            k2 = f(x + 0.5 * h * k1)
            k3 = f(x + 0.5 * h * k2)
            k4 = f(x + h * k3)
            x = x + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
            now += h
        out[..., j] = torch.where(fixed, u0, _from_x(x, s, grow))
    return out


def discrete_modes(s, u0, steps, depth: int, lr, out_dim: int) -> torch.Tensor:
    """Exact gradient descent of the aligned balanced network, mode by mode: a <- a + (2 lr/d_out) a^(L-1) (s - a^L)
    with u = a^L (all L layers keep the same singular value a). s, u0: [...]; lr: scalar or broadcastable; steps:
    [T] sorted non-negative integers. Returns u [..., T]."""
    L = int(depth)
    s, u0 = torch.broadcast_tensors(torch.as_tensor(s, dtype=F64), torch.as_tensor(u0, dtype=F64))
    c = 2 * torch.as_tensor(lr, dtype=F64) / out_dim
    steps = [int(k) for k in torch.as_tensor(steps).reshape(-1).tolist()]
    if steps != sorted(steps) or (steps and steps[0] < 0):
        raise ValueError("steps must be sorted and >= 0")
    a, out, now = u0 ** (1.0 / L), torch.empty(*s.shape, len(steps), dtype=F64), 0
    for j, k in enumerate(steps):
        for _ in range(k - now):
            a = a + c * a ** (L - 1) * (s - a ** L)
        now = k
        out[..., j] = a ** L
    return out


# ---- stage times and the loss curve ---------------------------------------------------------------------------------
def stage_time(s, u0, depth: int, tau, fraction: float = 0.5, n_nodes: int = 200) -> torch.Tensor:
    """Time for a mode to go from u0 to u_f = fraction * s (0 < u0 < u_f < s), float64, broadcast over s, u0, tau.

    L = 2: Saxe et al.'s timescale of learning, t = (tau/2s) ln[u_f (s - u0) / (u0 (s - u_f))].
    L > 2: t = tau int_{u0}^{u_f} du / (L u^(2-2/L) (s - u)), by Gauss-Legendre quadrature in ln u (``n_nodes``
    nodes; the integrand is smooth there)."""
    L = int(depth)
    s, u0, tau = (torch.as_tensor(v, dtype=F64) for v in (s, u0, tau))
    uf = fraction * s
    if bool((u0 <= 0).any()) or bool((u0 >= uf).any()):
        raise ValueError("stage_time needs 0 < u0 < fraction * s")
    if L == 2:
        return tau / (2 * s) * torch.log(uf * (s - u0) / (u0 * (s - uf)))
    z, w = (torch.as_tensor(v, dtype=F64) for v in np.polynomial.legendre.leggauss(int(n_nodes)))
    a, b = torch.log(u0)[..., None], torch.log(uf)[..., None]  # integrate over v = ln u in [a, b]
    v = (b - a) / 2 * z + (b + a) / 2  # [..., n]
    u = torch.exp(v)
    integrand = u / (L * u ** (2 - 2 / L) * (s[..., None] - u))  # du = u dv
    return tau * ((b - a)[..., 0] / 2) * (integrand * w).sum(-1)


def stage_time_estimate(s, u0, depth: int, tau) -> torch.Tensor:
    """Small-u0 learning time of a mode: L = 2, (tau / 2s) ln(s / u0) (the timescale's leading term at u_f = s/2);
    L > 2, tau / ((L - 2) s u0^(1 - 2/L)) (the blow-up time of tau du/dt = L s u^(2-2/L))."""
    L = int(depth)
    s, u0, tau = (torch.as_tensor(v, dtype=F64) for v in (s, u0, tau))
    if L == 2:
        return tau / (2 * s) * torch.log(s / u0)
    return tau / ((L - 2) * s * u0 ** (1 - 2 / L))


def loss_curve(s, u, out_dim: int, sigma: float = 0.0) -> torch.Tensor:
    """Population test loss (1/d_out) sum_k (s_k - u_k)^2 + sigma^2 of the mode strengths u [..., r, T] against the
    teacher's s [..., r]: [..., T]."""
    s = torch.as_tensor(s, dtype=F64)
    return ((s[..., None] - u) ** 2).sum(-2) / out_dim + float(sigma) ** 2


__all__ = ["closed_form_two_layer", "discrete_modes", "loss_curve", "mode_ode", "mode_rate", "stage_time",
           "stage_time_estimate", "time_constant"]
