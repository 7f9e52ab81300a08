"""Anti-grokking (Prakash & Martin 2025) from a fit's run directory: train / test accuracy, the HTSR alpha of every
layer and the number of correlation traps of its randomised ESD against the step (log x), and a report of when each
member generalised, whether and when its test accuracy collapsed while the training accuracy stayed at 1, and what
alpha and the traps did before.

The fit must have run with ``probes.spectra: true`` and ``probes.spectra_full: true`` (correlation traps).
"""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np  # noqa: E402

from . import save_figure  # noqa: E402
from .representation import load_histories  # noqa: E402
from .spectra import spectra_layers  # noqa: E402


def _first(steps: np.ndarray, hit: np.ndarray) -> int | None:
    return int(steps[np.argmax(hit)]) if hit.any() else None


def collapse_report(run_dir: Path, chance: float = 0.1, generalised: float = 0.5, collapsed: float = 0.2,
                    fitted: float = 0.99) -> list[dict]:
    """Per member: the best test accuracy and its step; ``collapse_step``, the first evaluated step after the best
    at which test accuracy is below ``collapsed`` while train accuracy is >= ``fitted`` (None: no collapse; a
    member that never reached ``generalised`` has none by definition); the final accuracies; per layer the first
    probe step with alpha < 2 and with a correlation trap, and alpha and the trap count at the last probe at or
    before the collapse (else at the end)."""
    h = load_histories(run_dir)
    steps, train, test = h["steps"], h["train_acc"], h["test_acc"]  # [T], [E, T]
    ss, layers = h["spectra_steps"], spectra_layers(h)
    out = []
    for e in range(test.shape[0]):
        b = int(np.nanargmax(test[e]))
        after = (np.arange(len(steps)) > b) & (test[e] < collapsed) & (train[e] >= fitted - 1e-6)
        coll = _first(steps, after) if test[e, b] >= generalised else None
        row = {"member": e, "best_test_acc": float(test[e, b]), "best_step": int(steps[b]),
               "collapse_step": coll, "final_train_acc": float(train[e, -1]), "final_test_acc": float(test[e, -1]),
               "final_step": int(steps[-1]), "chance": chance}
        ref = np.searchsorted(ss, coll, side="right") - 1 if coll is not None else len(ss) - 1
        for layer in layers:
            a = h[f"spectra_{layer}__alpha"][e]
            row[f"{layer}:first_alpha_below_2"] = _first(ss, a < 2)
            row[f"{layer}:alpha_ref"] = float(a[ref])
            row[f"{layer}:alpha_at_best"] = float(a[np.searchsorted(ss, steps[b], side="right") - 1])
            if f"spectra_{layer}__num_traps" in h:
                t = h[f"spectra_{layer}__num_traps"][e]
                row[f"{layer}:first_trap"] = _first(ss, t > 0)
                row[f"{layer}:traps_ref"] = float(t[ref])
        out.append(row)
    return out


def draw_antigrok(run_dir: Path, out: Path, labels: list[str] | None = None) -> Path:
    """Three rows: accuracies (test solid, train dashed, one colour per member), alpha of each layer (one panel
    column per layer would crowd; line style per layer), correlation-trap counts; log step axis."""
    h = load_histories(run_dir)
    layers = spectra_layers(h)
    if not layers:
        raise ValueError(f"{run_dir} has no spectra histories (run with probes.spectra: true)")
    steps, ss = np.maximum(h["steps"], 1), np.maximum(h["spectra_steps"], 1)
    E = h["test_acc"].shape[0]
    labels = labels or [f"member {e}" for e in range(E)]
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    styles = ["-", "--", ":", "-."]
    fig, axes = plt.subplots(3, 1, figsize=(7.5, 8.5), sharex=True)
    for e in range(E):
        c = colours[e % len(colours)]
        axes[0].plot(steps, h["test_acc"][e], "-", color=c, lw=1.2, label=f"{labels[e]} test")
        axes[0].plot(steps, h["train_acc"][e], "--", color=c, lw=0.8)
        for k, layer in enumerate(layers):
            ls = styles[k % len(styles)]
            lab = layer if e == 0 else None
            axes[1].plot(ss, h[f"spectra_{layer}__alpha"][e], ls, color=c, lw=1.0, label=lab)
            if f"spectra_{layer}__num_traps" in h:
                axes[2].plot(ss, h[f"spectra_{layer}__num_traps"][e], ls, color=c, lw=1.0, label=lab)
    axes[0].set_ylabel("accuracy (train dashed)")
    axes[0].legend(fontsize=7)
    axes[1].axhline(2, color="k", lw=0.6, ls=":")
    axes[1].set_ylabel("alpha")
    axes[1].set_yscale("log")
    axes[1].legend(fontsize=7, title="layer (line style)", title_fontsize=7)
    axes[2].set_ylabel("correlation traps")
    axes[-1].set_xscale("log")
    axes[-1].set_xlabel("step")
    axes[0].set_title("anti-grokking: accuracies, alpha and correlation traps of every layer (colour: member)",
                      fontsize=8)
    fig.tight_layout()
    return save_figure(fig, out, 130)
