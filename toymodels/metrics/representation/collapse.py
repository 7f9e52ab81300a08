"""Softmax collapse (Prieto et al. 2025, "Grokking at the edge of numerical stability").

A row's softmax has collapsed when, in the working precision, sum_c exp(z_c - max z) == 1 exactly: every
non-maximal term is below half an ulp of 1, so the top class gets probability exactly 1 and, when it is the
correct class, the cross-entropy gradient of that row vanishes. For two classes that takes a logit gap of at least
24 ln 2 = 16.64 in float32 and 53 ln 2 = 36.74 in float64 (measured with this function's arithmetic: float32
collapses at a gap of 16.7, not 16.6; float64 at 37, not 36).
"""
from __future__ import annotations

import torch

from ...errors import ConfigError


def softmax_collapse_fraction(logits: torch.Tensor, row_mask: torch.Tensor | None = None) -> torch.Tensor:
    """Share of rows whose softmax has collapsed, per member: logits [E, B, C] -> [E] (float64).

    Computed in ``logits.dtype`` (the working precision: pass the logits the loss sees, e.g. float32 or bf16;
    no up-casting). ``row_mask`` [E, B] bool selects each member's rows (e.g. its training rows); a member with
    no rows gives NaN.
    """
    if not isinstance(logits, torch.Tensor) or logits.dim() != 3 or not logits.is_floating_point():
        raise ConfigError("representation.collapse.logits",
                          f"expected floating-point logits [E, B, C], got {getattr(logits, 'shape', type(logits))}")
    shifted = logits - logits.max(dim=-1, keepdim=True).values
    collapsed = torch.exp(shifted).sum(dim=-1) == 1  # [E, B], in the logits' own dtype
    E, B = collapsed.shape
    if row_mask is None:
        return collapsed.to(torch.float64).mean(dim=-1)
    if tuple(row_mask.shape) != (E, B) or row_mask.dtype != torch.bool:
        raise ConfigError("representation.collapse.row_mask", f"expected a boolean row mask [{E}, {B}]")
    n = row_mask.sum(dim=-1)
    hit = (collapsed & row_mask).sum(dim=-1)
    return torch.where(n > 0, hit.to(torch.float64) / n.clamp(min=1), torch.nan)
