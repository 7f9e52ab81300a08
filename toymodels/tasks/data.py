"""A task's whole table on the device, and each member's view of it (split, labels)."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .images import load_images
from .operations import operation_table
from .splits import MemberSplit, corrupt_labels, member_splits, train_size


@dataclass
class TaskTable:
    """All rows of a task.

    x: [R, 2] int64 operand pairs (input_kind "pairs") or [R, D] float (input_kind "dense"); y: [R] int64 answers.
    train_pool: [R_pool] rows a member may train on; test_pool: [R_test] fixed test rows, or None for "the pool
    rows the member does not train on".
    """

    x: torch.Tensor
    y: torch.Tensor
    n_classes: int
    input_kind: str
    n_symbols: int = 0
    train_pool: torch.Tensor | None = None
    test_pool: torch.Tensor | None = None

    @property
    def rows(self) -> int:
        return len(self.y)

    @property
    def pool(self) -> torch.Tensor:
        return self.train_pool if self.train_pool is not None else torch.arange(self.rows)

    @property
    def input_dim(self) -> int:
        return self.x.shape[1]


def symbolic_table(operation: str, p: int) -> TaskTable:
    t = operation_table(operation, p)
    return TaskTable(torch.from_numpy(t.pairs), torch.from_numpy(t.answers), t.n_classes, "pairs", t.n_symbols)


def image_table(name: str, path: str | None = None) -> TaskTable:
    x, y, test_rows = load_images(name, path)
    pool = torch.arange(len(y)) if test_rows is None else torch.arange(int(test_rows[0]))
    test = None if test_rows is None else torch.from_numpy(test_rows)
    return TaskTable(torch.from_numpy(x), torch.from_numpy(y), int(y.max()) + 1, "dense", 0, pool, test)


@dataclass
class EnsembleData:
    """The table plus each member's split and (possibly noisy) training labels [E, R], all on one device."""

    table: TaskTable
    split: MemberSplit
    labels: torch.Tensor  # [E, R]

    @property
    def n_members(self) -> int:
        return self.labels.shape[0]

    def to(self, device) -> "EnsembleData":
        t = self.table
        table = TaskTable(t.x.to(device), t.y.to(device), t.n_classes, t.input_kind, t.n_symbols,
                          None if t.train_pool is None else t.train_pool.to(device),
                          None if t.test_pool is None else t.test_pool.to(device))
        return EnsembleData(table, self.split.to(device), self.labels.to(device))


def ensemble_data(table: TaskTable, fractions: list[float | None], sizes: list[int | None], split_seeds: list[int],
                  noise_counts: list[int], noise_seeds: list[int]) -> EnsembleData:
    """Per-member splits (train fraction or size) and label noise over one shared table (all lists of length E)."""
    pool = table.pool
    n = [train_size(len(pool), f, s) for f, s in zip(fractions, sizes)]
    split = member_splits(pool, table.test_pool, n, split_seeds)
    labels = corrupt_labels(table.y, split, noise_counts, noise_seeds, table.n_classes)
    return EnsembleData(table, split, labels)
