"""Gromov's two-layer net on one-hot pairs and its softmax cross-entropy in one pass: the loss and every gradient,
tile by tile. The compiled training step's path on the CPU.

loss[e] = sum_n w[e, n] CE(act(W0[e, a_n] + W0[e, b_n] + b0[e]) @ W1[e] + b1[e], y[e, n])

with row weights w [E, B] (1 / the member's row count on its rows, 0 on padding): each member's mean loss. The
forward runs the tiles of ``pair_mlp.tiles`` (a few members each, their own rows only) and computes per tile the
lookup, activation, logits, log-softmax, the member's loss, then the logits' gradient (softmax - one-hot) and from
it the output layer's and the embedding's gradients; the backward only scales the kept gradients by each member's
upstream gradient. Everything is plain tensor algebra (lookups by indexing, no in-place update of an input), so
torch.compile fuses each tile's elementwise chain around its GEMMs. Hand-written because inductor's own backward of
the model and the loss head keeps [E, B, H] activations and the loss's passes apart; this functional chain is slow
eagerly (advanced indexing, fresh tensors), so an eager step takes ``pair_mlp_ce_eager``'s in-place version of the
same pass instead (``EnsembleMLP.fused_mean_loss``). Timings in the README ("Speed").
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F

from ..activations import activation, derivative
from .base import flat_rows
from .pair_mlp import tiles


def _losses_and_gradients(W0, b0, W1, b1, pairs, mask, y, w, act: str, plan):
    """(losses [E], (dW0, db0 | None, dW1, db1 | None)) of the tiles' one pass. W0 [E, V, H], b0 [E, H] | None,
    W1 [E, H, C], b1 [E, C] | None, pairs [E, B, 2] rows of W0 flattened to [E * V, H], mask [E, H] | None (hidden
    units in use), y [E, B] labels, w [E, B] row weights; no autograd graph is recorded."""
    H, C = W0.shape[-1], W1.shape[-1]
    flat = W0.reshape(-1, H)
    f = activation(act)
    dflat = torch.zeros_like(flat)  # [E * V, H]
    losses, dW1t, db0, db1 = [], [], [], []
    for e0, e1, r in plan:
        pr = pairs[e0:e1, :r]  # [k, r, 2]
        h = flat[pr[..., 0]] + flat[pr[..., 1]]  # [k, r, H]
        if b0 is not None:
            h = h + b0[e0:e1, None]
        z = h * h if act == "quadratic" else f(h)
        if mask is not None:
            z = z * mask[e0:e1, None]
        logits = torch.bmm(W1[e0:e1].mT, z.mT)  # [k, C, r]: the fast orientation for small C
        if b1 is not None:
            logits = logits + b1[e0:e1, :, None]
        logp = torch.log_softmax(logits, dim=1)  # [k, C, r]
        yt, wt = y[e0:e1, :r], w[e0:e1, :r]  # [k, r]
        use = wt > 0  # where, not a product, on rows outside a member's batch: a NaN there must not leak
        losses.append(torch.where(use, -logp.gather(1, yt[:, None]).squeeze(1) * wt, 0.0).sum(1))  # [k]
        gt = torch.where(use[:, None], (logp.exp() - F.one_hot(yt, C).mT.to(logp.dtype)) * wt[:, None],
                         0.0)  # d loss / d logits [k, C, r]
        dW1t.append(torch.bmm(gt, z))  # [k, C, H]
        if b1 is not None:
            db1.append(gt.sum(2))
        dh = torch.bmm(gt.mT, W1[e0:e1].mT) * derivative(act, h)  # [k, r, H]
        if mask is not None:
            dh = dh * mask[e0:e1, None]
        if b0 is not None:
            db0.append(dh.sum(1))
        dh = dh.reshape(-1, H)
        dflat.index_add_(0, pr[..., 0].reshape(-1), dh)
        dflat.index_add_(0, pr[..., 1].reshape(-1), dh)
    grads = (dflat.view_as(W0), torch.cat(db0) if db0 else None, torch.cat(dW1t).mT,
             torch.cat(db1) if db1 else None)
    return torch.cat(losses), grads


def pair_mlp_cross_entropy(W0: torch.Tensor, b0: torch.Tensor | None, W1: torch.Tensor, b1: torch.Tensor | None,
                           a: torch.Tensor, b: torch.Tensor, y: torch.Tensor, valid: torch.Tensor, act: str,
                           mask: torch.Tensor | None = None, rows: Sequence[int] | None = None) -> torch.Tensor:
    """Each member's mean softmax cross-entropy [E] over its valid rows, as the model followed by the loss head
    computes it (``losses.member_mean`` of ``CrossEntropyHead.row_loss``). W0 [E, V, H] (rows a and b of it, b
    already offset), W1 [E, H, C], a, b, y, valid [E, B], mask [E, H] or None, rows [E] (rows each member uses;
    None: all B)."""
    plan = tuple(tiles(W0.shape[0], a.shape[1], W0.shape[-1], rows))
    w = valid.to(W0.dtype) / valid.sum(1, keepdim=True).clamp(min=1).to(W0.dtype)  # [E, B]
    m = None if mask is None else mask.to(W0.dtype)
    _, pairs = flat_rows(W0, torch.stack([a, b], -1))  # [E, B, 2]
    params = (W0, b0, W1, b1)
    with torch.no_grad():
        losses, grads = _losses_and_gradients(*(None if p is None else p.detach() for p in params), pairs, m, y, w,
                                              act, plan)
    # the kept gradients become the losses' gradients through a surrogate whose value is zero: d(sum_e c_e
    # loss_e) / d p[e] = c_e grad[e]. Not an autograd.Function: AOTAutograd's cache takes no graph holding one, and
    # a warm start would trace the joint graph again (~2 s on the main job)
    surrogate = sum((p * g).flatten(1).sum(1) for p, g in zip(params, grads) if p is not None)  # [E]
    return losses + (surrogate - surrogate.detach())
