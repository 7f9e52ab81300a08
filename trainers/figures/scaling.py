"""Scaling-law figures of a regression run directory (a fit, or a sweep whose members live under chunks/), from the
run directory alone: L vs t for each width N, L vs N, L vs P (each with theory overlays and a fitted exponent), the
compute-optimal frontier L*(C) with N*(C) and t*(C), and a table of fitted vs predicted exponents.

Conventions (SCIENCE.md section 2): b = alpha, a = 1 + 2 alpha r. Each exponent is fitted to the seed-mean loss as
L = c x^-e + floor (floor fitted: label noise sigma^2 and whatever limits the run), over a window that is printed,
with a 90% bootstrap interval over seeds; the same fit on the theory curves (same window) separates finite-size
effects from experimental error. L vs N and L vs P use each member's t -> infinity limit (closed form on its own
data, ``limit_test_loss``); L vs t and the frontier use the measured histories. Compute: full batch C = N P t, SGD
C = N B t; with P (or B) fixed in the run the frontier trades N against t, whose predicted exponents are those of
``toymodels.theory.scaling.exponents(a, b, "sgd")``.
"""
from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from toymodels.errors import ConfigError  # noqa: E402
from toymodels.regression.fits import fit_exponent, slope  # noqa: E402
from toymodels.tasks.powerlaw import PowerLawTask  # noqa: E402
from toymodels.theory.scaling import compute_frontier, exponents  # noqa: E402

from ..config import RunConfig  # noqa: E402
from ..reader import RunReader  # noqa: E402
from . import save_figure  # noqa: E402


@dataclass
class ScalingRun:
    cfg: RunConfig
    rows: list[dict]  # one per member: N, P, lr_eff, seed, ridge, noise_std, limit_test_loss, ...
    steps: np.ndarray  # [T]
    test: np.ndarray  # [E, T] measured test loss
    theory: np.ndarray  # [E, T] theory test loss (NaN where none)

    def col(self, key: str) -> np.ndarray:
        return np.array([float(r[key]) if r.get(key) not in (None, "") else math.nan for r in self.rows])


def load_run(run_dir) -> ScalingRun:
    """Members and histories of a fit or a sweep of a power-law regression task."""
    run = RunReader(run_dir)
    cfg = run.config
    if cfg.task.name != "powerlaw":
        raise ConfigError("RUN_DIR", f"{run_dir} is not a power-law regression run (task.name = {cfg.task.name})")
    rows = run.members()
    steps, test = run.history("test_loss")
    _, theory = run.history("theory_test_loss", fill_missing=True)
    return ScalingRun(cfg, rows, steps, test, theory)


# ---- selections ----------------------------------------------------------------------------------------------------
def _cells(run: ScalingRun, mask: np.ndarray, key: str) -> dict[float, np.ndarray]:
    """value of ``key`` -> member indices (within ``mask``), sorted by value."""
    v = run.col(key)
    return {x: np.nonzero(mask & (v == x))[0] for x in sorted(set(v[mask].tolist()))}


def _seed_matrix(run: ScalingRun, groups: dict[float, np.ndarray], values: np.ndarray) -> np.ndarray:
    """[seeds, groups] of ``values`` [E] for the seeds present in every group."""
    seeds = run.col("seed")
    common = set.intersection(*[set(seeds[i].tolist()) for i in groups.values()])
    if not common:
        raise ConfigError("RUN_DIR", "no seed is shared by every cell; bootstrap over seeds needs matched seeds")
    out = [[values[i][seeds[i] == s].mean() for i in groups.values()] for s in sorted(common)]
    return np.array(out)


def _best_lr(run: ScalingRun, mask: np.ndarray) -> np.ndarray:
    """Members of ``mask`` whose lr (within their N) has the lowest mean final test loss (tuned lr per width)."""
    keep = np.zeros_like(mask)
    lr, final = run.col("lr_eff"), run.test[:, -1]
    for idx in _cells(run, mask, "N").values():
        best = min(set(lr[idx].tolist()), key=lambda x: np.nanmean(final[idx][lr[idx] == x]))
        keep[idx[lr[idx] == best]] = True
    return keep


@dataclass
class Fit:
    name: str
    fit: dict
    theory_fit: dict | None
    predicted: float
    window: str
    note: str = ""


def _fit(name, x, Y, theory_y, predicted, window, note="", n_boot=200) -> Fit:
    f = fit_exponent(x, Y, window, n_boot=n_boot)
    tf = None
    if theory_y is not None and np.isfinite(theory_y).sum() >= 3:
        try:
            tf = fit_exponent(x, theory_y[None, :], window, n_boot=0)
        except ConfigError:
            tf = None
    w = f"{f['x_lo']:g} .. {f['x_hi']:g} ({f['n_points']} points, {f['n_seeds']} seeds)"
    return Fit(name, f, tf, predicted, w, note)


# ---- the figures ---------------------------------------------------------------------------------------------------
def _save(fig, out: Path) -> list[Path]:
    png = save_figure(fig, out.with_suffix(".png"), dpi=130, svg=True, tight=True)
    return [png, png.with_suffix(".svg")]


def _task(run: ScalingRun) -> tuple[PowerLawTask, float, float]:
    t = run.cfg.task
    task = PowerLawTask(int(t.dim), float(t.alpha), float(t.r))
    return task, task.a, task.b


def time_figure(run, mask, out, window=None, n_boot=200) -> tuple[list[Path], Fit]:
    """L vs t for each N (seed means; theory dashed); the exponent fitted on the largest N."""
    _, a, b = _task(run)
    fig, ax = plt.subplots(figsize=(5.5, 4))
    t = run.steps.astype(float)
    pos = t >= 1
    cells = _cells(run, mask, "N")
    colours = plt.cm.viridis(np.linspace(0, 0.9, len(cells)))
    for c, (N, idx) in zip(colours, cells.items()):
        ax.loglog(t[pos], run.test[idx][:, pos].mean(0), color=c, label=f"N={N:g}")
        th = np.nanmean(run.theory[idx], 0) if np.isfinite(run.theory[idx]).any() else None
        if th is not None:
            ax.loglog(t[pos], th[pos], "--", color=c, lw=1)
    N_top, idx = list(cells.items())[-1]
    if window is None:  # before the curve comes within 2x of its t -> infinity limit
        lim = np.nanmean(run.col("limit_test_loss")[idx])
        mean = run.test[idx].mean(0)
        ok = pos & (t >= 10) & ((mean >= 2 * lim) if np.isfinite(lim) else True)
        window = (float(t[ok].min()), float(t[ok].max())) if ok.sum() >= 3 else None
    th = np.nanmean(run.theory[idx], 0) if np.isfinite(run.theory[idx]).any() else None
    f = _fit(f"time (N={N_top:g})", t[pos], run.test[idx][:, pos], None if th is None else th[pos],
             exponents(a, b)["time"], window, n_boot=n_boot)
    ax.set(xlabel="step t", ylabel="test loss", title=f"L(t): fitted {f.fit['exponent']:.3f}, "
                                                      f"predicted (a-1)/b = {f.predicted:.3f}")
    ax.axvspan(f.fit["x_lo"], f.fit["x_hi"], color="0.9", zorder=0)
    ax.legend(fontsize=7)
    return _save(fig, out), f


def _limit_figure(run, mask, key, xlabel, predicted, out, window, note="", n_boot=200) -> tuple[list[Path], Fit]:
    """Loss vs N (or P) at t -> infinity, fitted on the P, t -> infinity projection loss for N when the run has it
    (the model-limited quantity), else on each member's closed-form t -> infinity loss."""
    cells = _cells(run, mask, key)
    x = np.array(list(cells))
    proj = run.col("projection_test_loss") if "projection_test_loss" in run.rows[0] else None
    use_proj = key == "N" and proj is not None and np.isfinite(proj[mask]).all()
    name, th_name = ("projection_test_loss", "theory_projection_test_loss") if use_proj else \
        ("limit_test_loss", "theory_limit_test_loss")
    Y = _seed_matrix(run, cells, run.col(name))  # [seeds, n]
    th = np.array([np.nanmean(run.col(th_name)[i]) if th_name in run.rows[0] else np.nan for i in cells.values()])
    what = "P, t -> inf" if use_proj else "t -> inf"
    f = _fit(f"{key} ({what})", x, Y, th, predicted, window, note, n_boot)
    fig, ax = plt.subplots(figsize=(5.5, 4))
    ax.loglog(x, Y.mean(0), "o-", label=f"experiment, {what} (closed form)")
    if np.isfinite(th).any():
        ax.loglog(x, th, "k--", lw=1, label=f"theory, {what}")
    if use_proj:
        ax.loglog(x, _seed_matrix(run, cells, run.col("limit_test_loss")).mean(0), "^:", ms=4,
                  label=f"experiment, t -> inf at {note}")
    final = np.array([run.test[i, -1].mean() for i in cells.values()])
    ax.loglog(x, final, "s:", ms=4, label=f"experiment, t = {int(run.steps[-1])}")
    ax.set(xlabel=xlabel, ylabel="test loss",
           title=f"fitted {f.fit['exponent']:.3f} [{f.fit['lo']:.3f}, {f.fit['hi']:.3f}], predicted {predicted:.3f}")
    ax.legend(fontsize=7)
    return _save(fig, out), f


def _front(L: np.ndarray, N: np.ndarray, t: np.ndarray, C: np.ndarray, per: float) -> dict[str, np.ndarray]:
    f = compute_frontier(torch.tensor(L), torch.tensor(N), torch.tensor(t), torch.tensor(C), B=per)
    return {k: v.numpy() for k, v in f.items()}


def _frontier_fits(front, ok, C, boots, th_front, ex, cost) -> list[Fit]:
    """L*(C) exponent (floor fitted) and N*(C), t*(C) slopes, with intervals from the seed-resampled frontiers."""
    fit_L = lambda f: fit_exponent(C[ok], f["L"][ok][None], n_boot=0)  # noqa: E731
    out = []
    for name, pred, get in [("compute L*(C)", ex["compute"], lambda f: fit_L(f)["exponent"]),
                            ("N*(C) slope", ex["N_star"], lambda f: slope(C[ok], f["N"][ok])),
                            ("t*(C) slope", ex["t_star"], lambda f: slope(C[ok], f["t"][ok]))]:
        b = np.array([get(f) for f in boots]) if boots else np.array([get(front)])
        fit = {"exponent": get(front), "lo": float(np.quantile(b, 0.05)), "hi": float(np.quantile(b, 0.95)),
               "floor": fit_L(front)["floor"] if name.startswith("compute") else math.nan}
        th = {"exponent": get(th_front)} if th_front is not None else None
        window = f"C = {C[ok].min():.3g} .. {C[ok].max():.3g} ({int(ok.sum())} budgets)"
        out.append(Fit(name, fit, th, pred, window, cost))
    return out


def frontier_figure(run, mask, out, n_boot=200) -> tuple[list[Path], list[Fit]]:
    """L*(C), N*(C), t*(C) from the seed-mean loss table (intervals: frontiers of seed-resampled tables) and from
    the theory table."""
    _, a, b = _task(run)
    cells = _cells(run, mask, "N")
    N = np.array(list(cells))
    if len(N) < 2:
        raise ConfigError("RUN_DIR", "the frontier needs at least two widths")
    t = run.steps.astype(float)
    pos = t >= 1
    seeds = run.col("seed")
    common = sorted(set.intersection(*[set(seeds[i].tolist()) for i in cells.values()]))
    per_seed = np.stack([np.stack([run.test[i][seeds[i] == s].mean(0) for i in cells.values()])
                         for s in common])[:, :, pos]  # [S, nN, T]
    TH = np.stack([np.nanmean(run.theory[i], 0) if np.isfinite(run.theory[i]).any() else np.full(len(t), np.nan)
                   for i in cells.values()])[:, pos]
    B = run.cfg.train.batch_size
    per = float(B) if B else float(np.nanmax(run.col("P")[mask]))
    C = np.geomspace(N.min() * per * t[pos].min() * 2, N.max() * per * t[pos].max() / 2, 24)
    front = _front(per_seed.mean(0), N, t[pos], C, per)
    ok = np.isfinite(front["L"])
    g = np.random.default_rng(0)
    boots = [_front(per_seed[g.integers(0, len(common), len(common))].mean(0), N, t[pos], C, per)
             for _ in range(n_boot if len(common) > 1 else 0)]
    th_front = _front(TH, N, t[pos], C, per) if np.isfinite(TH).all() else None
    ex = exponents(a, b, "sgd")
    cost = f"C = N {'B' if B else 'P'} t ({'SGD, B' if B else 'full batch, P'} = {per:g} fixed)"
    fits = _frontier_fits(front, ok, C, boots, th_front, ex, cost)
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    for ax, key, f in zip(axes, ("L", "N", "t"), fits):
        ax.loglog(C[ok], front[key][ok], "o-", label="experiment")
        if th_front is not None:
            ax.loglog(C[ok], th_front[key][ok], "k--", lw=1, label="theory")
        ax.set(xlabel=cost if key == "L" else "C", ylabel=f"{key}*(C)",
               title=f"{f.name}: {f.fit['exponent']:.3f}, predicted {f.predicted:.3f}")
    axes[0].legend(fontsize=7)
    return _save(fig, out), fits


def draw_scaling(run_dir, out_dir=None, P=None, time_window=None, model_window=None, data_window=None,
                 frontier: bool = True, n_boot: int = 200) -> tuple[list[Path], list[Fit], list[str]]:
    """Every figure of a regression run; returns (paths, fits, warnings)."""
    run = load_run(run_dir)
    out_dir = Path(out_dir) if out_dir else Path(run_dir) / "figures"
    task, a, b = _task(run)
    warnings = []
    Ps, Ns = run.col("P"), run.col("N")
    P_sel = float(np.nanmax(Ps)) if P is None else float(P)
    mask = (Ps == P_sel) & (run.col("ridge") == 0)
    if not mask.any():
        raise ConfigError("--P", f"no member with P = {P_sel:g} and ridge 0")
    mask = _best_lr(run, mask)
    M, N_max = task.M, float(np.nanmax(Ns[mask]))
    if run.cfg.model.name == "random_features" and M < 10 * N_max:
        warnings.append(f"M = {M} < 10 N_max = {10 * N_max:g}: finite-M effects bias the model-limited exponent")
    paths, fits = [], []
    p, f = time_figure(run, mask, out_dir / "scaling_time", time_window, n_boot)
    paths += p
    fits.append(f)
    if len(_cells(run, mask, "N")) >= 3:
        p, f = _limit_figure(run, mask, "N", "width N", exponents(a, b)["model"], out_dir / "scaling_model",
                             model_window, f"P = {P_sel:g}", n_boot)
        paths += p
        fits.append(f)
    pmask = (Ns == np.nanmax(Ns)) & (run.col("ridge") == 0)
    if len(_cells(run, pmask, "P")) >= 3:
        p, f = _limit_figure(run, pmask, "P", "training rows P", exponents(a, b)["data"], out_dir / "scaling_data",
                             data_window, f"N = {np.nanmax(Ns):g}", n_boot)
        paths += p
        fits.append(f)
    if frontier and len(_cells(run, mask, "N")) >= 2:
        p, fs = frontier_figure(run, mask, out_dir / "scaling_frontier", n_boot)
        paths += p
        fits += fs
    write_table(fits, warnings, out_dir / "scaling_exponents.csv")
    return paths + [out_dir / "scaling_exponents.csv"], fits, warnings


def format_table(fits: list[Fit]) -> str:
    lines = [f"{'quantity':<22} {'fitted':>8} {'90% interval':>18} {'theory fit':>10} {'predicted':>9}  window / note"]
    for f in fits:
        iv = f"[{f.fit['lo']:.3f}, {f.fit['hi']:.3f}]" if np.isfinite(f.fit["lo"]) else "-"
        tf = f"{f.theory_fit['exponent']:.3f}" if f.theory_fit else "-"
        lines.append(f"{f.name:<22} {f.fit['exponent']:>8.3f} {iv:>18} {tf:>10} {f.predicted:>9.3f}  "
                     f"{f.window}{'; ' + f.note if f.note else ''}")
    return "\n".join(lines)


def write_table(fits: list[Fit], warnings: list[str], path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["quantity", "fitted", "lo", "hi", "floor", "theory_fit", "predicted", "window", "note"])
        for f in fits:
            w.writerow([f.name, f.fit["exponent"], f.fit["lo"], f.fit["hi"], f.fit.get("floor", ""),
                        f.theory_fit["exponent"] if f.theory_fit else "", f.predicted, f.window, f.note])
        for msg in warnings:
            w.writerow(["warning", "", "", "", "", "", "", "", msg])
