"""Exponent fits for scaling-law figures: L = c x^-e + floor over a stated window, with a bootstrap over seeds.

``toymodels.theory.scaling.fit_power_law`` does the fit (floor by golden-section search); this adds the window and a
bootstrap that refits the floor in every resample (``fit_floor=False`` fits without one).
"""
from __future__ import annotations

import math

import torch

from ..errors import ConfigError
from ..theory.scaling import fit_power_law

F64 = torch.float64


def in_window(x: torch.Tensor, window: tuple[float, float] | None) -> torch.Tensor:
    """Mask [n] of the points with lo <= x <= hi (all points when ``window`` is None)."""
    if window is None:
        return torch.ones_like(x, dtype=torch.bool)
    return (x >= window[0] * (1 - 1e-9)) & (x <= window[1] * (1 + 1e-9))


def fit_exponent(x, Y, window: tuple[float, float] | None = None, fit_floor: bool = True, n_boot: int = 200,
                 seed: int = 0, level: float = 0.9) -> dict[str, float]:
    """Fit mean_s Y[s, :] ~ c x^-e (+ floor) over the window; bootstrap over the rows (seeds) of Y [S, n].

    Returns {"exponent", "lo", "hi", "floor", "prefactor", "rms", "x_lo", "x_hi", "n_points", "n_seeds"}; lo/hi are the
    central ``level`` bootstrap interval (equal to the exponent with one seed)."""
    x, Y = torch.as_tensor(x, dtype=F64).reshape(-1), torch.as_tensor(Y, dtype=F64)
    if Y.ndim == 1:
        Y = Y[None, :]
    keep = in_window(x, window) & torch.isfinite(Y).all(0) & (Y > 0).all(0)
    if int(keep.sum()) < 3:
        raise ConfigError("fit.window", f"needs at least 3 finite positive points in the window {window} "
                                        f"(got {int(keep.sum())})")
    x, Y = x[keep], Y[:, keep]
    fit = fit_power_law(x, Y.mean(0), fit_floor=fit_floor)
    boots = []
    if Y.shape[0] > 1 and n_boot > 0:
        g = torch.Generator().manual_seed(int(seed))
        idx = torch.randint(0, Y.shape[0], (n_boot, Y.shape[0]), generator=g)
        boots = [fit_power_law(x, Y[i].mean(0), fit_floor=fit_floor)["exponent"] for i in idx]
    if boots:
        q = torch.quantile(torch.tensor(boots, dtype=F64), torch.tensor([(1 - level) / 2, (1 + level) / 2], dtype=F64))
        lo, hi = q[0].item(), q[1].item()
    else:
        lo = hi = fit["exponent"]
    return {"exponent": fit["exponent"], "lo": lo, "hi": hi, "floor": fit["floor"], "prefactor": fit["prefactor"],
            "rms": fit["rms"], "x_lo": x.min().item(), "x_hi": x.max().item(), "n_points": int(x.numel()),
            "n_seeds": int(Y.shape[0])}


def slope(x, y, window: tuple[float, float] | None = None) -> float:
    """Log-log slope d log y / d log x over the window (no floor): for N*(C), t*(C)."""
    x, y = torch.as_tensor(x, dtype=F64).reshape(-1), torch.as_tensor(y, dtype=F64).reshape(-1)
    keep = in_window(x, window) & torch.isfinite(y) & (y > 0) & (x > 0)
    if int(keep.sum()) < 2:
        return math.nan
    lx, ly = x[keep].log(), y[keep].log()
    A = torch.stack([torch.ones_like(lx), lx], -1)
    return torch.linalg.lstsq(A, ly[:, None]).solution[1, 0].item()
