"""Representation measures aligned with train/test accuracy over training, from a run directory, and PCA images
of the embeddings of snapshotted members."""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from . import save_figure  # noqa: E402
from ..rundir import load_snapshot  # noqa: E402

PANELS = [  # (title, measures, log y)
    ("representation (Liu)", ["rqi", "predicted_test_acc"], False),
    ("Fourier ablations (Nanda), train rows", ["restricted_loss", "excluded_loss"], True),
    ("Gini of Fourier-component norms", ["gini_embed", "gini_unembed"], False),
    ("similarity", ["cka_init", "softmax_collapse"], False),
    ("weights", ["weight_norm", "effective_rank"], True),
]


def load_histories(run_dir: Path) -> dict[str, np.ndarray]:
    h = Path(run_dir) / "histories"
    return {p.stem: np.load(p) for p in h.glob("*.npy")}


def first_step(steps: np.ndarray, values: np.ndarray, threshold: float, above: bool = True) -> int | None:
    hit = values >= threshold - 1e-6 if above else values < threshold
    return int(steps[np.argmax(hit)]) if hit.any() else None


def draw_representation(run_dir: Path, members: list[int], out: Path) -> Path:
    h = load_histories(run_dir)
    if "repr_steps" not in h:
        raise ValueError(f"{run_dir} has no representation histories (run with probes.representation: true)")
    steps, rs = np.maximum(h["steps"], 1), np.maximum(h["repr_steps"], 1)
    panels = [(t, [m for m in ms if f"repr_{m}" in h], log) for t, ms, log in PANELS]
    panels = [p for p in panels if p[1]]
    fig, axes = plt.subplots(len(panels) + 1, 1, figsize=(7, 2.1 * (len(panels) + 1)), sharex=True)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for k, e in enumerate(members):
        c = colours[k % len(colours)]
        axes[0].plot(steps, h["train_acc"][e], "--", color=c, lw=1)
        axes[0].plot(steps, h["test_acc"][e], "-", color=c, lw=1.3, label=f"member {e}")
        s = first_step(h["steps"], h["test_acc"][e], 0.9)
        for ax in axes:
            if s is not None:
                ax.axvline(max(s, 1), color=c, lw=0.6, ls=":")
        for ax, (_, measures, _) in zip(axes[1:], panels):
            for j, m in enumerate(measures):
                ax.plot(rs, h[f"repr_{m}"][e], ["-", "--", "-."][j], color=c, lw=1.2,
                        label=m if k == 0 else None)
    axes[0].set_ylabel("accuracy")
    axes[0].set_title("train (dashed) / test (solid); dotted: test accuracy reaches 0.9", fontsize=8)
    axes[0].legend(fontsize=7)
    for ax, (title, _, log) in zip(axes[1:], panels):
        ax.set_title(title, fontsize=8)
        if log:
            ax.set_yscale("log")
        ax.legend(fontsize=7)
    axes[-1].set_xscale("log")
    axes[-1].set_xlabel("step")
    fig.tight_layout()
    return save_figure(fig, out, 130)


def embedding_of(state: dict) -> torch.Tensor:
    """The symbol embedding of a snapshotted member: transformer embed.W_E (without "="), Liu's embedding, or
    the a-rows of a one-hot MLP's first layer (nn.Linear layout [out, in])."""
    if "embed.W_E" in state:
        return state["embed.W_E"][:-1]
    if "embedding" in state:
        return state["embedding"]
    W = state["layers.0.weight"].T  # [in = 2p, out]
    return W[: W.shape[0] // 2]


def draw_embedding_pca(run_dir: Path, member: int, out_dir: Path, max_images: int = 6) -> list[Path]:
    """2-D PCA of the member's embedding at up to ``max_images`` snapshot steps, points labelled by symbol."""
    snaps = sorted((Path(run_dir) / "snapshots").glob("step_*.pt"))
    if not snaps:
        raise ValueError(f"{run_dir} has no snapshots (set train.snapshot_members)")
    pick = [snaps[i] for i in np.unique(np.linspace(0, len(snaps) - 1, max_images).round().astype(int))]
    paths = []
    for path in pick:
        state = load_snapshot(path)
        if member not in state:
            raise ValueError(f"member {member} was not snapshotted (snapshot_members: {sorted(state)})")
        emb = embedding_of(state[member]).double()
        x = emb - emb.mean(0)
        if x.shape[1] == 1:
            xy = torch.cat([x, torch.zeros_like(x)], 1)
        else:
            _, _, v = torch.linalg.svd(x, full_matrices=False)
            xy = x @ v[:2].T
        fig, ax = plt.subplots(figsize=(3.2, 3.2))
        ax.scatter(xy[:, 0], xy[:, 1], s=12, c=np.arange(len(xy)), cmap="twilight")
        for i, (a, b) in enumerate(xy.tolist()):
            ax.annotate(str(i), (a, b), fontsize=6)
        step = int(path.stem.split("_")[1])
        ax.set_title(f"member {member}, step {step}: embedding PCA", fontsize=8)
        fig.tight_layout()
        out = Path(out_dir) / f"embedding_pca_member{member}_step{step:08d}.png"
        save_figure(fig, out, 120)
        paths.append(out)
    return paths


def crossing_report(run_dir: Path) -> list[dict]:
    """Per member, the first step at which each measure crosses its stated threshold."""
    h = load_histories(run_dir)
    rules = [("train_acc >= 0.9", "steps", "train_acc", 0.9, True), ("test_acc >= 0.9", "steps", "test_acc", 0.9, True),
             ("test_loss < 1", "steps", "test_loss", 1.0, False), ("test_loss < 0.01", "steps", "test_loss", 0.01, False),
             ("rqi >= 0.95", "repr_steps", "repr_rqi", 0.95, True),
             ("predicted_test_acc >= 0.9", "repr_steps", "repr_predicted_test_acc", 0.9, True),
             ("restricted_loss < 0.1", "repr_steps", "repr_restricted_loss", 0.1, False),
             ("excluded - train loss > 1", "repr_steps", "repr_excluded_gap", 1.0, True)]
    if "repr_excluded_loss" in h:  # Nanda: excluded loss rising above the train loss (both on the training rows)
        train_at = np.stack([np.interp(h["repr_steps"], h["steps"], tl) for tl in h["train_loss"]])
        h["repr_excluded_gap"] = h["repr_excluded_loss"] - train_at
    rows = []
    for e in range(h["train_acc"].shape[0]):
        row = {"member": e}
        for name, steps_key, key, thr, above in rules:
            if key in h and steps_key in h:
                row[name] = first_step(h[steps_key], h[key][e], thr, above)
        rows.append(row)
    return rows
