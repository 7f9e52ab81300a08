"""Per-member minibatches without a Python loop over members.

Each member walks through its own training rows in epochs; the order of epoch k is the argsort of
``hash_uniform(batch_seed, k, position)``, so it depends only on the member's batch seed, its epoch and its own
training set -- not on E, on the member's position or on the chunk it lands in -- and resuming needs only the step.
The last batch of an epoch may be short; its missing rows carry weight 0.
"""
from __future__ import annotations

import torch

from ..rng import hash_uniform
from .splits import MemberSplit


def sample_positions(train_valid: torch.Tensor, n_train: torch.Tensor, batch_seeds: torch.Tensor,
                     step: int | torch.Tensor, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Positions of step ``step``'s minibatch in each member's own list of training rows.

    train_valid [E, P_max] bool marks each member's real rows (the first n_train [E] positions); returns
    pos [E, B] int64 (in 0..P_max-1) and valid [E, B] bool (False past the end of a short last batch).
    """
    E, P_max = train_valid.shape
    n = n_train  # [E]
    per_epoch = torch.div(n + batch_size - 1, batch_size, rounding_mode="floor")  # [E] batches per epoch
    epoch, k = torch.div(step, per_epoch, rounding_mode="floor"), torch.remainder(step, per_epoch)  # [E]
    keys = hash_uniform(batch_seeds, epoch, torch.arange(P_max, device=n.device))  # [E, P_max]
    keys = torch.where(train_valid, keys, 2.0)  # padding sorts last
    order = torch.argsort(keys, dim=1, stable=True)  # [E, P_max] positions of this epoch's order
    pos = k[:, None] * batch_size + torch.arange(batch_size, device=n.device)[None, :]  # [E, B]
    valid = pos < n[:, None]
    pos = pos.clamp(max=P_max - 1)
    return order.gather(1, pos), valid


def sample_batch(split: MemberSplit, batch_seeds: torch.Tensor, step: int | torch.Tensor,
                 batch_size: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows of step ``step`` for every member.

    Returns idx [E, B] int64 row indices into the table and valid [E, B] bool. ``batch_size`` None means full
    batch: every member's whole training set (B = P_max, padded entries invalid).
    """
    if batch_size is None:
        return split.train_idx, split.train_valid
    pos, valid = sample_positions(split.train_valid, split.n_train, batch_seeds, step, batch_size)
    return split.train_idx.gather(1, pos), valid
