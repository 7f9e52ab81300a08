"""Per-member train/test splits and label noise, drawn from each member's own streams.

A member's split depends only on (its split seed, the number of rows, its train size): the same (seed, fraction)
gives the same split whatever else is in the ensemble. The loops over members here run once, at set-up.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..errors import ConfigError
from ..rng import generator


def train_size(n_pool: int, fraction: float | None, size: int | None, key: str = "task.train_fraction") -> int:
    """Rows in the training set: ``size`` if given, else floor(fraction * n_pool) (as Nanda's code does)."""
    if size is not None:
        if not 1 <= size <= n_pool:
            raise ConfigError("task.train_size", f"must be in [1, {n_pool}] (got {size})")
        return int(size)
    if fraction is None or not 0.0 < fraction <= 1.0:
        raise ConfigError(key, f"must be in (0, 1] (got {fraction})")
    n = int(math.floor(fraction * n_pool + 1e-9))
    if n < 1:
        raise ConfigError(key, f"{fraction} of {n_pool} rows leaves no training row")
    return n


@dataclass
class MemberSplit:
    """Rows of a shared table assigned to each member.

    train_mask, test_mask: [E, R] bool. train_idx: [E, P_max] int64, each member's train rows padded with row 0;
    train_valid: [E, P_max] bool marks the real entries; n_train: [E] int64 (the member's own P).
    """

    train_mask: torch.Tensor
    test_mask: torch.Tensor
    train_idx: torch.Tensor
    train_valid: torch.Tensor
    n_train: torch.Tensor

    def to(self, device) -> "MemberSplit":
        return MemberSplit(*(t.to(device) for t in (self.train_mask, self.test_mask, self.train_idx,
                                                     self.train_valid, self.n_train)))


def member_splits(pool: torch.Tensor, test_pool: torch.Tensor | None, sizes: list[int], seeds: list[int]) -> MemberSplit:
    """Draw each member's training rows from ``pool`` (row indices [R_pool]).

    The test set is ``test_pool`` (row indices) when given, else the pool rows the member did not train on.
    ``sizes`` and ``seeds`` are per member (length E).
    """
    n_rows = int(max(pool.max().item(), test_pool.max().item() if test_pool is not None else 0)) + 1
    E, P_max = len(sizes), max(sizes)
    train_mask = torch.zeros(E, n_rows, dtype=torch.bool)
    train_idx = torch.zeros(E, P_max, dtype=torch.int64)
    for e, (n, seed) in enumerate(zip(sizes, seeds)):
        rows = pool[torch.randperm(len(pool), generator=generator(seed, "split"))[:n]]
        rows = rows.sort().values  # the set, not its draw order, defines the member
        train_mask[e, rows] = True
        train_idx[e, :n] = rows
    n_train = torch.tensor(sizes, dtype=torch.int64)
    train_valid = torch.arange(P_max)[None, :] < n_train[:, None]
    if test_pool is None:
        in_pool = torch.zeros(n_rows, dtype=torch.bool)
        in_pool[pool] = True
        test_mask = in_pool[None, :] & ~train_mask
    else:
        test_mask = torch.zeros(E, n_rows, dtype=torch.bool)
        test_mask[:, test_pool] = True
    return MemberSplit(train_mask, test_mask, train_idx, train_valid, n_train)


def corrupt_labels(labels: torch.Tensor, split: MemberSplit, counts: list[int], seeds: list[int],
                   n_classes: int) -> torch.Tensor:
    """Per-member training labels with ``counts[e]`` training answers replaced by a wrong class.

    labels: [R] clean labels. Returns [E, R]: member e's labels, corrupted on k of its own training rows (each
    corrupted row gets a uniformly random class other than the true one). Test rows keep their clean labels.
    """
    E = len(counts)
    out = labels[None, :].repeat(E, 1)
    for e, (k, seed) in enumerate(zip(counts, seeds)):
        if k == 0:
            continue
        n = int(split.n_train[e])
        if not 0 <= k <= n:
            raise ConfigError("task.label_noise", f"must be in [0, {n}] training rows (got {k})")
        g = generator(seed, "noise")
        rows = split.train_idx[e, torch.randperm(n, generator=g)[:k]]
        shift = torch.randint(1, n_classes, (k,), generator=g)
        out[e, rows] = (labels[rows] + shift) % n_classes
    return out
