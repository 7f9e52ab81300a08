"""Per-member divergence detection: a member whose loss, gradients or parameters hold NaN/inf is frozen."""
from __future__ import annotations

import torch


def member_finite(tensors: list[torch.Tensor]) -> torch.Tensor:
    """[E] bool: True where every tensor's member slice is finite. Each tensor has a leading E axis."""
    ok = None
    for t in tensors:
        f = torch.isfinite(t).flatten(1).all(dim=1) if t.dim() > 1 else torch.isfinite(t)
        ok = f if ok is None else ok & f
    return ok
