"""The parallelograms of Liu et al.'s addition toy, as index tensors built once per p.

The toy's table (``toymodels.tasks.operations.operation_table("liu_add", p)``) has one row per unordered pair
a <= b of symbols 0..p-1, in lexicographic order (``np.triu_indices(p)``): R = p (p + 1) / 2 rows. A
parallelogram is a pair of *distinct* rows (a, b), (c, d) with the same sum a + b = c + d; in representation space
it holds when E_a + E_b = E_c + E_d. Each unordered pair of rows is listed once (no row is counted against itself,
no pair twice). This is the set Liu et al.'s code calls P0 and the one its RQI loop enumerates as
i < j <= m < n with i + n = j + m (outer pair (i, n), inner pair (j, m); an inner pair may repeat a symbol, e.g.
E_0 + E_2 = 2 E_1).

The sets depend only on p; they are computed once per (p, device) and cached.
"""
from __future__ import annotations

import numbers
from functools import lru_cache
from typing import NamedTuple

import numpy as np
import torch

from ...errors import ConfigError


class Parallelograms(NamedTuple):
    """quads [P, 4] int64 (a, b, c, d) with a + b = c + d, (a, b) the outer pair (a < c <= d < b);
    rows [P, 2] int64: the Liu-table rows of (a, b) and (c, d); pairs [R, 2] int64: the table's operands;
    coefficients [P, p] float64: e_a + e_b - e_c - e_d, the parallelogram as a linear equation on the symbols."""

    quads: torch.Tensor
    rows: torch.Tensor
    pairs: torch.Tensor
    coefficients: torch.Tensor


def _check_p(p: int) -> int:
    if not isinstance(p, numbers.Integral) or isinstance(p, bool) or p < 2:
        raise ConfigError("task.p", f"parallelograms need an integer p >= 2 (got {p!r})")
    return int(p)


@lru_cache(maxsize=None)
def _parallelograms_numpy(p: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    a, b = np.triu_indices(p)  # the liu_add table's rows, a <= b, lexicographic
    pairs = np.stack([a, b], 1).astype(np.int64)
    sums = a + b
    r1, r2 = np.triu_indices(len(a), k=1)  # every unordered pair of distinct rows, once
    keep = sums[r1] == sums[r2]
    r1, r2 = r1[keep], r2[keep]
    # outer pair first: in lexicographic order the row with the smaller first operand comes first, and with the
    # same sum a smaller first operand means a larger second one, so (a1, b1) = rows[r1] is the outer pair.
    rows = np.stack([r1, r2], 1).astype(np.int64)
    quads = np.concatenate([pairs[r1], pairs[r2]], 1)
    coef = np.zeros((len(rows), p), dtype=np.float64)
    idx = np.arange(len(rows))
    np.add.at(coef, (idx, quads[:, 0]), 1.0)
    np.add.at(coef, (idx, quads[:, 1]), 1.0)
    np.add.at(coef, (idx, quads[:, 2]), -1.0)
    np.add.at(coef, (idx, quads[:, 3]), -1.0)
    return quads, rows, pairs, coef


@lru_cache(maxsize=64)
def _parallelograms_on(p: int, device: str) -> Parallelograms:
    quads, rows, pairs, coef = _parallelograms_numpy(p)
    dev = torch.device(device)
    return Parallelograms(torch.from_numpy(quads).to(dev), torch.from_numpy(rows).to(dev),
                          torch.from_numpy(pairs).to(dev), torch.from_numpy(coef).to(dev))


def parallelograms(p: int, device: torch.device | str = "cpu") -> Parallelograms:
    """All parallelograms of Liu's addition table on p symbols (cached per p and device). Callers must not
    modify the returned tensors in place."""
    return _parallelograms_on(_check_p(p), str(torch.device(device)))


def liu_table_size(p: int) -> int:
    """R = p (p + 1) / 2, the number of rows of Liu's table."""
    p = _check_p(p)
    return p * (p + 1) // 2
