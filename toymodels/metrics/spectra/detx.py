"""SETOL's ERG / detX condition, batched, with sums of logs instead of products (no overflow).

Rescale the K eigenvalues to mean 1 (x = K lambda / sum(lambda)). Walking down from the largest, the detX tail
is the first (shortest) tail whose product of eigenvalues drops below 1, i.e. the largest position p >= 1 of the
ascending ESD with sum_{q >= p} ln x_q < 0:

    detX_num = K - p            (also WeightWatcher's num_ERG_spikes)
    detX_val = lambda_p         (the cutoff eigenvalue, original scale)
    detX_val_unrescaled = x_p   (WeightWatcher's name for the cutoff on the rescaled, mean-1 scale)
    ERG_gap = detX_num - num_pl_spikes
    detX_delta = xmin - detX_val  (SETOL: -> 0 from above as alpha -> 2, negative for alpha < 2)

Edge cases follow WeightWatcher 0.7.7's ``detX_constraint``: when no tail qualifies, detX_num = K and the cutoff is
lambda_1 (its loop ends at position 1); fewer than 2 eigenvalues or a flat ESD give detX_num = 0 and lambda_0.
Zero eigenvalues have ln 0 = -inf, which makes any tail containing them qualify, as their product 0 < 1 does.
"""
from __future__ import annotations

import math

import torch


def detx_metrics(evals: torch.Tensor, num_pl_spikes: torch.Tensor | None = None,
         xmin: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """evals: [E, K] ascending (all eigenvalues, zeros included). Returns [E] tensors (see the module docstring)."""
    if evals.dim() != 2:
        raise ValueError(f"evals must be [E, K], got {tuple(evals.shape)}")
    ev = evals.to(torch.float64)
    E, K = ev.shape
    dev = ev.device
    finite = torch.isfinite(ev).all(dim=1) & (ev.sum(dim=1) > 0)
    ev = torch.where(finite[:, None], ev, torch.ones_like(ev))
    x = ev * (K / ev.sum(dim=1, keepdim=True))  # mean 1
    logs = torch.log(x)  # -inf for zeros
    tail_log = logs.flip(1).cumsum(1).flip(1)  # [E, K] sum_{q >= p} ln x_q
    pos = torch.arange(K, device=dev)
    hit = (tail_log < 0) & (pos >= 1)
    last = torch.where(hit, pos, torch.full_like(pos, -1)).amax(dim=1) if K else torch.zeros(E, dtype=torch.long,
                                                                                           device=dev)
    found = last >= 1
    flat = ~(ev[:, 0] < ev[:, -1]) if K else torch.ones(E, dtype=torch.bool, device=dev)
    degenerate = flat | (K < 2)
    num = torch.where(found, K - last, torch.full_like(last, K))
    idx = torch.where(found, last, torch.ones_like(last))
    num = torch.where(degenerate, torch.zeros_like(num), num)
    idx = torch.where(degenerate, torch.zeros_like(idx), idx)
    nan = torch.full((), math.nan, dtype=torch.float64, device=dev)
    out = {
        "detX_num": torch.where(finite, num, torch.full_like(num, -1)),
        "detX_val": torch.where(finite, ev.gather(1, idx[:, None])[:, 0], nan),
        "detX_val_unrescaled": torch.where(finite, x.gather(1, idx[:, None])[:, 0], nan),
    }
    out["num_ERG_spikes"] = out["detX_num"]
    if num_pl_spikes is not None:
        gap = (out["detX_num"] - num_pl_spikes).to(torch.float64)
        out["ERG_gap"] = torch.where(finite & (num_pl_spikes >= 0), gap, nan)
    if xmin is not None:
        out["detX_delta"] = xmin.to(torch.float64) - out["detX_val"]
    return out
