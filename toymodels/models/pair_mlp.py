"""The two-layer MLP on one-hot operand pairs (Gromov's net), forward and backward in cache-sized tiles on the CPU.

out[e, n] = act(W0[e, a_n] + W0[e, p + b_n] + b0[e]) @ W1[e] + b1[e]

Autograd's version materialises the hidden activations [E, B, H] several times (the pair sum, act, its backward),
and at the README's main job (E = 20, B = 576, H = 256: 11.8 MB each) none of them fits in L2, so its elementwise
passes and the embedding gradient run at memory speed. Here each tile of a few members runs its whole chain
-- lookup, activation, output GEMM; in the backward, recomputed lookup, weight-gradient GEMM, input-gradient GEMM,
activation derivative, index_add into the embedding's gradient -- while its activations stay in cache, and nothing
[E, B, H] is kept between forward and backward. Hand-written because no library op fuses a lookup, an activation
and a batched GEMM on the CPU (torch.compile's CPU code was slower here, README "Speed"). Within a tile every op is
batched over the tile's members; the loop runs over tiles. ``scripts/bench_main_job.py --parts kernel`` compares it
with autograd's path on the main job's shapes.

A member's rows past ``rows[e]`` (the padding of members with smaller training sets, in full-batch training) are
skipped tile by tile: their outputs hold only the output bias (zero without one) and pass no gradient to the
hidden layer; the loss masks them.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F

from ..activations import activation, derivative

TILE_ELEMENTS = 1 << 18  # activations per tile (1 MiB of float32: one core's L2 on the machine it was tuned on)


def tiles(E: int, B: int, H: int, rows: Sequence[int] | None) -> list[tuple[int, int, int]]:
    """(first member, last member + 1, rows computed) per tile: consecutive members, as many as keep a tile's
    [members, rows, H] activations within TILE_ELEMENTS, each tile computing the most rows any of its members has."""
    rows = [B] * E if rows is None else [min(int(r), B) for r in rows]
    out, e0 = [], 0
    while e0 < E:
        e1, r = e0 + 1, max(rows[e0], 1)
        while e1 < E and (e1 - e0 + 1) * max(r, rows[e1]) * H <= TILE_ELEMENTS:
            r = max(r, rows[e1])
            e1 += 1
        out.append((e0, e1, r))
        e0 = e1
    return out


class PairTiles:
    """The tiles of one batch of pairs and each tile's index tensors, built once per batch: a full-batch fit feeds
    the same pairs every step, so its model keeps this object (``EnsembleMLP``) instead of re-slicing the pairs
    twice per tile and step. ``plan``: ``tiles(...)``; per tile ``(bags, offsets, a, b)``: the tile's pair rows of
    the flattened W0 [E * V, H] interleaved [k r * 2] with the bag offsets [k r] of ``embedding_bag``, and its
    first and second operands' rows [k r] (contiguous: the backward's index_add reads them)."""

    def __init__(self, a: torch.Tensor, b: torch.Tensor, V: int, H: int, rows: Sequence[int] | None):
        E, B = a.shape  # a, b [E, B] rows of each member's W0 [V, H] (b already offset)
        self.plan, self.B = tiles(E, B, H, rows), B
        first = torch.arange(0, E * V, V, device=a.device).view(E, 1, 1)  # member e's rows start at e V
        pairs = torch.stack([a, b], -1) + first  # [E, B, 2] rows of the flattened W0 [E * V, H]
        self.index = []
        for e0, e1, r in self.plan:
            tile = pairs[e0:e1, :r].reshape(-1, 2)  # [k r, 2]
            offsets = torch.arange(0, tile.numel(), 2, device=a.device)  # [k r]
            self.index.append((tile.reshape(-1), offsets, tile[:, 0].contiguous(), tile[:, 1].contiguous()))


class _TiledPairMLP(torch.autograd.Function):
    @staticmethod
    def forward(ctx, W0, b0, W1, b1, mask, act, pt):
        # W0 [E, V, H], b0 [E, H] | None, W1 [E, H, C], b1 [E, C] | None, mask [E, H] | None, pt: PairTiles of the
        # batch [E, B] (rows of the flattened W0 [E * V, H])
        E, H, C = W0.shape[0], W0.shape[-1], W1.shape[-1]
        B = pt.B
        flat = W0.reshape(-1, H)
        f = activation(act)  # quadratic: h * h below (aten's pow is slower)
        out = torch.zeros(E, B, C, dtype=W0.dtype, device=W0.device)
        for (e0, e1, r), index in zip(pt.plan, pt.index):
            h = pre_activations(flat, b0, index, e0, e1, r)
            z = h.mul_(h) if act == "quadratic" else f(h)
            if mask is not None:
                z.mul_(mask[e0:e1, None])
            out[e0:e1, :r] = torch.bmm(W1[e0:e1].mT, z.mT).mT  # [k, C, r]^T: the fast orientation for small C
        if b1 is not None:
            out += b1[:, None]
        ctx.save_for_backward(W0, b0, W1, mask)
        ctx.act, ctx.pt, ctx.has_b1 = act, pt, b1 is not None
        return out

    @staticmethod
    def backward(ctx, g):
        W0, b0, W1, mask = ctx.saved_tensors  # g: [E, B, C]
        H = W0.shape[-1]
        flat = W0.reshape(-1, H)
        act, f = ctx.act, activation(ctx.act)
        dflat = torch.zeros_like(flat)  # [E * V, H]
        dW1t = torch.empty(W1.shape[0], W1.shape[2], H, dtype=W1.dtype, device=W1.device)  # [E, C, H]
        db0 = None if b0 is None else torch.empty_like(b0)
        for (e0, e1, r), index in zip(ctx.pt.plan, ctx.pt.index):
            h = pre_activations(flat, b0, index, e0, e1, r)  # [k, r, H]
            z = h * h if act == "quadratic" else f(h)
            if mask is not None:
                z.mul_(mask[e0:e1, None])
            gt = g[e0:e1, :r]  # [k, r, C]
            torch.bmm(gt.mT, z, out=dW1t[e0:e1])  # [k, C, H]
            backprop_tile(gt, W1.mT, h, z, act, mask, db0, dflat, index, e0, e1)
        db1 = g.sum(1) if ctx.has_b1 else None
        return dflat.view_as(W0), db0, dW1t.mT, db1, None, None, None


def backprop_tile(g, W1t, h, z, act: str, mask, db0, dflat, index, e0: int, e1: int):
    """The rest of a tile's backward once the weight gradient has read z: from the logits' gradient g [k, r, C] (any
    strides), the pre-activations' gradient -- into z's buffer, done with (two [k, r, H] buffers live instead of
    three keeps more of them in cache; not when z is h itself: the linear activation) -- the unit mask, b0's
    gradient into db0 [E, H], and the embedding gradient: both operands' rows index_add-ed into dflat [E * V, H].
    W1t: W1 as [E, C, H]."""
    buf = None if z is h else z
    if act == "quadratic":  # act'(h) = 2h: the 2 goes on the narrow gradient, not on [k, r, H]
        dh = torch.bmm(g * 2.0, W1t[e0:e1], out=buf).mul_(h)
    else:
        dh = torch.bmm(g, W1t[e0:e1], out=buf).mul_(derivative(act, h))
    if mask is not None:
        dh.mul_(mask[e0:e1, None])
    if db0 is not None:
        torch.sum(dh, 1, out=db0[e0:e1])
    dh = dh.view(-1, dh.shape[-1])
    dflat.index_add_(0, index[2], dh)
    dflat.index_add_(0, index[3], dh)


def pre_activations(flat, b0, index, e0: int, e1: int, r: int) -> torch.Tensor:
    """Pre-activations [k, r, H] of members e0..e1-1, rows 0..r-1: the pair's two rows of W0 summed (+ b0)."""
    h = F.embedding_bag(index[0], flat, index[1], mode="sum").view(e1 - e0, r, flat.shape[1])
    return h if b0 is None else h.add_(b0[e0:e1, None])


def tiled_pair_mlp(W0: torch.Tensor, b0: torch.Tensor | None, W1: torch.Tensor, b1: torch.Tensor | None,
                   a: torch.Tensor, b: torch.Tensor, act: str, mask: torch.Tensor | None = None,
                   rows: Sequence[int] | None = None, pair_tiles: PairTiles | None = None) -> torch.Tensor:
    """act(W0[e, a] + W0[e, b] + b0[e]) @ W1[e] + b1[e] per member, in tiles. W0 [E, V, H] (rows a and b of it:
    the one-hot pair's two halves, b already offset), W1 [E, H, C], a, b [E, B] per-member rows, mask [E, H] (hidden
    units in use) or None, rows [E] (rows each member uses; None: all B). ``pair_tiles``: ``PairTiles(a, b, V, H,
    rows)`` built earlier for the same batch (None: built here). Returns [E, B, C]."""
    pt = PairTiles(a, b, W0.shape[1], W0.shape[-1], rows) if pair_tiles is None else pair_tiles
    m = None if mask is None else mask.to(W0.dtype)
    return _TiledPairMLP.apply(W0, b0, W1, b1, m, act, pt)
