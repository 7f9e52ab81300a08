"""SETOL's MLP experiment (Martin & Hinrichs 2025) from a sweep run directory: per layer and member the final
HTSR alpha, alpha-hat (alpha_weighted = alpha log10 lambda_max), detX_delta (xmin - detX cutoff: the ERG condition
holds at 0) and the test accuracy; rank correlations between them; and the figure (per layer: test accuracy
against alpha, detX_delta against alpha, coloured by the learning rate, one marker per batch size).

The sweep must have run with ``probes.spectra: true``: the last spectra probe of every chunk is at its final step.
"""
from __future__ import annotations

import csv
import re
from pathlib import Path

import matplotlib.colors
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from scipy.stats import spearmanr  # noqa: E402

from . import save_figure  # noqa: E402
from ..reader import RunReader  # noqa: E402
from ..sweeps.results import read_sweep_members  # noqa: E402

LAYER_METRICS = {"alpha": "alpha", "alpha_hat": "alpha_weighted", "detX_delta": "detX_delta",
                 "num_pl_spikes": "num_pl_spikes", "sigma": "sigma"}
KNOBS = ("train.batch_size", "optimizer.lr")


def layer_table(sweep_dir: Path) -> list[dict]:
    """One row per (member, layer): the member's grid point, seed, final train / test accuracy and the layer's
    final spectral metrics (LAYER_METRICS), in member order then layer order."""
    run = RunReader(sweep_dir)
    names = run.history_names()
    layers = sorted({g.group(1) for n in names if (g := re.match(r"spectra_(.+)__alpha$", n))})
    if not layers:
        raise ValueError(f"{sweep_dir} has no spectra histories (run the sweep with probes.spectra: true)")
    rows = []
    for m in read_sweep_members(Path(sweep_dir)):
        for layer in layers:
            steps, _ = run.member_history(m, f"spectra_{layer}__alpha")
            row = {"member": int(m["member"]), "seed": int(m["seed"]),
                   **{k: float(m[k]) for k in KNOBS if k in m and m[k] not in (None, "")},
                   "train_acc": float(m["final_train_acc"]), "test_acc": float(m["final_test_acc"]), "layer": layer,
                   "step": int(steps[-1])}
            for name, metric in LAYER_METRICS.items():
                row[name] = float(run.member_history(m, f"spectra_{layer}__{metric}")[1][-1])
            rows.append(row)
    return rows


def write_table(rows: list[dict], out: Path) -> Path:
    out = Path(out)
    with open(out, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(dict.fromkeys(k for r in rows for k in r)), restval="")
        w.writeheader()
        w.writerows(rows)
    return out


def _rho(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 3 or np.ptp(x[ok]) == 0 or np.ptp(y[ok]) == 0:
        return float("nan"), float("nan")
    r = spearmanr(x[ok], y[ok])
    return float(r.statistic), float(r.pvalue)


def layer_summary(rows: list[dict], min_train_acc: float = 0.99) -> list[dict]:
    """Per layer, over the members that fitted their training set (final train accuracy >= ``min_train_acc``;
    the others are counted in ``excluded``): Spearman rho (and p) of test accuracy against alpha, alpha-hat and
    |alpha - 2|, of detX_delta against alpha, and of alpha against the knob lr / batch size (SGD's noise scale);
    the alpha of the best-accuracy member; the test accuracy and accuracy rank (1 = best) of the member whose alpha
    is closest to 2; the alpha of the member with the smallest |detX_delta|; and the members' alpha range."""
    out = []
    for layer in sorted({r["layer"] for r in rows}):
        every = [r for r in rows if r["layer"] == layer]
        rs = [r for r in every if r["train_acc"] >= min_train_acc - 1e-6]
        if not rs:
            out.append({"layer": layer, "members": 0, "excluded": len(every)})
            continue
        a, ah, acc, dx = (np.array([r[k] for r in rs]) for k in ("alpha", "alpha_hat", "test_acc", "detX_delta"))
        noise = np.array([r.get("optimizer.lr", np.nan) / r.get("train.batch_size", np.nan) for r in rs])
        fin = np.isfinite(a)
        best = int(np.nanargmax(acc))
        near2 = int(np.nanargmin(np.where(fin, np.abs(a - 2), np.nan)))
        zero = int(np.nanargmin(np.where(np.isfinite(dx), np.abs(dx), np.nan)))
        rank = 1 + int((acc > acc[near2]).sum())  # NaN (diverged) never counts as better
        s = {"layer": layer, "members": len(rs), "excluded": len(every) - len(rs), "alpha_min": float(np.nanmin(a)), "alpha_median": float(np.nanmedian(a)),
             "alpha_max": float(np.nanmax(a)), "best_test_acc": float(acc[best]), "alpha_of_best": float(a[best]),
             "alpha_closest_to_2": float(a[near2]), "test_acc_at_alpha_closest_to_2": float(acc[near2]),
             "rank_of_alpha_closest_to_2": rank, "alpha_at_min_abs_detX_delta": float(a[zero]),
             "min_abs_detX_delta": float(abs(dx[zero]))}
        for name, x in (("alpha", a), ("alpha_hat", ah), ("abs_alpha_minus_2", np.abs(a - 2))):
            s[f"rho_test_acc_{name}"], s[f"p_test_acc_{name}"] = _rho(x, acc)
        s["rho_detX_delta_alpha"], s["p_detX_delta_alpha"] = _rho(a, dx)
        s["rho_alpha_lr_over_batch"], s["p_alpha_lr_over_batch"] = _rho(noise, a)
        out.append(s)
    return out


def _label(b) -> str:
    return f"batch {int(b)}" if isinstance(b, float) and b.is_integer() else f"batch {b}"


def draw_setol(rows: list[dict], out: Path, min_train_acc: float = 0.99) -> Path:
    """Filled markers: members with final train accuracy >= ``min_train_acc``; hollow grey: the others (the test
    accuracy axis is scaled to the filled ones, so those below it are only in the detX_delta row)."""
    layers = sorted({r["layer"] for r in rows})
    lrs = np.array([r.get("optimizer.lr", np.nan) for r in rows])
    batches = sorted({r.get("train.batch_size") for r in rows}, key=lambda b: (b is None, b))
    norm = matplotlib.colors.LogNorm(np.nanmin(lrs), np.nanmax(lrs)) if np.isfinite(lrs).any() and \
        np.nanmin(lrs) > 0 and np.nanmin(lrs) < np.nanmax(lrs) else None
    markers = "os^Dvp*hX"
    fig, axes = plt.subplots(2, len(layers), figsize=(3.6 * len(layers), 6.4), squeeze=False)
    for k, layer in enumerate(layers):
        for b_i, b in enumerate(batches):
            mk = markers[b_i % len(markers)]
            every = [r for r in rows if r["layer"] == layer and r.get("train.batch_size") == b]
            rs = [r for r in every if r["train_acc"] >= min_train_acc - 1e-6]
            bad = [r for r in every if r["train_acc"] < min_train_acc - 1e-6]
            a = np.array([r["alpha"] for r in rs])
            c = np.array([r.get("optimizer.lr", np.nan) for r in rs])
            kw = dict(c=c, cmap="viridis", norm=norm, marker=mk, s=22, edgecolors="k", linewidths=0.3,
                      label=_label(b))
            sc = axes[0, k].scatter(a, [r["test_acc"] for r in rs], **kw)
            axes[1, k].scatter(a, [r["detX_delta"] for r in rs], **kw)
            if bad:
                axes[1, k].scatter([r["alpha"] for r in bad], [r["detX_delta"] for r in bad], marker=mk, s=22,
                                   facecolors="none", edgecolors="0.5", linewidths=0.6)
        fitted = [r["test_acc"] for r in rows if r["layer"] == layer and r["train_acc"] >= min_train_acc - 1e-6]
        if fitted:
            lo, hi = min(fitted), max(fitted)
            axes[0, k].set_ylim(lo - 0.1 * (hi - lo) - 1e-3, hi + 0.1 * (hi - lo) + 1e-3)
        for ax in axes[:, k]:
            ax.axvline(2, color="k", lw=0.6, ls=":")
            ax.set_xlabel("alpha")
        axes[0, k].set_title(layer, fontsize=9)
        axes[1, k].axhline(0, color="k", lw=0.6, ls=":")
        axes[1, k].set_yscale("symlog", linthresh=1e-2)
    axes[0, 0].set_ylabel("test accuracy")
    axes[1, 0].set_ylabel("detX_delta = xmin - detX cutoff")
    axes[0, 0].legend(fontsize=7)
    if norm is not None:
        fig.colorbar(sc, ax=axes.ravel().tolist(), label="learning rate", shrink=0.8)
    n_bad = sum(r["train_acc"] < min_train_acc - 1e-6 for r in rows if r["layer"] == layers[0])
    fig.suptitle("SETOL's MLP experiment: final alpha, detX_delta and test accuracy per layer and member"
                 + (f"\n(hollow grey: {n_bad} members with train accuracy < {min_train_acc})" if n_bad else ""),
                 fontsize=9)
    return save_figure(fig, out, 130)
