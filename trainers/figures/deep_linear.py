"""Deep linear networks: the measured test loss and teacher-mode strengths u_k(t) / s_k of chosen members, with Saxe
et al.'s predictions dashed (histories written by ``trainers.families.deep_linear.SaxeOverlay``)."""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from toymodels.errors import ConfigError

from ..reader import RunReader, read_history
from . import save_figure


def draw_stages(run_dir: Path, members: list[int] | None = None, out: Path | None = None) -> Path:
    """One column per member (default: the smallest and the largest init scale): top, the test loss and its
    prediction; bottom, each mode's u_k / s_k and its prediction. Saved as PNG and SVG; returns the PNG's path."""
    run = RunReader(run_dir)
    if run.config.model.name != "deep_linear" or run.is_sweep:
        raise ConfigError("RUN_DIR", f"{run_dir} is not a fit of model deep_linear")
    rows = run.members()
    u0 = np.array([float(r["u0"]) for r in rows])
    members = members if members else sorted({int(np.argmin(u0)), int(np.argmax(u0))})
    steps, test = run.history("test_loss")
    _, theory = run.history("theory_test_loss", fill_missing=True)
    _, u = read_history(run.dir, "modes_u")  # [E, T, r]
    s = np.load(run.dir / "histories" / "modes_s.npy")  # [E, r]
    has_th = (run.dir / "histories" / "theory_modes_u.npy").is_file()
    u_th = read_history(run.dir, "theory_modes_u")[1] if has_th else None
    x = np.maximum(steps, 1)
    fig, axes = plt.subplots(2, len(members), figsize=(4.6 * len(members), 6.4), sharex=True, squeeze=False)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for j, e in enumerate(members):
        top, bottom = axes[0, j], axes[1, j]
        top.plot(x, test[e], color="k", lw=1.6, label="measured")
        if np.isfinite(theory[e]).any():
            top.plot(x, theory[e], "--", color="tab:red", lw=1.2, label="Saxe et al.")
        top.set_yscale("log")
        top.set_title(f"member {e}: u0 = {u0[e]:g}, L = {rows[e]['depth']}", fontsize=9)
        top.set_ylabel("test loss")
        top.legend(fontsize=7)
        for k in np.nonzero(s[e] > 0)[0]:
            c = colours[k % len(colours)]
            bottom.plot(x, u[e, :, k] / s[e, k], color=c, lw=1.4, label=f"s = {s[e, k]:g}")
            if u_th is not None:
                bottom.plot(x, u_th[e, :, k] / s[e, k], "--", color=c, lw=1)
        bottom.set_xscale("log")
        bottom.set_xlabel("step")
        bottom.set_ylabel("mode strength u_k / s_k (dashed: theory)")
        bottom.legend(fontsize=7)
    fig.tight_layout()
    out = Path(out) if out else run.dir / "figures" / "deep_linear_stages"
    return save_figure(fig, out.parent / (out.name + ".png"), dpi=140, svg=True)
