"""Vectorised scalar root finding in float64: every grid point is solved at once, no Python loop over points.

``bisect_log`` brackets a root of an increasing function on (lo, hi) with 0 < lo <= hi and halves the bracket in
log space, so roots spanning 300 decades (kappa from 1e-12 to 1e2) come out to full relative precision in a fixed
number of sweeps. The self-consistent equations of the theory (kappa, k2) are monotone on their physical branch,
so bisection there is both robust and exact to rounding.
"""
from __future__ import annotations

from typing import Callable

import torch

F64 = torch.float64


def bisect_log(fn: Callable[[torch.Tensor], torch.Tensor], lo: torch.Tensor, hi: torch.Tensor,
               iters: int = 200) -> torch.Tensor:
    """x in [lo, hi] (broadcast shape [...]) with fn(x) = 0, for fn increasing on the bracket; lo > 0.

    200 halvings of a log-bracket of at most e^1400 leave a relative width below 1e-16 (1400 / 2^200 ~ 1e-57),
    so the answer is the float64 root. Where lo == hi the answer is lo.
    """
    lo, hi = torch.broadcast_tensors(lo.to(F64), hi.to(F64))
    a, b = lo.log(), hi.log()  # [...]
    for _ in range(iters):
        m = 0.5 * (a + b)
        up = fn(m.exp()) > 0  # root below m
        b = torch.where(up, m, b)
        a = torch.where(up, a, m)
        if bool(((b - a) <= 1e-15 * (a.abs() + 1.0)).all()):
            break
    return (0.5 * (a + b)).exp()


def bisect_lin(fn: Callable[[torch.Tensor], torch.Tensor], lo: torch.Tensor, hi: torch.Tensor,
               iters: int = 200) -> torch.Tensor:
    """Like ``bisect_log`` on a linear scale (for brackets that may contain 0 or negative numbers)."""
    a, b = torch.broadcast_tensors(lo.to(F64), hi.to(F64))
    for _ in range(iters):
        m = 0.5 * (a + b)
        up = fn(m) > 0
        b = torch.where(up, m, b)
        a = torch.where(up, a, m)
        if bool(((b - a) <= 1e-16 * (a.abs() + b.abs() + 1e-300)).all()):
            break
    return 0.5 * (a + b)


def newton_path(residual: Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]],
                targets: torch.Tensor, x0: torch.Tensor, substeps: int = 2, iters: int = 4) -> torch.Tensor:
    """Follow the root x(z) of residual(x, z) = 0 along a path of complex targets z [..., K] (last axis = the path).

    ``x0`` [...] is the root at targets[..., 0] (found by a real solver); the root is continued node by node with
    ``substeps`` linear sub-steps between nodes and ``iters`` Newton steps each. ``residual`` returns (value,
    d value / dx). Returns x [..., K] complex128. The loop runs over path nodes, vectorised over everything else.
    """
    targets = targets.to(torch.complex128)
    x = x0.to(torch.complex128)
    out = [x]
    for k in range(1, targets.shape[-1]):
        z_prev, z_next = targets[..., k - 1], targets[..., k]
        for j in range(1, substeps + 1):
            z = z_prev + (z_next - z_prev) * (j / substeps)
            for _ in range(iters):
                f, df = residual(x, z)
                x = x - f / df
        out.append(x)
    return torch.stack(out, dim=-1)
