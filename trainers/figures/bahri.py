"""Bahri et al.'s four scaling regimes (Bahri, Dyer, Kaplan, Lee, Sharma 2021, "Explaining neural scaling laws") from
a linear random-feature sweep over width N x training rows P x seed (configs/scaling/bahri_regimes.yaml).

Every loss is a t -> infinity limit of GD from zero, in closed form: ``limit_test_loss`` (ridgeless fit on the
member's rows), ``projection_test_loss`` (P = infinity: the best predictor its projection allows) and, computed here,
the N = infinity limit: the linear kernel's min-norm fit on the same rows (``toymodels.theory.simulate.ridge_weights``
on the member's inputs, regenerated from its data seed exactly as the engine draws them).

* variance-limited in P (fixed N, P >> N):   L(N, P) - L(N, inf) ~ P^-1
* variance-limited in N (fixed P, N >> P):   L(N, P) - L(inf, P) ~ N^-1
* resolution-limited in N (P = inf, N << M):  L(N, inf) ~ N^-min(a-1, b)
* resolution-limited in P (N = inf, P << M):  L(inf, P) ~ P^-min(a-1, 2b)
For a - 1 <= b the two resolution-limited exponents are equal (the duality). Each exponent is a no-floor power-law
fit of the seed mean over a stated window, with a 90% bootstrap interval over seeds; a resample whose mean leaves
the positive range in the window (a variance-limited difference is positive only on average) is redrawn and counted.
Theory curves: ``rf_theory`` / ``ridge_theory`` at lambda = 0 and ``sigma_F2`` (SCIENCE.md section 2).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np  # noqa: E402
import torch  # noqa: E402

from toymodels.errors import ConfigError  # noqa: E402
from toymodels.tasks.powerlaw import PowerLawTask, population_loss, sample_dataset  # noqa: E402
from toymodels.theory.random_features import rf_theory, sigma_F2  # noqa: E402
from toymodels.theory.ridge import ridge_theory  # noqa: E402
from toymodels.theory.scaling import exponents, fit_power_law  # noqa: E402
from toymodels.theory.simulate import ridge_weights  # noqa: E402

from .scaling import ScalingRun, load_run  # noqa: E402
from . import save_figure  # noqa: E402


@dataclass
class Regime:
    name: str
    x: np.ndarray  # [n] N or P
    Y: np.ndarray  # [S, n] per-seed loss (or loss difference)
    theory: np.ndarray  # [n]
    window: tuple[float, float]
    predicted: float
    fit: dict | None = None
    theory_fit: float = math.nan
    show_from: float = 0.0  # plotted from here (the variance panels leave out the interpolation peak N = P)


def bootstrap_fit(x, Y, window, n_boot: int = 1000, seed: int = 0, level: float = 0.9) -> dict:
    """No-floor fit of mean_s Y[s] ~ c x^-e over the window, with a bootstrap over the rows (seeds) of Y [S, n].
    Resamples whose mean is not positive at every windowed x are redrawn (up to 10 n_boot draws) and counted."""
    x, Y = np.asarray(x, float), np.asarray(Y, float)
    keep = (x >= window[0] * (1 - 1e-9)) & (x <= window[1] * (1 + 1e-9))
    if keep.sum() < 3:
        raise ConfigError("fit.window", f"needs at least 3 points in {window} (got {int(keep.sum())})")
    x, Y = x[keep], Y[:, keep]
    mean = Y.mean(0)
    if not (mean > 0).all():
        raise ConfigError("fit.window", f"the seed mean is not positive over {window}: {mean}")
    fit = fit_power_law(x, mean)
    g = np.random.default_rng(seed)
    boots, rejected = [], 0
    while len(boots) < n_boot and rejected < 10 * n_boot and Y.shape[0] > 1:
        m = Y[g.integers(0, Y.shape[0], Y.shape[0])].mean(0)
        if (m > 0).all():
            boots.append(fit_power_law(x, m)["exponent"])
        else:
            rejected += 1
    lo, hi = (np.quantile(boots, [(1 - level) / 2, (1 + level) / 2]) if boots else (math.nan, math.nan))
    return {"exponent": fit["exponent"], "lo": float(lo), "hi": float(hi), "boots": np.array(boots),
            "rejected": rejected, "x_lo": float(x.min()), "x_hi": float(x.max()), "n_points": int(x.size),
            "n_seeds": int(Y.shape[0])}


def kernel_limit(task: PowerLawTask, P: int, seeds: list[int]) -> np.ndarray:
    """The N = infinity limit of ridgeless linear random features on each seed's P rows: the min-norm linear fit
    on the raw inputs (F F^T -> (N/M) I), its population loss + sigma^2 [S]."""
    X, y = sample_dataset(task, P, seeds)  # [S, P, M], [S, P]: the engine's rows for these data seeds
    w = ridge_weights(X, y, torch.zeros(1))[:, 0]  # [S, M]
    return population_loss(w, task.eta, task.wbar, task.sigma, include_noise=True).numpy()


def _table(run: ScalingRun, key: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(Ns, Ps, seeds, T [nN, nP, S]) of a members.csv column over the full grid."""
    N, P, s, v = run.col("N"), run.col("P"), run.col("seed"), run.col(key)
    Ns, Ps, seeds = (np.array(sorted(set(c.tolist()))) for c in (N, P, s))
    T = np.full((len(Ns), len(Ps), len(seeds)), np.nan)
    T[np.searchsorted(Ns, N), np.searchsorted(Ps, P), np.searchsorted(seeds, s)] = v
    if np.isnan(T).any():
        raise ConfigError("RUN_DIR", "the run is not a full N x P x seed grid")
    return Ns, Ps, seeds, T


def regimes(run_dir, var_ratio: float = 8.0, res_ratio: float = 0.1) -> tuple[list[Regime], dict]:
    """The four regimes of a bahri_regimes run. Windows: variance-limited points with P >= var_ratio N (or
    N >= var_ratio P) at the smallest N (P); resolution-limited points with N (P) <= res_ratio M."""
    run = load_run(run_dir)
    t = run.cfg.task
    if run.cfg.model.name != "random_features" or (run.cfg.model.act or "linear") != "linear":
        raise ConfigError("RUN_DIR", "the regimes need linear random features")
    if (run.col("ridge") != 0).any() or len(set(run.col("noise_std").tolist())) != 1:
        raise ConfigError("RUN_DIR", "the regimes need ridge 0 and one noise level")
    if any(k.startswith("streams.") for k in run.rows[0]):
        raise ConfigError("RUN_DIR", "data streams must follow the seed (the N = inf limit regenerates the rows)")
    task = PowerLawTask(int(t.dim), float(t.alpha), float(t.r), float(run.col("noise_std")[0]))
    M, sig2 = task.M, task.sigma ** 2
    Ns, Ps, seeds, L = _table(run, "limit_test_loss")
    proj = _table(run, "projection_test_loss")[3][:, 0, :]  # [nN, S] (independent of P)
    seed_list = [int(s) for s in seeds]
    kern = np.stack([kernel_limit(task, int(P), seed_list) for P in Ps])  # [nP, S]
    ex = exponents(task.a, task.b)
    eta, wbar = task.eta, task.wbar
    f64 = lambda v: torch.as_tensor(v, dtype=torch.float64)  # noqa: E731
    th = lambda N, P: rf_theory(eta, wbar, f64(N), f64(P), 0.0).E_g.numpy() + sig2  # noqa: E731  ridgeless RF
    thN = lambda N: sigma_F2(eta, wbar, f64(N)).numpy() + sig2  # noqa: E731  P = inf
    thP = lambda P: ridge_theory(eta, wbar, f64(P), 0.0).E_g.numpy() + sig2  # noqa: E731  N = inf
    N0, P0 = float(Ns[0]), float(Ps[0])
    out = [
        Regime(f"variance-limited in P (N = {N0:g})", Ps, (L[0] - proj[0][None, :]).T, th(N0, Ps) - thN(N0),
               (var_ratio * N0, Ps.max()), 1.0, show_from=2 * N0),
        Regime(f"variance-limited in N (P = {P0:g})", Ns, L[:, 0, :].T - kern[0][:, None], th(Ns, P0) - thP(P0),
               (var_ratio * P0, Ns.max()), 1.0, show_from=2 * P0),
        Regime("resolution-limited in N (P = inf)", Ns, proj.T, thN(Ns), (Ns.min(), res_ratio * M), ex["model"]),
        Regime("resolution-limited in P (N = inf)", Ps[Ps <= M], kern[Ps <= M].T, thP(Ps[Ps <= M]),
               (Ps.min(), res_ratio * M), ex["data"]),
    ]
    # the resolution-limited P curve on a finer grid (cheap: no random features): every power of 2 in the window
    fine = 2.0 ** np.arange(math.ceil(math.log2(Ps.min())), math.floor(math.log2(res_ratio * M)) + 1)
    out[3] = Regime(out[3].name, fine, np.stack([kernel_limit(task, int(P), seed_list) for P in fine]).T, thP(fine),
                    out[3].window, out[3].predicted)
    for r in out:
        r.fit = bootstrap_fit(r.x, r.Y, r.window)
        keep = (r.x >= r.window[0]) & (r.x <= r.window[1]) & (r.theory > 0)
        r.theory_fit = fit_power_law(r.x[keep], r.theory[keep])["exponent"] if keep.sum() >= 3 else math.nan
    bN, bP = out[2].fit["boots"], out[3].fit["boots"]
    n = min(len(bN), len(bP))
    diff = bN[:n] - bP[:n]  # independent resamples of the two curves
    duality = {"difference": out[2].fit["exponent"] - out[3].fit["exponent"],
               "lo": float(np.quantile(diff, 0.05)) if n else math.nan,
               "hi": float(np.quantile(diff, 0.95)) if n else math.nan, "a": task.a, "b": task.b,
               "regime": ex["regime"], "grid": (Ns, Ps, L.mean(-1))}
    return out, duality


def format_table(out: list[Regime], duality: dict) -> str:
    lines = [f"{'regime':<38} {'fitted':>7} {'90% interval':>17} {'theory':>7} {'predicted':>9}  window"]
    for r in out:
        f = r.fit
        lines.append(f"{r.name:<38} {f['exponent']:>7.3f} [{f['lo']:>6.3f}, {f['hi']:>6.3f}] {r.theory_fit:>7.3f} "
                     f"{r.predicted:>9.3f}  {f['x_lo']:g} .. {f['x_hi']:g} ({f['n_points']} points, {f['n_seeds']} "
                     f"seeds{', ' + str(f['rejected']) + ' resamples redrawn' if f['rejected'] else ''})")
    lines.append(f"duality (res. N - res. P exponent): {duality['difference']:.3f} [{duality['lo']:.3f}, "
                 f"{duality['hi']:.3f}]; predicted 0 for a - 1 <= b (a = {duality['a']:g}, b = {duality['b']:g}: "
                 f"{duality['regime']})")
    return "\n".join(lines)


def draw(out: list[Regime], duality: dict, path) -> Path:
    """2 x 3 panels: the four regimes (seed mean +- s.e.m., theory dashed, fit window shaded), the two
    resolution-limited curves on one axis (duality), and the seed-mean L(N, P) grid."""
    fig, axes = plt.subplots(2, 3, figsize=(15, 8.5))
    for ax, r in zip(axes[:, :2].T.ravel(), out):
        m, se = r.Y.mean(0), r.Y.std(0, ddof=1) / math.sqrt(r.Y.shape[0])
        ok = (m > 0) & (r.x >= r.show_from)
        ax.errorbar(r.x[ok], m[ok], np.minimum(se[ok], 0.9 * m[ok]), fmt="o-", ms=4, capsize=2,
                    label="experiment (seed mean +- s.e.m.)")
        ax.loglog(r.x[r.x >= r.show_from], r.theory[r.x >= r.show_from], "k--", lw=1, label="theory")
        f = r.fit
        win = (r.x >= f["x_lo"]) & (r.x <= f["x_hi"])
        c = np.exp(np.mean(np.log(m[win]) + r.predicted * np.log(r.x[win])))  # the predicted slope through the data
        xs = np.array([f["x_lo"], f["x_hi"]])
        ax.loglog(xs, c * xs ** -r.predicted, ":", color="tab:red", lw=1.5,
                  label=f"slope -{r.predicted:.3g} (predicted)")
        ax.axvspan(f["x_lo"], f["x_hi"], color="0.92", zorder=0)
        ax.set_xscale("log"), ax.set_yscale("log")
        var = r.name.startswith("variance")
        ax.set(xlabel=("P" if "in P" in r.name else "N"), ylabel="L - L_inf" if var else "test loss",
               title=f"{r.name}\nfitted {f['exponent']:.3f} [{f['lo']:.3f}, {f['hi']:.3f}], "
                     f"predicted {r.predicted:.3g}", )
        ax.title.set_fontsize(9)
        ax.legend(fontsize=7)
    ax = axes[0, 2]
    for r, mk in zip(out[2:], ("o-", "s-")):
        ax.loglog(r.x, r.Y.mean(0), mk, ms=4, label=f"{r.name}: {r.fit['exponent']:.3f}")
    ax.set(xlabel="N or P", ylabel="test loss",
           title=f"duality: exponent difference {duality['difference']:.3f} "
                 f"[{duality['lo']:.3f}, {duality['hi']:.3f}]")
    ax.title.set_fontsize(9)
    ax.legend(fontsize=7)
    ax = axes[1, 2]
    Ns, Ps, Lm = duality["grid"]
    im = ax.pcolormesh(np.arange(len(Ps) + 1), np.arange(len(Ns) + 1), np.log10(Lm), cmap="viridis")
    ax.set_xticks(np.arange(len(Ps)) + 0.5, [f"{p:g}" for p in Ps])
    ax.set_yticks(np.arange(len(Ns)) + 0.5, [f"{n:g}" for n in Ns])
    ax.set(xlabel="P", ylabel="N", title="log10 L(N, P), seed mean (ridgeless: peak at N = P)")
    ax.title.set_fontsize(9)
    fig.colorbar(im, ax=ax)
    fig.tight_layout()
    return save_figure(fig, Path(path), dpi=110, tight=True)
