"""The classification engine: modular-arithmetic and image tasks with any classification model (Nanda's
transformer, MLPs, Liu's toy, two-layer nets), a loss head, per-member optimisers, gradient filters and constraints.

A step samples each member's rows (``toymodels.tasks.batching``), runs the model on them, and takes each member's
mean row loss over its own rows; ``evaluate`` scores every member on its own train and test rows of the full table
(in chunks of ``eval_chunk_rows``), accuracy included. The guarded update is the base class's
(``toymodels.engines.base``); Grokfast / PerpGrad filters run between the guard and the optimiser step, the Omnigrok
constant-norm constraint after it.
"""
from __future__ import annotations

import torch

from ..losses import Head, member_mean
from ..models.base import EnsembleModel
from ..optim.base import EnsembleOptimizer
from ..optim.constraints import ConstantNorm
from ..optim.filters import GradFilter
from ..tasks.batching import sample_batch
from ..tasks.data import EnsembleData
from .base import EnsembleEngine


class ClassificationEngine(EnsembleEngine):
    metric_names = ("train_loss", "test_loss", "train_acc", "test_acc")

    def __init__(self, data: EnsembleData, model: EnsembleModel, head: Head, optimizer: EnsembleOptimizer,
                 filters: list[GradFilter] | None = None, constraint: ConstantNorm | None = None,
                 batch_size: int | None = None, batch_seeds: torch.Tensor | None = None,
                 eval_chunk_rows: int | None = None):
        super().__init__(model, optimizer, data.n_members, data.labels.device, batch_size, batch_seeds)
        self.data, self.head = data, head
        self.filters, self.constraint = list(filters or []), constraint
        rows = data.split.train_mask | data.split.test_mask
        self.eval_rows = torch.nonzero(rows.any(0)).squeeze(1)  # [R_eval] rows any member trains or tests on
        self.eval_chunk_rows = eval_chunk_rows or len(self.eval_rows)
        # full batch: each member's batch is its n_train rows then padding, the same every step (read once here)
        self.train_rows = data.split.n_train.tolist() if batch_size is None else None

    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(x [E, B, ...], y [E, B], valid [E, B]) of training step ``step`` (0-based). Full batch: the same
        tensors every step, gathered once (and a model may key per-batch work on them, ``EnsembleMLP``); under
        torch.compile they are gathered inside the graph."""
        if self.batch_size is None and not torch.compiler.is_compiling():
            if self._full_batch is None:
                self._full_batch = self._gather(step)
            return self._full_batch
        return self._gather(step)

    _full_batch: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None

    def _gather(self, step: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        idx, valid = sample_batch(self.data.split, self.batch_seeds, step, self.batch_size)
        x = self.data.table.x[idx]
        y = self.data.labels.gather(1, idx)
        return x, y, valid

    def losses(self, step: int) -> torch.Tensor:
        """Per-member training loss [E] on the step's batch (each member's mean over its own rows)."""
        x, y, valid = self.batch(step)
        fused = self.model.fused_mean_loss(x, y, valid, self.train_rows, self.head)
        if fused is not None:
            return fused
        return member_mean(self.head.row_loss(self.model.forward_rows(x, self.train_rows), y), valid)

    def filter_gradients(self, active: torch.Tensor):
        for f in self.filters:  # in order: Grokfast sees raw gradients, PerpGrad projects the final direction
            f.apply(active)

    def constrain(self, active: torch.Tensor):
        if self.constraint is not None:
            self.constraint.apply(active)

    @torch.no_grad()
    def evaluate_rows(self) -> dict[str, torch.Tensor]:
        """Per-row losses and predictions over the evaluated rows, all members at once: row_loss, pred, labels,
        train_mask, test_mask, each [E, R_eval]."""
        rows = self.eval_rows
        losses, preds = [], []
        for chunk in rows.split(self.eval_chunk_rows):
            out = self.model(self.data.table.x[chunk])  # shared input -> [E, b, C]
            losses.append(self.head.row_loss(out, self.data.labels[:, chunk]))
            preds.append(self.head.predict(out))
        s = self.data.split
        return {"row_loss": torch.cat(losses, 1), "pred": torch.cat(preds, 1), "labels": self.data.labels[:, rows],
                "train_mask": s.train_mask[:, rows], "test_mask": s.test_mask[:, rows]}

    @torch.no_grad()
    def evaluate(self) -> dict[str, torch.Tensor]:
        """train_loss, test_loss, train_acc, test_acc [E] float64, each over the member's own rows. A member with no
        rows of a split (train_fraction 1: no test rows) gets NaN for it, not the 0 of an empty mean: NaN crosses no
        threshold and members.csv leaves it empty."""
        ev = self.evaluate_rows()
        out = {}
        for split in ("train", "test"):
            mask = ev[f"{split}_mask"]
            has = mask.any(dim=1)  # [E]
            loss = member_mean(ev["row_loss"], mask).to(torch.float64)
            acc = member_accuracy(ev["pred"], ev["labels"], mask)
            out[f"{split}_loss"] = torch.where(has, loss, torch.nan)
            out[f"{split}_acc"] = torch.where(has, acc, torch.nan)
        return {m: out[m] for m in self.metric_names}

    def extra_state(self) -> dict:
        return {"filters": [f.state_dict() for f in self.filters],
                "constraint": self.constraint.state_dict() if self.constraint else None}

    def load_extra_state(self, state: dict):
        for f, s in zip(self.filters, state["filters"]):
            f.load_state_dict(s)
        if self.constraint is not None and state["constraint"] is not None:
            self.constraint.load_state_dict(state["constraint"])


def member_accuracy(pred: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """[E] float64 accuracy over each member's masked rows (pred, labels, mask: [E, R])."""
    hit = (pred == labels) & mask
    return hit.sum(1).double() / mask.sum(1).clamp(min=1).double()
