"""Figures drawn from a run directory alone (matplotlib with the Agg backend outside notebooks: no display
needed)."""
from __future__ import annotations

from pathlib import Path

import sys

import matplotlib

if "ipykernel" not in sys.modules:  # scripts and the CLI draw to files; a notebook keeps its inline backend
    matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def save_figure(fig, out: Path, dpi: int = 130, svg: bool = False, tight: bool = False) -> Path:
    """Write ``fig`` to ``out`` (and its .svg twin when ``svg``; ``tight``: crop to the drawn area), close it,
    return ``out``. Every figure of toylab is saved here."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    kw = {"bbox_inches": "tight"} if tight else {}
    fig.savefig(out, dpi=dpi, **kw)
    if svg:
        fig.savefig(out.parent / (out.stem + ".svg"), **kw)
    plt.close(fig)
    return out
