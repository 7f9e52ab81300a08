"""Figures and tables of lazy versus rich two-layer networks, from run directories alone.

- ``lazy_rich_maps``: a lazy-rich sweep's phase diagram (``trainers.sweeps.report.phase_diagram`` with the lazy_rich
  rule) and heatmaps of the seed-mean final |W - W0|/|W0| and NTK-target alignment gain over the same two grid keys.
- ``time_exponents``: the time-scaling exponent of every member group (members that differ only by seed) of one or
  more regression fits -- two-layer nets at each gamma0, random-feature or linear baselines -- fitted as
  L(t) ~ t^-e over a stated window with a bootstrap over seeds (``toymodels.regression.fits.fit_exponent``), next to
  the predictions for the power-law task with source exponent beta = (a - 1)/b = 2 r: lazy (kernel) e = beta,
  rich (Bordelon, Atanasov & Pehlevan 2024) e = 2 beta / (1 + beta) for beta < 1 and e = beta for beta >= 1;
  a figure of the loss curves with their fits and of the local slope -d log L / d log t.
"""
from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from toymodels.errors import ConfigError  # noqa: E402
from toymodels.regression.fits import fit_exponent  # noqa: E402

from ..config import RunConfig  # noqa: E402
from ..families import family_of  # noqa: E402
from ..reader import RunReader  # noqa: E402
from . import save_figure  # noqa: E402
from .labels import axis_label  # noqa: E402
from .phase_diagram import _coords, axis_mode, select  # noqa: E402


# ---- the lazy-rich sweep -----------------------------------------------------------------------------------------
def lazy_rich_maps(run_dir: Path, x: str | None = None, y: str | None = None, where: list[str] | None = None,
                   out: Path | None = None) -> list[Path]:
    """The phase diagram and the movement / alignment-gain heatmaps of a lazy-rich sweep; returns the PNG paths."""
    from ..sweeps.report import _parse_where, open_sweep, phase_diagram
    from ..sweeps.results import read_grid

    cfg, plan = open_sweep(run_dir)
    if cfg.sweep.phase.rule != "lazy_rich":
        raise ConfigError("sweep.phase.rule", f"{run_dir} was not classified lazy/rich (rule {cfg.sweep.phase.rule})")
    keys = plan.grid_keys
    x = x or ("model.gamma0" if "model.gamma0" in keys else keys[0])
    y = y or ("model.width" if "model.width" in keys and x != "model.width" else next((k for k in keys if k != x),
                                                                                        None))
    png, _ = phase_diagram(run_dir, x, y, where, Path(out).with_name(Path(out).name + "_phase") if out else None)
    rows = select(read_grid(run_dir), keys, x, y, _parse_where(where))
    maps = Path(out) if out else Path(run_dir) / "figures" / "lazy_rich_maps"
    return [png, _draw_maps(rows, x, y, cfg, maps)]


def _draw_maps(rows: list[dict], x: str, y: str | None, cfg: RunConfig, out: Path) -> Path:
    xs = sorted({r[x] for r in rows})
    ys = sorted({r[y] for r in rows}) if y else [0]
    mx, my = axis_mode(xs, False), axis_mode(ys, False) if y else "categorical"
    cx, X = _coords(xs, mx)
    cy, Y = _coords(ys, my)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    panels = (("mean_weight_change_W", "log10 mean |W - W0| / |W0|", True),
              ("mean_ntk_alignment_gain", "mean NTK-target alignment gain (final - init)", False))
    for ax, (key, label, log) in zip(axes, panels):
        Z = np.full((len(ys), len(xs)), np.nan)
        for r in rows:
            v = r.get(key)
            if isinstance(v, (int, float)) and math.isfinite(v) and (v > 0 or not log):
                Z[ys.index(r[y]) if y else 0, xs.index(r[x])] = math.log10(v) if log else v
        mesh = ax.pcolormesh(X, Y, np.ma.masked_invalid(Z), cmap="viridis", edgecolors="white", linewidth=0.4)
        fig.colorbar(mesh, ax=ax, label=label)
        if log and np.isfinite(Z).sum() >= 4 and len(xs) > 1 and len(ys) > 1:
            thr = math.log10(cfg.sweep.phase.movement)
            ax.contour(cx, cy, np.ma.masked_invalid(Z), levels=[thr], colors="white", linewidths=1.5)
        for a, which, vals, mode, name in ((ax, "x", xs, mx, x), (ax, "y", ys, my, y)):
            if name is None:
                continue
            getattr(a, f"set_{which}scale")("log" if mode == "log" else "linear")
            if mode == "categorical":
                getattr(a, f"set_{which}ticks")(range(len(vals)))
                getattr(a, f"set_{which}ticklabels")([f"{v:g}" for v in vals])
            getattr(a, f"set_{which}label")(axis_label(name))
        ax.set_title(label, fontsize=9)
    fig.suptitle(f"{cfg.name}: white line |W - W0|/|W0| = {cfg.sweep.phase.movement:g} after "
                 f"{cfg.train.max_steps} steps", fontsize=9)
    fig.tight_layout()
    return save_figure(fig, out.parent / (out.name + ".png"), dpi=150, svg=True)


# ---- time exponents ----------------------------------------------------------------------------------------------
def predictions(beta: float) -> dict[str, float]:
    """Time exponents of L ~ t^-e on a power-law task with source exponent beta: lazy (kernel) and rich (BAP 2024)."""
    return {"lazy": beta, "rich": 2 * beta / (1 + beta) if beta < 1 else beta}


# members.csv columns named "<section>.<key>" are varied settings (outcome columns such as step_test_loss_0.1 are not)
SETTING_SECTIONS = ("task", "model", "optimizer", "loss", "filters", "train")


def _groups(rows: list[dict]) -> dict[str, list[int]]:
    """Member indices of each group of a fit: members whose varied settings (dotted columns) agree but for seed."""
    out: dict[str, list[int]] = {}
    for r in rows:
        label = ", ".join(f"{k.split('.')[-1]}={r[k]}" for k in r if k.split(".")[0] in SETTING_SECTIONS)
        out.setdefault(label or "all", []).append(int(r["member"]))
    return out


def time_exponents(run_dirs: list[Path], window: tuple[float, float] | None = None, metric: str = "excess_loss",
                   fit_floor: bool = False, n_boot: int = 200) -> list[dict]:
    """One row per member group of each regression fit: its fitted time exponent (90% bootstrap interval over
    seeds) over ``window`` (steps; None: every step >= 1) and the lazy / rich predictions."""
    table = []
    for run_dir in map(Path, run_dirs):
        run = RunReader(run_dir)
        cfg = run.config
        if not family_of(cfg).regression:
            raise ConfigError("RUN_DIR", f"{run_dir} is not a regression fit (task {cfg.task.name})")
        steps, L = run.history(metric)
        rows = run.members()
        diverged = [r.get("diverged") == "True" for r in rows]
        powerlaw = cfg.task.name == "powerlaw"  # capacity alpha and source r (the teacher task has neither)
        alpha, source = (cfg.task.alpha, cfg.task.r) if powerlaw else (math.nan, math.nan)
        beta = 2 * source if powerlaw else math.nan
        pred = predictions(beta) if math.isfinite(beta) else {"lazy": math.nan, "rich": math.nan}
        w = window or (1, float(steps.max()))
        for label, idx in _groups(rows).items():
            idx = [i for i in idx if not diverged[i]]
            row = {"run": run_dir.name, "model": cfg.model.name, "group": label, "task": cfg.task.name,
                   "alpha": alpha, "r": source, "beta": beta, "predicted_lazy": pred["lazy"],
                   "predicted_rich": pred["rich"], "window_lo": w[0], "window_hi": w[1], "seeds": len(idx)}
            try:
                fit = fit_exponent(steps.astype(float), L[idx], w, fit_floor=fit_floor, n_boot=n_boot)
                row.update({"exponent": fit["exponent"], "lo": fit["lo"], "hi": fit["hi"], "floor": fit["floor"],
                            "rms": fit["rms"], "points": fit["n_points"]})
            except ConfigError as err:  # too few points in the window, or every seed diverged
                row.update({"exponent": math.nan, "note": str(err)})
            row["_curve"] = (steps, L[idx].mean(0) if idx else np.full(len(steps), np.nan))
            table.append(row)
    return table


def format_exponents(table: list[dict]) -> str:
    head = (f"{'run':34} {'group':28} {'beta':>5} {'lazy':>6} {'rich':>6} {'fitted':>7} {'90% interval':>16} "
            f"{'window':>12} seeds")
    lines = [head, "-" * len(head)]
    for r in table:
        interval = f"[{r['lo']:.3f}, {r['hi']:.3f}]" if math.isfinite(r.get("exponent", math.nan)) else ""
        lines.append(f"{r['run'][:34]:34} {r['group'][:28]:28} {r['beta']:5.2f} {r['predicted_lazy']:6.3f} "
                     f"{r['predicted_rich']:6.3f} {r.get('exponent', math.nan):7.3f} {interval:>16} "
                     f"{r['window_lo']:g}-{r['window_hi']:g}".ljust(12) + f" {r['seeds']}")
    return "\n".join(lines)


def draw_exponents(table: list[dict], out: Path) -> list[Path]:
    """Loss curves with fitted power laws (one panel per beta) and local slopes; plus the table as CSV and JSON."""
    betas = sorted({r["beta"] for r in table}, key=lambda b: (math.isnan(b), b))
    fig, axes = plt.subplots(2, len(betas), figsize=(5.2 * len(betas), 7.5), squeeze=False)
    for j, beta in enumerate(betas):
        top, bottom = axes[0, j], axes[1, j]
        rows = [r for r in table if r["beta"] == beta or (math.isnan(beta) and math.isnan(r["beta"]))]
        for k, r in enumerate(rows):
            steps, mean = r["_curve"]
            c = f"C{k % 10}"
            ok = (steps >= 1) & np.isfinite(mean) & (mean > 0)
            label = f"{r['model']} {r['group']}: {r.get('exponent', math.nan):.3f}"
            top.loglog(steps[ok], mean[ok], color=c, lw=1.4, label=label)
            if math.isfinite(r.get("exponent", math.nan)):
                t = np.geomspace(r["window_lo"], r["window_hi"], 20)
                fit_at = mean[ok][np.argmin(np.abs(np.log(steps[ok]) - np.log(t[0])))]
                top.loglog(t, fit_at * (t / t[0]) ** -r["exponent"], "--", color=c, lw=0.9)
            ls, ll = np.log(steps[ok]), np.log(mean[ok])
            if len(ls) > 2:
                bottom.semilogx(np.exp((ls[1:] + ls[:-1]) / 2), -np.diff(ll) / np.diff(ls), color=c, lw=1.2)
        for e, name in ((rows[0]["predicted_lazy"], "lazy"), (rows[0]["predicted_rich"], "rich")):
            if math.isfinite(e):
                bottom.axhline(e, color="k", ls=":" if name == "lazy" else "--", lw=0.8,
                               label=f"predicted {name}: {e:.3f}")
        for ax in (top, bottom):
            ax.axvspan(rows[0]["window_lo"], rows[0]["window_hi"], color="0.92", zorder=0)
        top.set_title(f"beta = {beta:.3g} (alpha {rows[0]['alpha']:g}, r {rows[0]['r']:g})", fontsize=9)
        top.set_ylabel("excess test loss (mean over seeds)")
        bottom.set_ylabel("local slope -d log L / d log t")
        bottom.set_xlabel("step t (shaded: fit window)")
        top.legend(fontsize=6.5)
        bottom.legend(fontsize=6.5)
    fig.tight_layout()
    out = Path(out)
    png = save_figure(fig, out.parent / (out.name + ".png"), dpi=150, svg=True)
    svg = out.parent / (out.name + ".svg")
    plain = [{k: v for k, v in r.items() if not k.startswith("_")} for r in table]
    fields = list(dict.fromkeys(k for r in plain for k in r))
    with open(out.parent / (out.name + ".csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        w.writerows(plain)
    (out.parent / (out.name + ".json")).write_text(json.dumps(plain, indent=1, default=float))
    return [png, svg, out.parent / (out.name + ".csv"), out.parent / (out.name + ".json")]
