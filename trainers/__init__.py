"""toylab's Lightning layer, and its Python API (``import trainers as tl``: ``tl.fit``, ``tl.sweep``, ``tl.load``,
``tl.Run``; see ``trainers.api``). The API is imported on first use, so ``toylab --help`` and usage errors stay fast."""
from __future__ import annotations

__all__ = ["Run", "fit", "load", "sweep"]


def __getattr__(name: str):
    if name in __all__:
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'trainers' has no attribute {name!r}")
