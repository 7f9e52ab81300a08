"""Phase diagrams of a sweep: the majority phase of each grid point as a coloured cell, the steps to generalise
(median over seeds) written in it, seed disagreement hatched; and train/test curves of chosen cells."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.colors import ListedColormap  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from toymodels.errors import ConfigError  # noqa: E402
from toymodels.metrics.phases import PHASES  # noqa: E402

COLOURS = {"comprehension": "#1a9850", "grokking": "#fdae61", "memorization": "#d73027", "confusion": "#bdbdbd"}


def _edges(values: list[float], log: bool) -> np.ndarray:
    v = np.log10(values) if log else np.asarray(values, dtype=float)
    if len(v) == 1:
        mids = np.array([v[0] - 0.5, v[0] + 0.5])
    else:
        inner = (v[1:] + v[:-1]) / 2
        mids = np.concatenate([[v[0] - (inner[0] - v[0])], inner, [v[-1] + (v[-1] - inner[-1])]])
    return 10**mids if log else mids


def _steps_label(s) -> str:
    if s is None or (isinstance(s, float) and np.isnan(s)):
        return ""
    return f"{s / 1000:.1f}k" if s >= 1000 else f"{s:.0f}"


def select(grid: list[dict], keys: list[str], x: str, y: str | None, where: dict) -> list[dict]:
    """Grid rows with every other varied key fixed by ``where``."""
    for k in (x, y):
        if k is not None and k not in keys:
            raise ConfigError(k, f"the sweep did not vary this key; it varied: {', '.join(keys)}")
    others = [k for k in keys if k not in (x, y)]
    missing = [k for k in others if k not in where]
    if missing:
        raise ConfigError(missing[0], "the sweep also varies this key: fix it with --where "
                                      f"{missing[0]}=VALUE (values: "
                                      f"{sorted({r[missing[0]] for r in grid}, key=str)})")
    rows = [r for r in grid if all(str(r[k]) == str(where[k]) or _close(r[k], where[k]) for k in others)]
    if not rows:
        raise ConfigError("--where", f"no grid point matches {where}")
    return rows


def _close(a, b) -> bool:
    try:
        return abs(float(a) - float(b)) <= 1e-9 * max(1.0, abs(float(a)))
    except (TypeError, ValueError):
        return False


def draw_phase_diagram(rows: list[dict], x: str, y: str | None, log_x: bool, log_y: bool, title: str,
                       out: Path) -> tuple[Path, Path]:
    """Draw the diagram of ``rows`` (grid.csv rows) to ``out``.png and .svg; returns both paths."""
    xs = sorted({r[x] for r in rows})
    ys = sorted({r[y] for r in rows}) if y else [0]
    code = np.full((len(ys), len(xs)), np.nan)
    fig, ax = plt.subplots(figsize=(3.6 + 0.55 * max(len(xs), 4), 1.6 + 0.45 * max(len(ys), 4) if y else 2.6))
    for r in rows:
        i, j = ys.index(r[y]) if y else 0, xs.index(r[x])
        code[i, j] = PHASES.index(r["phase"])
    cmap = ListedColormap([COLOURS[p] for p in PHASES])
    X, Y = _edges(xs, log_x), _edges(ys, log_y) if y else np.array([-0.5, 0.5])
    ax.pcolormesh(X, Y, np.ma.masked_invalid(code), cmap=cmap, vmin=-0.5, vmax=len(PHASES) - 0.5,
                  edgecolors="white", linewidth=0.5)
    for r in rows:
        i, j = ys.index(r[y]) if y else 0, xs.index(r[x])
        cx = np.sqrt(X[j] * X[j + 1]) if log_x else (X[j] + X[j + 1]) / 2
        cy = (np.sqrt(Y[i] * Y[i + 1]) if log_y else (Y[i] + Y[i + 1]) / 2) if y else 0
        label = _steps_label(r.get("steps_to_generalise"))
        if r.get("agreement", 1) < 1:
            label += f"\n{r['agreement']:.0%}"
            ax.fill_between([X[j], X[j + 1]], Y[i], Y[i + 1], facecolor="none", hatch="//", edgecolor="white",
                            linewidth=0)
        ax.text(cx, cy, label, ha="center", va="center", fontsize=7)
    ax.set_xscale("log" if log_x else "linear")
    ax.set_xlabel(x)
    if y:
        ax.set_yscale("log" if log_y else "linear")
        ax.set_ylabel(y)
    else:
        ax.set_yticks([])
    ax.legend(handles=[Patch(color=COLOURS[p], label=p) for p in PHASES], loc="upper left",
              bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize=8, title="phase (cell: steps to generalise)",
              title_fontsize=7)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    png, svg = out.parent / (out.name + ".png"), out.parent / (out.name + ".svg")
    fig.savefig(png, dpi=150)
    fig.savefig(svg)
    plt.close(fig)
    return png, svg


def draw_curves(curves: list[tuple[str, np.ndarray, np.ndarray, np.ndarray]], threshold: float,
                out: Path) -> Path:
    """Train (dashed) and test (solid) accuracy over steps; each entry (label, steps, train [S, T], test [S, T])
    is one cell with S seeds."""
    fig, ax = plt.subplots(figsize=(7, 4))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for k, (label, steps, train, test) in enumerate(curves):
        c = colours[k % len(colours)]
        x = np.maximum(steps, 1)
        for s in range(train.shape[0]):
            ax.plot(x, train[s], "--", color=c, lw=1, alpha=0.8)
            ax.plot(x, test[s], "-", color=c, lw=1.3, alpha=0.9, label=label if s == 0 else None)
    ax.axhline(threshold, color="k", lw=0.6, ls=":")
    ax.set_xscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("accuracy (train dashed, test solid)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    out = Path(out)
    out = out.parent / (out.name + ".png")
    fig.savefig(out, dpi=150)
    plt.close(fig)
    return out
