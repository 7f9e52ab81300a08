"""Figures drawn from a run directory alone (matplotlib with the Agg backend: no display needed)."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def save_figure(fig, out: Path, dpi: int = 130, svg: bool = False) -> Path:
    """Write ``fig`` to ``out`` (and its .svg twin when ``svg``), close it, return ``out``."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=dpi)
    if svg:
        fig.savefig(out.parent / (out.stem + ".svg"))
    plt.close(fig)
    return out
