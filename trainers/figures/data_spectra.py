"""Data-spectra figure and table (Levi & Oz): covariance eigenvalues of each dataset at its full sample, the bulk
power-law exponent and the level-spacing ratio <r> against the number of samples (``toymodels.metrics.data_spectra``).
"""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np  # noqa: E402

from toymodels.metrics.data_spectra import (GOE_R, POISSON_R, SampleCurve, covariance_eigenvalues,  # noqa: E402
                                            powerlaw_exponent)
from . import save_figure  # noqa: E402


def _se(A: np.ndarray) -> np.ndarray:
    """Standard error of the row means of A [m, draws] over the finite entries (NaN with fewer than 2)."""
    ok = np.isfinite(A)
    n = ok.sum(1)
    mean = np.where(ok, A, 0).sum(1) / np.maximum(n, 1)
    var = np.where(ok, (A - mean[:, None]) ** 2, 0).sum(1) / np.maximum(n - 1, 1)
    return np.where(n >= 2, np.sqrt(var / np.maximum(n, 1)), np.nan)


def format_table(curves: dict[str, tuple[np.ndarray, SampleCurve]]) -> str:
    lines = [f"{'dataset':<26} {'n':>6} {'d':>5} {'window':>10} {'exponent s':>14} {'<r>':>14} "
             f"{'largest':>7} {'n settle (s)':>12} {'n settle (r)':>12}"]
    fmt = lambda v: "-" if not np.isfinite(v) else f"{v:g}"  # noqa: E731
    for name, (X, c) in curves.items():
        se = lambda a: _se(a)[-1]  # noqa: E731  over the draws
        s, r = c.mean("exponent")[-1], c.mean("r_mean")[-1]
        lines.append(f"{name:<26} {X.shape[0]:>6} {X.shape[1]:>5} {f'{c.window[0]}..{c.window[1]}':>10} "
                     f"{s:>7.3f} +-{se(c.exponent):.3f} {r:>7.3f} +-{se(c.r_mean):.3f} {c.n[-1]:>7} "
                     f"{fmt(c.settle_exponent):>12} {fmt(c.settle_r):>12}")
    lines.append(f"(n: rows; s and <r> at the largest count, +- their standard error over the draws; <r> "
                 f"references: Poisson {POISSON_R:.3f}, GOE {GOE_R:.3f})")
    return "\n".join(lines)


def draw(curves: dict[str, tuple[np.ndarray, SampleCurve]], path) -> Path:
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.6))
    colours = plt.cm.tab10(np.arange(len(curves)) % 10)
    for c, (name, (X, curve)) in zip(colours, curves.items()):
        eigs = covariance_eigenvalues(X)
        eigs = eigs[eigs > 1e-10 * eigs[0]]
        k = np.arange(1, eigs.size + 1)
        axes[0].loglog(k, eigs / eigs[0], color=c, lw=1.2, label=name)
        lo, hi = curve.window
        s = powerlaw_exponent(covariance_eigenvalues(X), curve.window)
        kk = np.arange(lo, min(hi, eigs.size) + 1)
        axes[0].loglog(kk, eigs[lo - 1] / eigs[0] * (kk / lo) ** -s, "k--", lw=0.8)
        for ax, key in ((axes[1], "exponent"), (axes[2], "r_mean")):
            m = curve.mean(key)
            se = _se(getattr(curve, key))
            ax.errorbar(curve.n, m, np.nan_to_num(se), fmt="o-", ms=3, color=c, capsize=2, label=name)
            settle = curve.settle_exponent if key == "exponent" else curve.settle_r
            if np.isfinite(settle):
                ax.axvline(settle, color=c, ls=":", lw=1)
    axes[0].set(xlabel="rank k", ylabel="lambda_k / lambda_1",
                title="covariance spectra (dashed: power law fitted over the bulk window)")
    axes[1].set(xscale="log", xlabel="samples n", ylabel="bulk exponent s (lambda_k ~ k^-s)",
                title="exponent vs n (dotted: settling count)")
    axes[2].axhline(POISSON_R, color="0.4", ls="--", lw=1, label=f"Poisson {POISSON_R:.3f}")
    axes[2].axhline(GOE_R, color="0.1", ls="-.", lw=1, label=f"GOE {GOE_R:.3f}")
    axes[2].set(xscale="log", xlabel="samples n", ylabel="<r> over the bulk window",
                title="level-spacing ratio vs n (dotted: settling count)")
    for ax in axes:
        ax.title.set_fontsize(9)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return save_figure(fig, Path(path), dpi=110, tight=True)
