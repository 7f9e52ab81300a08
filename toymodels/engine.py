"""One ensemble fit in plain PyTorch: data, model, head, optimiser, gradient filters, weight constraint.

``EnsembleEngine.train_step`` is the whole training step (sample each member's rows, forward, per-member losses,
one backward of their sum, divergence guard, filters, optimiser, constraint); ``evaluate`` scores every member on
its own train and test rows of the full table. The Lightning module and the plain-loop benchmark both drive this
object, so what is benchmarked is what trains.
"""
from __future__ import annotations

from typing import Callable

import torch

from .losses import Head, member_mean
from .models.base import EnsembleModel
from .optim.base import EnsembleOptimizer
from .optim.constraints import ConstantNorm
from .optim.filters import GradFilter
from .optim.guard import load_diverged, mark_diverged, member_finite
from .tasks.batching import sample_batch
from .tasks.data import EnsembleData


class EnsembleEngine:
    def __init__(self, data: EnsembleData, model: EnsembleModel, head: Head, optimizer: EnsembleOptimizer,
                 filters: list[GradFilter] | None = None, constraint: ConstantNorm | None = None,
                 batch_size: int | None = None, batch_seeds: torch.Tensor | None = None,
                 eval_chunk_rows: int | None = None):
        self.data, self.model, self.head, self.optimizer = data, model, head, optimizer
        self.filters, self.constraint = list(filters or []), constraint
        self.batch_size = batch_size
        E = data.n_members
        dev = data.labels.device
        self.batch_seeds = (batch_seeds if batch_seeds is not None else torch.arange(E)).to(dev)
        self.diverged = torch.zeros(E, dtype=torch.bool, device=dev)
        self.diverged_step = torch.full((E,), -1, dtype=torch.int64, device=dev)  # first frozen step, -1: never
        self.params = [p for p in model.parameters()]
        rows = data.split.train_mask | data.split.test_mask
        self.eval_rows = torch.nonzero(rows.any(0)).squeeze(1)  # rows any member trains or tests on
        self.eval_chunk_rows = eval_chunk_rows or len(self.eval_rows)

    @property
    def n_members(self) -> int:
        return self.data.n_members

    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(x [E, B, ...], y [E, B], valid [E, B]) of training step ``step`` (0-based)."""
        idx, valid = sample_batch(self.data.split, self.batch_seeds, step, self.batch_size)
        x = self.data.table.x[idx]
        y = self.data.labels.gather(1, idx)
        return x, y, valid

    def losses(self, step: int) -> torch.Tensor:
        """Per-member training loss [E] on the step's batch (each member's mean over its own rows)."""
        x, y, valid = self.batch(step)
        return member_mean(self.head.row_loss(self.model(x), y), valid)

    def train_step(self, step: int, backward: Callable[[torch.Tensor], None] | None = None,
                   optimizer_step: Callable[[], None] | None = None) -> torch.Tensor:
        """One update of every active member. Returns the per-member batch losses [E] (before the update).

        ``backward`` / ``optimizer_step`` let a framework (Lightning's manual optimisation) drive those two calls.
        """
        loss = self.losses(step)
        self.optimizer.zero_grad(set_to_none=False)
        (backward or (lambda t: t.backward()))(loss.sum())  # a sum, not a mean: members never share a scale
        with torch.no_grad():
            ok = member_finite([loss] + [p.grad for p in self.params] + self.params)
            mark_diverged(self.diverged, self.diverged_step, ok, step)
            active = ~self.diverged
            for f in self.filters:
                f.apply(active)
            self.optimizer.set_active(active)
        (optimizer_step or self.optimizer.step)()
        if self.constraint is not None:
            self.constraint.apply(active)
        return loss.detach()

    @torch.no_grad()
    def evaluate(self) -> dict[str, torch.Tensor]:
        """Per-row losses and predictions over the evaluated rows, all members at once.

        Returns row_loss [E, R_eval], pred [E, R_eval], labels [E, R_eval], train_mask / test_mask [E, R_eval].
        """
        rows = self.eval_rows
        losses, preds = [], []
        for chunk in rows.split(self.eval_chunk_rows):
            out = self.model(self.data.table.x[chunk])  # shared input -> [E, b, C]
            y = self.data.labels[:, chunk]
            losses.append(self.head.row_loss(out, y))
            preds.append(self.head.predict(out))
        s = self.data.split
        return {"row_loss": torch.cat(losses, 1), "pred": torch.cat(preds, 1), "labels": self.data.labels[:, rows],
                "train_mask": s.train_mask[:, rows], "test_mask": s.test_mask[:, rows]}

    def state_dict(self) -> dict:
        """What a checkpoint needs beyond the model and optimiser: filter and constraint states, diverged flags."""
        return {"filters": [f.state_dict() for f in self.filters], "diverged": self.diverged,
                "diverged_step": self.diverged_step,
                "constraint": self.constraint.state_dict() if self.constraint else None,
                # the minibatch stream's state is (seed, step): the seeds are kept here, the step by Lightning
                "batch_seeds": self.batch_seeds}

    def load_state_dict(self, state: dict):
        if not torch.equal(state["batch_seeds"].cpu(), self.batch_seeds.cpu()):
            raise ValueError("the checkpoint's minibatch seeds differ from this run's members")
        for f, s in zip(self.filters, state["filters"]):
            f.load_state_dict(s)
        load_diverged(self, state)
        if self.constraint is not None and state["constraint"] is not None:
            self.constraint.load_state_dict(state["constraint"])


def member_accuracy(pred: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """[E] accuracy over each member's masked rows (plain PyTorch; the Lightning layer uses torchmetrics)."""
    hit = (pred == labels) & mask
    return hit.sum(1).double() / mask.sum(1).clamp(min=1).double()
