"""Gromov (2023)'s analytic solution next to trained two-layer quadratic MLPs: per-neuron dominant frequency, its
power share and the phase relation phase_out - phase_a - phase_b (0 in the analytic solution)."""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from . import save_figure  # noqa: E402
from toymodels.errors import ConfigError  # noqa: E402
from toymodels.metrics.representation.gromov import (gromov_agreement, gromov_solution,  # noqa: E402
                                                     neuron_fourier)

from ..reader import read_run_config  # noqa: E402
from ..rundir import load_checkpoint  # noqa: E402


def trained_weights(run_dir: Path) -> tuple[torch.Tensor, torch.Tensor, int]:
    """(W_in [E, 2p, N], W_out [E, N, p], p) of a run of Gromov's model (mlp, depth 2, operand pairs)."""
    cfg = read_run_config(run_dir)
    m = cfg.model
    if not (m.name == "mlp" and m.depth == 2 and cfg.task.name == "modular"):
        raise ConfigError("RUN_DIR", "needs a run of a two-layer MLP (model.name mlp, depth 2) on a modular task")
    state = load_checkpoint(Path(run_dir) / "checkpoints" / "last.ckpt")["state_dict"]
    return state["model.weights.0"].double(), state["model.weights.1"].double(), cfg.task.p


def analytic_accuracy(p: int) -> float:
    """Accuracy of Gromov's solution on the full a + b mod p table (argmax of (h^2) W_out)."""
    sol = gromov_solution(p)
    a, b = torch.meshgrid(torch.arange(p), torch.arange(p), indexing="ij")
    h = sol.W_in[0][a.reshape(-1)] + sol.W_in[0][p + b.reshape(-1)]
    pred = (h.square() @ sol.W_out[0]).argmax(-1)
    return float((pred == (a.reshape(-1) + b.reshape(-1)) % p).double().mean())


def compare(run_dir: Path, out: Path) -> tuple[dict, Path]:
    W_in, W_out, p = trained_weights(run_dir)
    trained = neuron_fourier(W_in, W_out)
    sol = gromov_solution(p)
    ref = neuron_fourier(sol.W_in, sol.W_out)
    stats = {"p": p, "analytic_accuracy": analytic_accuracy(p),
             "analytic_agreement": float(gromov_agreement(sol.W_in, sol.W_out)[0]),
             "trained_agreement": gromov_agreement(W_in, W_out).tolist(),
             "trained_median_share": trained.share_a.median(dim=1).values.tolist(),
             "trained_median_abs_phase_residual": trained.phase_residual.abs().median(dim=1).values.tolist()}
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.2))
    bins = np.linspace(-np.pi, np.pi, 37)
    axes[0].hist(trained.phase_residual.flatten().numpy(), bins=bins, alpha=0.7, label="trained (all members)")
    axes[0].hist(ref.phase_residual.flatten().numpy(), bins=bins, alpha=0.7, label="analytic")
    axes[0].set_xlabel("phase_out - phase_a - phase_b")
    axes[0].legend(fontsize=7)
    axes[1].hist(trained.share_a.flatten().numpy(), bins=20, range=(0, 1), alpha=0.7, label="trained")
    axes[1].hist(ref.share_a.flatten().numpy(), bins=20, range=(0, 1), alpha=0.7, label="analytic")
    axes[1].set_xlabel("power share of the dominant frequency (a-weights)")
    axes[1].legend(fontsize=7)
    same = (trained.freq_a == trained.freq_b) & (trained.freq_b == trained.freq_out)
    axes[2].bar(range(len(stats["trained_agreement"])), stats["trained_agreement"], label="Gromov-like neurons")
    axes[2].bar(range(len(stats["trained_agreement"])), same.double().mean(1).numpy(), fill=False,
                label="same frequency in, in, out")
    axes[2].set_xlabel("member")
    axes[2].set_ylim(0, 1)
    axes[2].legend(fontsize=7)
    fig.suptitle(f"trained quadratic MLPs vs Gromov's solution, p = {p}", fontsize=9)
    fig.tight_layout()
    return stats, save_figure(fig, out, 130)
