"""Base class of every ensemble model: parameters with a leading member axis E, per-member initialisation.

Member e's initial parameters are drawn from its own generator (stream "init" of its seed), at its own true
width, and then multiplied by its own init scale -- so a member starts from the same weights whatever else is in
the ensemble. Forward passes take a shared input [B, ...] (broadcast to all members) or per-member inputs
[E, B, ...], and return [E, B, out].
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from ..rng import generator


class EnsembleModel(nn.Module):
    """Subclasses create their parameters with shape [E, ...] and implement ``init_member``."""

    #: parameter name -> optimiser group name (e.g. Liu's "embedding" and "decoder"); others go to "default"
    param_groups: dict[str, str] = {}

    def __init__(self, n_members: int):
        super().__init__()
        if n_members < 1:
            raise ValueError("an ensemble needs at least one member")
        self.n_members = n_members

    def init_member(self, member: int, g: torch.Generator) -> dict[str, torch.Tensor]:
        """Initial values of member ``member``'s parameters (float64, CPU, without the E axis), drawn from ``g``
        in a fixed order. Padded entries (beyond the member's true width) are zero."""
        raise NotImplementedError

    @torch.no_grad()
    def reset_parameters(self, seeds: Sequence[int], init_scale: torch.Tensor | Sequence[float] | None = None):
        """Initialise every member from its own seed; ``init_scale`` [E] multiplies all of a member's parameters.

        A loop over members, at set-up only: each member must draw from its own generator.
        """
        if len(seeds) != self.n_members:
            raise ValueError(f"need {self.n_members} seeds, got {len(seeds)}")
        scale = torch.ones(self.n_members, dtype=torch.float64) if init_scale is None else \
            torch.as_tensor(init_scale, dtype=torch.float64)
        params = dict(self.named_parameters())
        for e, seed in enumerate(seeds):
            values = self.init_member(e, generator(int(seed), "init"))
            for name, value in values.items():
                params[name][e].copy_(value * scale[e])
        return self

    def group_of(self, name: str) -> str:
        return self.param_groups.get(name, "default")

    def member_state(self, e: int) -> dict[str, torch.Tensor]:
        """Member e's parameters under standalone names (what ``toylab export`` writes)."""
        return {name: p[e].detach().clone() for name, p in self.named_parameters()}


def stacked(n_members: int, *shape: int) -> nn.Parameter:
    """An uninitialised [E, *shape] parameter (filled by ``reset_parameters``)."""
    return nn.Parameter(torch.zeros(n_members, *shape))


def linear_init(g: torch.Generator, fan_in: int, fan_out: int, pad_in: int, pad_out: int,
                bias: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
    """PyTorch's nn.Linear default init, U(-1/sqrt(fan_in), 1/sqrt(fan_in)), at the member's true sizes, zero-padded
    to [pad_in, pad_out] (weights are stored input-major: y = x @ W)."""
    bound = 1.0 / fan_in**0.5
    w = torch.zeros(pad_in, pad_out, dtype=torch.float64)
    w[:fan_in, :fan_out] = (torch.rand(fan_in, fan_out, generator=g, dtype=torch.float64) * 2 - 1) * bound
    if not bias:
        return w, None
    b = torch.zeros(pad_out, dtype=torch.float64)
    b[:fan_out] = (torch.rand(fan_out, generator=g, dtype=torch.float64) * 2 - 1) * bound
    return w, b


def gather_rows(table: torch.Tensor, idx: torch.Tensor, per_member: bool) -> torch.Tensor:
    """Rows of a per-member table. table: [E, V, d]; idx: [B] shared by all members, or [E, B] per member.
    Returns [E, B, d]."""
    if per_member:
        return table[torch.arange(table.shape[0], device=idx.device)[:, None], idx]
    return table[:, idx]
