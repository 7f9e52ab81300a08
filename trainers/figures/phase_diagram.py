"""Phase diagrams of a sweep: the majority phase of each grid point as a coloured cell, the steps to generalise
(median over seeds) written in it -- or, for the lazy-rich rule, the mean relative weight movement --, seed
disagreement hatched; and train/test curves of chosen cells."""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.colors import ListedColormap  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from toymodels.errors import ConfigError  # noqa: E402

from . import save_figure  # noqa: E402
from .labels import axis_label  # noqa: E402
from toymodels.metrics.phases import PHASES  # noqa: E402

COLOURS = {"comprehension": "#1a9850", "grokking": "#fdae61", "memorization": "#d73027", "confusion": "#bdbdbd",
           "rich": "#762a83", "lazy": "#a6dba0", "diverged": "#404040"}


def axis_mode(values: list, log_hint: bool) -> str:
    """"log" for a log-spaced grid axis (a log range, or positive values in a constant ratio), "linear" for
    evenly spaced values, "categorical" (equal cells, values as tick labels) otherwise."""
    try:
        v = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        return "categorical"
    if len(v) < 2:
        return "categorical"
    if log_hint or (np.all(v > 0) and len(v) >= 3 and np.allclose(np.diff(np.log(v)), np.log(v[1] / v[0]),
                                                                   rtol=1e-3)):
        return "log" if np.all(v > 0) else "categorical"
    return "linear" if np.allclose(np.diff(v), v[1] - v[0], rtol=1e-6, atol=1e-12) else "categorical"


def _coords(values: list, mode: str) -> tuple[np.ndarray, np.ndarray]:
    """(cell centres, cell edges) of an axis in plot coordinates."""
    if mode == "categorical":
        c = np.arange(len(values), dtype=float)
        return c, np.arange(len(values) + 1) - 0.5
    v = np.log10(np.asarray(values, float)) if mode == "log" else np.asarray(values, float)
    if len(v) == 1:
        edges = np.array([v[0] - 0.5, v[0] + 0.5])
    else:
        inner = (v[1:] + v[:-1]) / 2
        edges = np.concatenate([[v[0] - (inner[0] - v[0])], inner, [v[-1] + (v[-1] - inner[-1])]])
    return (10**v, 10**edges) if mode == "log" else (v, edges)


def _style_axis(ax, which: str, values: list, mode: str, label: str):
    set_scale, set_ticks, set_labels, set_label = (
        (ax.set_xscale, ax.set_xticks, ax.set_xticklabels, ax.set_xlabel) if which == "x" else
        (ax.set_yscale, ax.set_yticks, ax.set_yticklabels, ax.set_ylabel))
    set_scale("log" if mode == "log" else "linear")
    if mode == "categorical":
        set_ticks(range(len(values)))
        set_labels([f"{v:.3g}" if isinstance(v, (int, float)) else str(v) for v in values])
    set_label(axis_label(label) + (" (log)" if mode == "log" else ""))


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
                       out: Path | None, phases: tuple[str, ...] = PHASES, label=None,
                       legend_title: str = "phase (cell: steps to generalise)"):
    """Draw the diagram of ``rows`` (grid.csv rows) to ``out``.png and .svg and return both paths, or (``out``
    None) return the matplotlib Figure unsaved. ``phases``: the rule's phase names (each in COLOURS); ``label``:
    row -> the text in its cell (default: steps to generalise)."""
    label_of = label or (lambda r: _steps_label(r.get("steps_to_generalise")))
    xs = sorted({r[x] for r in rows}, key=_sort_key)
    ys = sorted({r[y] for r in rows}, key=_sort_key) if y else [0]
    mx, my = axis_mode(xs, log_x), axis_mode(ys, log_y) if y else "categorical"
    cx, X = _coords(xs, mx)
    cy, Y = _coords(ys, my)
    code = np.full((len(ys), len(xs)), np.nan)
    for r in rows:
        code[ys.index(r[y]) if y else 0, xs.index(r[x])] = phases.index(r["phase"])
    fig, ax = plt.subplots(figsize=(3.6 + 0.55 * max(len(xs), 4), 1.6 + 0.45 * max(len(ys), 4) if y else 2.6))
    cmap = ListedColormap([COLOURS[p] for p in phases])
    ax.pcolormesh(X, Y, np.ma.masked_invalid(code), cmap=cmap, vmin=-0.5, vmax=len(phases) - 0.5,
                  edgecolors="white", linewidth=0.5)
    for r in rows:
        i, j = ys.index(r[y]) if y else 0, xs.index(r[x])
        label = label_of(r)
        if r.get("agreement", 1) < 1:
            label += f"\n{r['agreement']:.0%}"
            ax.fill_between([X[j], X[j + 1]], Y[i], Y[i + 1], facecolor="none", hatch="//", edgecolor="white",
                            linewidth=0)
        ax.text(cx[j], cy[i], label, ha="center", va="center", fontsize=7)
    _style_axis(ax, "x", xs, mx, x)
    if y:
        _style_axis(ax, "y", ys, my, y)
    else:
        ax.set_yticks([])
    ax.legend(handles=[Patch(color=COLOURS[p], label=p) for p in phases], loc="upper left",
              bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize=8, title=legend_title,
              title_fontsize=7)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    if out is None:
        return fig
    out = Path(out)
    png = save_figure(fig, out.parent / (out.name + ".png"), 150, svg=True)
    return png, png.parent / (out.name + ".svg")


def _sort_key(v):
    return (0, float(v), "") if isinstance(v, (int, float)) else (1, 0.0, str(v))


def draw_curves(curves: list[tuple[str, np.ndarray, np.ndarray, np.ndarray]], threshold: float,
                out: Path | None):
    """Train (dashed) and test (solid) accuracy over steps; each entry (label, steps, train [S, T], test [S, T])
    is one cell with S seeds. Saved to ``out``.png (its path returned), or the Figure returned when ``out`` is
    None."""
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
    if out is None:
        return fig
    out = Path(out)
    return save_figure(fig, out.parent / (out.name + ".png"), 150)
