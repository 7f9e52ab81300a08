"""Marchenko-Pastur (MP) fit of the ESD bulk: WeightWatcher 0.7.7's ``mp_fit``, batched over members.

For K eigenvalues of an N x M matrix (Q = N / M >= 1):

1. Rescale to mean 1: W_scale = sqrt(K / sum(lambda)), x = W_scale^2 lambda.
2. Density estimate: a linear-kernel (triangular) KDE of x with bandwidth 0.1 on 1000 points of
   [0, max x + 0.5]; only points where the density exceeds 0.01 are compared.
3. Objective of the MP scale sigma: sum over those points of (rho_MP(x; sigma, Q) - density)^2, with
   rho_MP = sqrt((b - x)(x - a)) / (2 pi sigma^2 x / Q), a, b = (sigma (1 -+ 1/sqrt(Q)))^2, and a penalty of
   1000^2 per point when the bulk edge b lies below the density peak or beyond the last compared point, or a
   lies above the peak. For Q = 1 the fit is of the singular values sqrt(x) to WeightWatcher's quarter-circle
   density sqrt(4 - s^2) / (pi sigma^2), without the penalty.
4. Minimise: a grid of sigma from 0.05 s0 to 2 s0 in steps of 0.01 s0 (s0 = sqrt(max x) / (1 + 1/sqrt(Q)), the
   sigma that puts the bulk edge at the largest eigenvalue; the grid is numpy.arange's, 195 or 196 points), then
   Nelder-Mead from the best grid point (scipy ``brute``'s default ``finish=fmin``; xatol = fatol = 1e-4, at most
   200 iterations and 200 evaluations) -- reimplemented here for 1-D and run for all members at once.
5. bulk_max = (sigma (1 + 1/sqrt(Q)))^2, bulk_min = (sigma (1 - 1/sqrt(Q)))^2 (reported on the original scale),
   num_spikes = #{x > bulk_max + sqrt(Q^-1/2 bulk_max^(2/3) M^(-2/3))} (a Tracy-Widom-sized margin),
   mp_softrank = bulk_max / max x.

The KDE comes from prefix sums over the sorted eigenvalues (exact, O(K + 1000 log K) per member), once per
member, where WeightWatcher rebuilds a scikit-learn KernelDensity for every sigma it tries; the grid and every
Nelder-Mead step are scored for all members at once, over the compared points only and only for the sigmas that
escape the constant penalty. On the same eigenvalues the result equals WeightWatcher's to ~1e-15 (see
tests/spectra), except for the flat-topped densities described in ``_Objective``.
"""
from __future__ import annotations

import math

import torch

BANDWIDTH = 0.1
GRID_POINTS = 1000
DENSITY_THRESH = 0.01
PENALTY = 1000.0
NM_XATOL = 1e-4
NM_FATOL = 1e-4
NM_MAXITER = 200
NM_MAXFUN = 200


def kde_linear(data: torch.Tensor, x: torch.Tensor, bandwidth: float = BANDWIDTH) -> torch.Tensor:
    """Linear-kernel density: sum_j max(0, 1 - |x - d_j| / h) / (K h). data: [E, K] ascending; x: [E, G]."""
    E, K = data.shape
    csum = torch.nn.functional.pad(data.cumsum(dim=1), (1, 0))  # [E, K+1], csum[:, i] = sum of the first i
    x = x.contiguous()
    lo = torch.searchsorted(data, x - bandwidth, right=True)  # first index with d > x - h
    mid = torch.searchsorted(data, x, right=True)  # first index with d > x
    hi = torch.searchsorted(data, x + bandwidth, right=False)  # first index with d >= x + h
    n_left = (mid - lo).to(data.dtype)
    n_right = (hi - mid).to(data.dtype)
    s_left = csum.gather(1, mid) - csum.gather(1, lo)
    s_right = csum.gather(1, hi) - csum.gather(1, mid)
    # left window: sum (1 - (x - d)/h); right window: sum (1 - (d - x)/h)
    total = n_left - (n_left * x - s_left) / bandwidth + n_right - (s_right - n_right * x) / bandwidth
    return total.clamp_min(0.0) / (K * bandwidth)


def _arange_grid(start: torch.Tensor, stop: torch.Tensor, step: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """numpy.arange(start, stop, step) per member, bit for bit: [E, P] values (padded with NaN) and [E] lengths."""
    length = torch.ceil((stop - start) / step).to(torch.int64)  # [E]
    P = int(length.max()) if length.numel() else 0
    delta = (start + step) - start  # numpy fills start + i * delta with delta = buffer[1] - buffer[0]
    i = torch.arange(P, device=start.device, dtype=start.dtype)
    grid = start[:, None] + i[None, :] * delta[:, None]
    if P > 1:
        grid[:, 1] = start + step
    grid = torch.where(i[None, :] < length[:, None].to(start.dtype), grid, torch.full_like(grid, math.nan))
    return grid, length


class _Objective:
    """WeightWatcher's ``resid_mp`` sum of squares for every member, at [E, P] candidate sigmas.

    Only the grid points where the density exceeds the threshold are kept (compacted to [E, G'] with a mask), and
    only the (member, sigma) pairs that escape the constant penalty are evaluated.
    """

    def __init__(self, to_fit: torch.Tensor, Q: float, max_elements: int):
        E, K = to_fit.shape
        dev, dt = to_fit.device, to_fit.dtype
        self.Q, self.max_elements = Q, max_elements
        top = to_fit[:, -1] + 0.5
        step = top / (GRID_POINTS - 1)
        x = torch.arange(GRID_POINTS, device=dev, dtype=dt)[None, :] * step[:, None]  # numpy.linspace(0, top)
        x[:, -1] = top
        y = kde_linear(to_fit, x)  # [E, G]
        good = y > DENSITY_THRESH
        self.n_good = good.sum(dim=1)  # [E]
        # The first grid point at the density's maximum. Two eigenvalues closer than the bandwidth give the
        # linear-kernel KDE an exactly flat top, whose points differ only by rounding: take the first point within
        # 1e-12 (relative) of the maximum, the exact-arithmetic answer (WeightWatcher takes whichever point its
        # rounding favours, so tiny ESDs with such plateaus can get a different MP fit there).
        peak_val = torch.where(good, y, torch.full_like(y, -math.inf)).amax(dim=1, keepdim=True)
        peak = (good & (y >= peak_val * (1 - 1e-12))).to(torch.int8).argmax(dim=1, keepdim=True)
        self.x_peak = x.gather(1, peak)[:, 0]
        self.x_last = torch.where(good, x, torch.full_like(x, -math.inf)).amax(dim=1)
        # compact the compared points: [E, G'] in grid order. Padding points sit where both densities vanish
        # (x = -1 for MP, x = 3 for the quarter circle, density 0), so they add nothing to the sum.
        order = torch.sort((~good).to(torch.int8), dim=1, stable=True).indices
        G = max(int(self.n_good.max()) if E else 0, 1)
        order = order[:, :G]
        mask = torch.arange(G, device=dev)[None, :] < self.n_good[:, None]
        pad = 3.0 if Q == 1 else -1.0
        self.x = torch.where(mask, x.gather(1, order), torch.full((), pad, dtype=dt, device=dev))
        self.y = torch.where(mask, y.gather(1, order), torch.zeros((), dtype=dt, device=dev))
        # 1/x, with 0 at x = 0: there (b - x)(x - a) < 0 for Q != 1, so rho_MP = 0 as WeightWatcher's nan_to_num gives
        self.inv_x = torch.where(self.x == 0, torch.zeros((), dtype=dt, device=dev), 1.0 / self.x)

    def __call__(self, sigma: torch.Tensor) -> torch.Tensor:
        """sigma: [E, P] -> [E, P] objective values."""
        Q = self.Q
        if Q == 1:
            vals = torch.zeros_like(sigma)
            todo = torch.ones_like(sigma, dtype=torch.bool)
        else:
            b = torch.pow(sigma * (1.0 + math.sqrt(1.0 / Q)), 2)
            a = torch.pow(sigma * (1.0 - math.sqrt(1.0 / Q)), 2)
            bad = (b < self.x_peak[:, None]) | (b > self.x_last[:, None]) | (a > self.x_peak[:, None])
            vals = (PENALTY * PENALTY) * self.n_good[:, None].to(sigma.dtype).expand_as(sigma).clone()
            todo = ~bad
        e_idx, p_idx = todo.nonzero(as_tuple=True)
        chunk = max(1, self.max_elements // self.x.shape[1])
        for c0 in range(0, e_idx.numel(), chunk):
            ei, pi = e_idx[c0:c0 + chunk], p_idx[c0:c0 + chunk]
            vals[ei, pi] = self._eval(sigma[ei, pi], ei)
        return vals

    def _eval(self, sigma: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        """sigma: [V] at members ``rows`` [V] -> [V] sums of squared residuals over the compared points.

        rho_MP = Q / (2 pi sigma^2) * sqrt((b - x)(x - a)) / x, zero outside [a, b] (WeightWatcher's nan_to_num of
        the square root of a negative number); quarter circle: sqrt(4 - x^2) / (pi sigma^2), zero beyond 2.
        """
        Q = self.Q
        s = sigma[:, None]  # [V, 1]
        x = self.x[rows]  # [V, G']
        if Q == 1:
            t = (4.0 - x * x).clamp_(min=0).sqrt_().mul_(1.0 / (math.pi * s * s))
        else:
            b = torch.pow(s * (1.0 + math.sqrt(1.0 / Q)), 2)
            a = torch.pow(s * (1.0 - math.sqrt(1.0 / Q)), 2)
            t = (b - x).mul_(x - a).clamp_(min=0).sqrt_().mul_(self.inv_x[rows]).mul_(Q / (2.0 * math.pi * s * s))
        t.sub_(self.y[rows])
        return t.mul_(t).sum(dim=1)


def _nelder_mead_1d(f, x0: torch.Tensor, active: torch.Tensor) -> torch.Tensor:
    """scipy.optimize.fmin (Nelder-Mead, default settings) in one dimension, for every member at once. x0: [E]."""
    x1 = torch.where(x0 != 0, 1.05 * x0, torch.full_like(x0, 0.00025))
    fv = f(torch.stack([x0, x1], dim=1))
    f0, f1 = fv[:, 0], fv[:, 1]
    swap = f1 < f0
    x0, x1, f0, f1 = torch.where(swap, x1, x0), torch.where(swap, x0, x1), torch.where(swap, f1, f0), \
        torch.where(swap, f0, f1)
    fcalls = torch.full_like(x0, 2, dtype=torch.int64)
    iters = torch.ones_like(fcalls)
    live = active.clone()
    while True:
        conv = ((x1 - x0).abs() <= NM_XATOL) & ((f0 - f1).abs() <= NM_FATOL)
        live = live & (fcalls < NM_MAXFUN) & (iters < NM_MAXITER) & ~conv
        if not bool(live.any()):
            break
        xr = 2.0 * x0 - x1  # reflection (rho = 1)
        xe = 3.0 * x0 - 2.0 * x1  # expansion (chi = 2)
        xc = 1.5 * x0 - 0.5 * x1  # outside contraction (psi = 0.5)
        xcc = 0.5 * x0 + 0.5 * x1  # inside contraction
        xs = x0 + 0.5 * (x1 - x0)  # shrink (sigma = 0.5)
        fv = f(torch.stack([xr, xe, xc, xcc, xs], dim=1))
        fxr, fxe, fxc, fxcc, fxs = fv.unbind(dim=1)
        calls1 = fcalls + 1  # after the reflection
        second_ok = calls1 < NM_MAXFUN  # a second evaluation is allowed
        expand = fxr < f0
        # expansion branch
        xa = torch.where(fxe < fxr, xe, xr)
        fa = torch.where(fxe < fxr, fxe, fxr)
        # contraction branch (in 1-D, fsim[-2] is the best point, so "fxr < fsim[-2]" never holds here)
        outside = fxr < f1
        xk = torch.where(outside, xc, xcc)
        fk = torch.where(outside, fxc, fxcc)
        accept = torch.where(outside, fxc <= fxr, fxcc < f1)
        shrink_ok = (calls1 + 1) < NM_MAXFUN
        new_x1 = torch.where(expand, xa, torch.where(accept, xk, xs))
        new_f1 = torch.where(expand, fa, torch.where(accept, fk, torch.where(shrink_ok, fxs, f1)))
        calls = torch.where(second_ok, calls1 + 1, calls1)
        calls = torch.where(second_ok & ~expand & ~accept & shrink_ok, calls + 1, calls)
        # an evaluation past maxfun aborts the iteration; a shrink has already moved the point by then
        moved = live & second_ok
        x1 = torch.where(moved, new_x1, x1)
        f1 = torch.where(moved, new_f1, f1)
        finished = second_ok & (expand | accept | shrink_ok)
        iters = torch.where(live & finished, iters + 1, iters)
        fcalls = torch.where(live, calls, fcalls)
        swap = live & (f1 < f0)
        x0, x1, f0, f1 = torch.where(swap, x1, x0), torch.where(swap, x0, x1), torch.where(swap, f1, f0), \
            torch.where(swap, f0, f1)
    return x0


def fit_mp(evals: torch.Tensor, N: int, M: int, max_elements: int = 1 << 23) -> dict[str, torch.Tensor]:
    """MP fit of each member's ESD. evals: [E, K] (K = S * M pooled eigenvalues, any scale); N >= M the matrix shape.

    Returns [E] tensors: num_spikes (int64), sigma_mp, mp_softrank, bulk_min, bulk_max, W_scale (float64).
    Members whose fit cannot run (non-finite or all-zero eigenvalues) get NaN and num_spikes = -1.
    """
    if evals.dim() != 2:
        raise ValueError(f"evals must be [E, K], got {tuple(evals.shape)}")
    ev = evals.to(torch.float64).sort(dim=1).values
    E, K = ev.shape
    Q = N / M
    total = ev.sum(dim=1)
    ok = torch.isfinite(ev).all(dim=1) & (total > 0)
    ev = torch.where(ok[:, None], ev, torch.ones_like(ev))
    w_scale = math.sqrt(K) / ev.sum(dim=1).sqrt()  # [E]
    x = (w_scale * w_scale)[:, None] * ev  # mean 1
    lam_max = x[:, -1]
    s0 = (lam_max / (1.0 + 1.0 / math.sqrt(Q)) ** 2).sqrt()
    to_fit = x.sqrt() if Q == 1 else x
    obj = _Objective(to_fit, Q, max_elements)
    ok = ok & (obj.n_good > 0)

    grid, length = _arange_grid(0.05 * s0, 2.0 * s0, 0.01 * s0)  # [E, P]
    vals = obj(torch.nan_to_num(grid, nan=1.0))
    P = grid.shape[1]
    vals = torch.where(torch.arange(P, device=ev.device)[None, :] < length[:, None], vals,
                       torch.full_like(vals, math.inf))
    start = grid.gather(1, vals.argmin(dim=1, keepdim=True))[:, 0]
    sigma = _nelder_mead_1d(obj, start, ok)

    edge_hi = (sigma * (1.0 + 1.0 / math.sqrt(Q))) ** 2
    edge_lo = (sigma * (1.0 - 1.0 / math.sqrt(Q))) ** 2
    tw = 1.0 / math.sqrt(Q) * edge_hi.pow(2.0 / 3.0) * M ** (-2.0 / 3.0)
    num_spikes = (x > (edge_hi + tw.sqrt())[:, None]).sum(dim=1)
    nan = torch.full((), math.nan, dtype=torch.float64, device=ev.device)
    return {
        "num_spikes": torch.where(ok, num_spikes, torch.full_like(num_spikes, -1)),
        "sigma_mp": torch.where(ok, sigma, nan),
        "mp_softrank": torch.where(ok, edge_hi / lam_max, nan),
        "bulk_min": torch.where(ok, edge_lo / (w_scale * w_scale), nan),
        "bulk_max": torch.where(ok, edge_hi / (w_scale * w_scale), nan),
        "W_scale": torch.where(ok, w_scale, nan),
    }
