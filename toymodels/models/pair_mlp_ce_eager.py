"""Gromov's two-layer net on one-hot pairs and its softmax cross-entropy in one eager pass of tiles: each member's
mean loss and every gradient, the eager CPU step's path (``EnsembleMLP.fused_mean_loss``).

The same quantity as ``pair_mlp_ce`` (the compiled step's path) -- loss[e] = sum_n w[e, n] CE(logits[e, n], y[e, n])
with row weights w (1 / the member's row count on its rows, 0 elsewhere) -- written for eager execution: lookups by
``embedding_bag`` over the batch's kept tile indices (``pair_mlp.PairTiles``), in-place updates of each tile's
buffers, the log-softmax over the class axis of [k, C, r] logits (the GEMM's fast orientation, so no transposing
copy), and the logits' gradient (softmax - one-hot, weighted) used at once by both gradient GEMMs while the tile's
activations are still in cache. Against the tiled kernel followed by the loss head (``pair_mlp`` + ``losses``), one
pass does the lookup and activation once instead of twice (forward and backward) and the softmax only on the rows a
tile computes, not on every member's padding; ``scripts/bench_main_job.py`` times the step. The backward only
scales the kept gradients by each member's upstream gradient.
"""
from __future__ import annotations

import torch

from ..activations import activation
from .pair_mlp import PairTiles, backprop_tile, pre_activations


class _PairCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, W0, b0, W1, b1, mask, y, w, act: str, pt: PairTiles):
        # W0 [E, V, H], b0 [E, H] | None, W1 [E, H, C], b1 [E, C] | None, mask [E, H] | None (hidden units in use),
        # y [E, B] labels, w [E, B] row weights, pt: the batch's tiles (rows of the flattened W0 [E * V, H])
        E, H, C = W0.shape[0], W0.shape[-1], W1.shape[-1]
        flat, W1t = W0.reshape(-1, H), W1.mT  # [E * V, H], [E, C, H]
        f = activation(act)
        picked = torch.zeros(E, 1, w.shape[1], dtype=W0.dtype, device=W0.device)  # label log-probabilities
        minus_one = torch.full((max(e1 - e0 for e0, e1, _ in pt.plan), 1, w.shape[1]), -1.0, dtype=W0.dtype,
                               device=W0.device)
        dflat = torch.zeros_like(flat)
        dW1t = torch.empty(E, C, H, dtype=W1.dtype, device=W1.device)
        db0 = None if b0 is None else torch.empty_like(b0)
        db1 = None if b1 is None else torch.empty_like(b1)
        for (e0, e1, r), index in zip(pt.plan, pt.index):
            h = pre_activations(flat, b0, index, e0, e1, r)  # [k, r, H]
            z = h * h if act == "quadratic" else f(h)
            if mask is not None:
                z = z * mask[e0:e1, None]
            logits = torch.bmm(W1t[e0:e1], z.mT)  # [k, C, r]
            if b1 is not None:
                logits.add_(b1[e0:e1, :, None])
            lsm = torch.log_softmax(logits, dim=1)  # [k, C, r]
            yt, wt = y[e0:e1, :r, None].mT, w[e0:e1, None, :r]  # [k, 1, r]
            torch.gather(lsm, 1, yt, out=picked[e0:e1, :, :r])
            # d loss / d logits = (softmax - one-hot) w: zero on rows outside the member's batch (w = 0), as the
            # head's backward through member_mean gives them
            gt = lsm.exp_().scatter_add_(1, yt, minus_one[:e1 - e0, :, :r]).mul_(wt)  # [k, C, r]
            torch.bmm(gt, z, out=dW1t[e0:e1])  # [k, C, H]
            if db1 is not None:
                torch.sum(gt, 2, out=db1[e0:e1])
            backprop_tile(gt.mT, W1t, h, z, act, mask, db0, dflat, index, e0, e1)
        # where, not a product, on rows outside a member's batch: a NaN there must not leak into the loss
        losses = torch.where(w > 0, picked[:, 0] * w, 0.0).sum(1).neg_()  # [E]
        grads = (dflat.view_as(W0), db0, dW1t, db1)
        ctx.has = [g is not None for g in grads]
        ctx.save_for_backward(*(g for g in grads if g is not None))
        return losses

    @staticmethod
    def backward(ctx, g):
        # each kept gradient times its member's upstream gradient g [E]; W1's written in W1's own layout (the
        # GEMM left it [E, C, H]), so that autograd hands it over without another copy
        kept = iter(ctx.saved_tensors)
        dW0, db0, dW1t, db1 = (next(kept) if has else None for has in ctx.has)
        col = lambda t: g.to(t.dtype).view(-1, *([1] * (t.dim() - 1)))  # noqa: E731  [E, 1, ...]
        dW1 = torch.mul(dW1t.mT, col(dW1t), out=torch.empty(dW1t.mT.shape, dtype=dW1t.dtype, device=dW1t.device))
        return (dW0 * col(dW0), None if db0 is None else db0 * col(db0), dW1,
                None if db1 is None else db1 * col(db1), None, None, None, None, None)


def pair_cross_entropy_tiles(W0: torch.Tensor, b0: torch.Tensor | None, W1: torch.Tensor, b1: torch.Tensor | None,
                             y: torch.Tensor, valid: torch.Tensor, act: str, mask: torch.Tensor | None,
                             pair_tiles: PairTiles) -> torch.Tensor:
    """Each member's mean softmax cross-entropy [E] over its valid rows, as the tiled kernel followed by
    ``losses.member_mean`` of ``CrossEntropyHead.row_loss`` computes it. W0 [E, V, H], W1 [E, H, C], y, valid
    [E, B], mask [E, H] or None, ``pair_tiles``: the batch's ``PairTiles``."""
    w = valid.to(W0.dtype) / valid.sum(1, keepdim=True).clamp(min=1).to(W0.dtype)  # [E, B]
    m = None if mask is None else mask.to(W0.dtype)
    return _PairCrossEntropy.apply(W0, b0, W1, b1, m, y, w, act, pair_tiles)
