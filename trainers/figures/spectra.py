"""Weight spectra figures from a run directory: the power-law exponent alpha (and detX_delta) of each layer over
training, aligned with test accuracy; and empirical spectral densities of a snapshotted member's matrices with the
fitted power-law tail, the Marchenko-Pastur bulk edge and the detX cutoff."""
from __future__ import annotations

import re
from pathlib import Path

import matplotlib
import matplotlib.ticker

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from einops import rearrange  # noqa: E402

from . import save_figure  # noqa: E402
from toymodels.metrics.spectra import detx_metrics, esd_stack, fit_mp, fit_power_law  # noqa: E402

from .representation import load_histories  # noqa: E402
from ..rundir import load_snapshot  # noqa: E402


def spectra_layers(h: dict) -> list[str]:
    return sorted({m.group(1) for k in h if (m := re.match(r"spectra_(.+)__alpha$", k))})


def draw_alpha_over_training(run_dir: Path, members: list[int], out: Path) -> Path:
    h = load_histories(run_dir)
    layers = spectra_layers(h)
    if not layers:
        raise ValueError(f"{run_dir} has no spectra histories (run with probes.spectra: true)")
    steps, ss = np.maximum(h["steps"], 1), np.maximum(h["spectra_steps"], 1)
    fig, axes = plt.subplots(3, 1, figsize=(7.5, 8), sharex=True)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    styles = ["-", "--", ":", "-."]
    for e in members:
        axes[0].plot(steps, h["test_acc"][e], lw=1.2, label=f"member {e} test")
        axes[0].plot(steps, h["train_acc"][e], lw=0.8, ls="--", color=axes[0].lines[-1].get_color())
        for k, layer in enumerate(layers):
            c, ls = colours[k % len(colours)], styles[members.index(e) % len(styles)]
            axes[1].plot(ss, h[f"spectra_{layer}__alpha"][e], ls, color=c, lw=1.1,
                         label=layer if e == members[0] else None)
            if f"spectra_{layer}__detX_delta" in h:
                axes[2].plot(ss, h[f"spectra_{layer}__detX_delta"][e], ls, color=c, lw=1.1)
    axes[0].set_ylabel("accuracy")
    axes[0].legend(fontsize=7)
    axes[1].axhline(2, color="k", lw=0.6, ls=":")
    axes[1].set_ylabel("alpha")
    axes[1].set_yscale("log")
    axes[1].legend(fontsize=6, ncol=2)
    axes[2].axhline(0, color="k", lw=0.6, ls=":")
    axes[2].set_ylabel("detX_delta = xmin - detX_val")
    axes[2].set_yscale("symlog", linthresh=1e-2)
    axes[-1].set_xscale("log")
    axes[-1].set_xlabel("step")
    axes[0].set_title("power-law alpha of each layer (line style: member) over training", fontsize=8)
    fig.tight_layout()
    return save_figure(fig, out, 130)


def snapshot_matrices(state: dict) -> dict[str, torch.Tensor]:
    """The weight matrices of one snapshotted member (standalone names), heads merged as in toymodels'
    weight_matrices; vectors and the 3-row positional embedding are left out."""
    out = {}
    for name, W in state.items():
        if W.dim() == 3:  # attention heads [H, d_model, d_head] or [H, d_head, d_model]
            W = rearrange(W, "h k d -> (h k) d") if name.endswith("W_O") else rearrange(W, "h d k -> d (h k)")
        if W.dim() == 2 and min(W.shape) >= 8:
            out[name] = W
    return out


def draw_esd(W: torch.Tensor, title: str, out: Path) -> Path:
    W = W.detach().double()
    N, M = max(W.shape), min(W.shape)
    ev = esd_stack(W[None])[:, 0]  # [1, M] ascending
    fit = fit_power_law(ev)
    mp = fit_mp(ev, N, M)
    dx = detx_metrics(ev, fit["num_pl_spikes"], fit["xmin"])
    x = ev[0][ev[0] > 1e-10].numpy()
    fig, ax = plt.subplots(figsize=(4.2, 3.2))
    bins = np.geomspace(x.min(), x.max() * 1.0001, 40)
    dens, edges = np.histogram(x, bins=bins, density=True)
    centres = np.sqrt(edges[1:] * edges[:-1])
    ax.loglog(centres[dens > 0], dens[dens > 0], ".", ms=4, label="ESD")
    alpha, xmin = float(fit["alpha"][0]), float(fit["xmin"][0])
    tail = centres >= xmin
    if tail.any() and np.isfinite(alpha):
        ref = dens[tail][0] if dens[tail][0] > 0 else dens[dens > 0][-1]
        ax.loglog(centres[tail], ref * (centres[tail] / centres[tail][0]) ** (-alpha), "-",
                  label=f"power law alpha = {alpha:.2f} (sigma {float(fit['sigma'][0]):.2f}, "
                        f"{int(fit['num_pl_spikes'][0])} in tail)")
    ax.axvline(xmin, color="C1", ls=":", lw=1, label="xmin")
    if torch.isfinite(mp["bulk_max"][0]):
        ax.axvline(float(mp["bulk_max"][0]), color="C2", ls="--", lw=1, label="MP bulk edge")
    if torch.isfinite(dx["detX_val"][0]):
        ax.axvline(float(dx["detX_val"][0]), color="C3", ls="-.", lw=1, label="detX cutoff")
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xlabel("eigenvalue of W^T W")
    ax.set_ylabel("density")
    ax.set_title(title, fontsize=8)
    ax.legend(fontsize=6)
    fig.tight_layout()
    return save_figure(fig, out, 130)


def draw_member_esds(run_dir: Path, member: int, step: int | None = None) -> list[Path]:
    snaps = sorted((Path(run_dir) / "snapshots").glob("step_*.pt"))
    if not snaps:
        raise ValueError(f"{run_dir} has no snapshots (set train.snapshot_members)")
    path = snaps[-1] if step is None else Path(run_dir) / "snapshots" / f"step_{step:08d}.pt"
    state = load_snapshot(path)
    if member not in state:
        raise ValueError(f"member {member} was not snapshotted (snapshot_members: {sorted(state)})")
    s = int(path.stem.split("_")[1])
    return [draw_esd(W, f"member {member}, {name}, step {s}",
                     Path(run_dir) / "figures" / f"esd_member{member}_{name.replace('.', '-')}_step{s:08d}.png")
            for name, W in snapshot_matrices(state[member]).items()]
