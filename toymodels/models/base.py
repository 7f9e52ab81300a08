"""Base class of every ensemble model: parameters with a leading member axis E, per-member initialisation.

Member e's initial parameters are drawn from its own generator (stream "init" of its seed), at its own true
width, and then multiplied by its own init scale -- so a member starts from the same weights whatever else is in
the ensemble. Forward passes take a shared input [B, ...] (broadcast to all members) or per-member inputs
[E, B, ...], and return [E, B, out].
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
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

    def forward_rows(self, x: torch.Tensor, rows: Sequence[int] | None) -> torch.Tensor:
        """The forward pass on per-member inputs [E, B, ...] of which member e uses only its first ``rows[e]`` rows
        (None: all). A model may skip the rest (their outputs are then meaningless: the loss must mask them, as
        the valid mask of the batch does); by default it computes them all."""
        return self(x)

    def fused_mean_loss(self, x: torch.Tensor, y: torch.Tensor, valid: torch.Tensor, rows: Sequence[int] | None,
                        head) -> torch.Tensor | None:
        """Each member's mean loss [E] over its valid rows computed together with the forward pass, where the
        model has a faster way than its forward followed by ``head.row_loss`` and ``losses.member_mean`` (``head``:
        the engine's ``toymodels.losses.Head``); None (the default) where it has not."""
        return None

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


def flat_rows(table: torch.Tensor, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """table [E, V, d] as one table [E * V, d] and per-member idx [E, ...] as row numbers in it."""
    E, V = table.shape[0], table.shape[1]
    offsets = torch.arange(0, E * V, V, device=idx.device).view(E, *([1] * (idx.dim() - 1)))
    return table.reshape(E * V, -1), idx + offsets


NARROW_ROWS = 64  # table rows up to this wide: index_select, whose backward beats embedding's on the CPU


def gather_rows(table: torch.Tensor, idx: torch.Tensor, per_member: bool) -> torch.Tensor:
    """Rows of a per-member table. table: [E, V, d]; idx: [B] shared by all members, or [E, B] per member.
    Returns [E, B, d]. Per member it is a lookup in the flattened table [E V, d], never advanced indexing (whose
    index_put backward is slower on the CPU): narrow rows (the transformer's per-symbol score and value tables)
    by index_select, whose backward is one index_add, wider ones by an embedding lookup, whose sorted backward wins
    for wide rows (timed on the CPU, one thread, for the shapes of ``scripts/bench_grokking.py``'s presets)."""
    if not per_member:
        return table.index_select(1, idx)
    flat, rows = flat_rows(table, idx)
    if table.shape[-1] <= NARROW_ROWS:
        return flat.index_select(0, rows.reshape(-1)).view(*idx.shape, table.shape[-1])
    return F.embedding(rows, flat).view(*idx.shape, table.shape[-1])


def gather_pair_sum(table: torch.Tensor, a: torch.Tensor, b: torch.Tensor, per_member: bool) -> torch.Tensor:
    """table[e, a] + table[e, b]: a one-hot operand pair through a linear layer. table: [E, V, d]; a, b: [B] shared
    or [E, B] per member -> [E, B, d]. Per member: one embedding_bag sum (the two rows added in order a, b)."""
    if not per_member:
        return table.index_select(1, a) + table.index_select(1, b)
    flat, rows = flat_rows(table, torch.stack([a, b], -1))  # [E, B, 2]
    return F.embedding_bag(rows.view(-1, 2), flat, mode="sum").view(*a.shape, table.shape[-1])


class _NarrowMatmul(torch.autograd.Function):
    """x @ W per member for a narrow output (x [E, B, i], W [E, i, o], o < i), computed in the orientations the
    CPU's batched GEMM runs fastest: the output as (W^T x^T)^T and the weight gradient as (g^T x)^T (scripts/
    bench_main_job.py's shapes, E = 20, B = 576, i = 256, o = 31, one thread: 1.6x and 1.8x faster than x @ W and
    x^T g); the input gradient is g @ W^T as autograd's."""

    @staticmethod
    def forward(x, W):
        return torch.bmm(W.mT, x.mT).mT.contiguous()  # [E, o, B] -> [E, B, o]

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(*inputs)

    @staticmethod
    def backward(ctx, g):
        x, W = ctx.saved_tensors
        dx = torch.bmm(g, W.mT) if ctx.needs_input_grad[0] else None  # [E, B, i]
        dW = torch.bmm(g.mT, x).mT if ctx.needs_input_grad[1] else None  # [E, o, i] -> [E, i, o]
        return dx, dW


def member_matmul(x: torch.Tensor, W: torch.Tensor) -> torch.Tensor:
    """x [E, B, i] @ W [E, i, o] -> [E, B, o], each member with its own weights (a narrow output layer takes the
    faster orientation of ``_NarrowMatmul``; under autocast, torch.bmm and autocast's casts)."""
    if W.shape[-1] < W.shape[-2] and x.device.type == "cpu" and not torch.is_autocast_enabled("cpu"):
        return _NarrowMatmul.apply(x, W)
    return torch.bmm(x, W)
