"""The engine contract: one ensemble fit in plain PyTorch, whatever the model family.

Every family's engine subclasses ``EnsembleEngine`` and implements two things:
    ``losses(step) -> [E]``   each member's training objective on its own batch of step ``step`` (0-based);
    ``evaluate() -> {metric: [E]}``   every name of ``metric_names``, float64, all members at once.
Everything else is written here once: the guarded update (backward of the summed losses, the divergence guard, the
gradient / constraint hooks, the optimiser step), the diverged flags and the step each member froze at, the
per-member minibatch seeds, and the checkpoint state. The Lightning module (``trainers.module``), the plain-loop
benchmarks and the tests all drive an engine through this interface only, so what is benchmarked is what trains.

Members never interact: the losses are summed (each member normalised by its own rows), never averaged over E, and a
member whose loss, gradients or parameters stop being finite is frozen (optimiser state included) without touching
the others.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Callable, ClassVar

import torch
from torch import nn

from ..optim.base import EnsembleOptimizer
from ..optim.guard import load_diverged, mark_diverged, member_finite


class EnsembleEngine(ABC):
    """Base of every engine: ``model`` (an nn.Module whose parameters carry a leading E axis), its per-member
    ``optimizer``, the trained ``params`` (default: all of the model's), ``batch_size`` (None: full batch) and the
    members' minibatch seeds [E] (the minibatch stream's state is (seed, step); the step is the caller's)."""

    metric_names: ClassVar[tuple[str, ...]]
    head: nn.Module | None = None  # a loss head with parameters or buffers to checkpoint (classification)

    def __init__(self, model: nn.Module, optimizer: EnsembleOptimizer, n_members: int, device: torch.device,
                 batch_size: int | None = None, batch_seeds: torch.Tensor | None = None,
                 params: list[torch.Tensor] | None = None, columns: dict[str, list] | None = None):
        self.model, self.optimizer = model, optimizer
        self.params = list(model.parameters()) if params is None else list(params)
        self.batch_size = batch_size
        self.batch_seeds = (torch.arange(n_members) if batch_seeds is None else batch_seeds).to(device)  # [E] int64
        self.diverged = torch.zeros(n_members, dtype=torch.bool, device=device)  # [E]
        self.diverged_step = torch.full((n_members,), -1, dtype=torch.int64, device=device)  # [E], -1: never
        self._n = n_members
        self.columns = dict(columns or {})  # members.csv settings columns the family adds (N, P, lr, ...)
        self.extra_columns: dict[str, list] = {}  # members.csv outcome columns that callbacks add

    @property
    def n_members(self) -> int:
        return self._n

    # ---- what a family implements ------------------------------------------------------------------------------
    @abstractmethod
    def losses(self, step: int) -> torch.Tensor:
        """Per-member training objective [E] on the batch of step ``step``."""

    @abstractmethod
    def evaluate(self) -> dict[str, torch.Tensor]:
        """{name: [E] float64} for every name of ``metric_names`` (no gradients)."""

    def filter_gradients(self, active: torch.Tensor):
        """Hook between the guard and the optimiser step (gradient filters); ``active`` [E] bool."""

    def constrain(self, active: torch.Tensor):
        """Hook after the optimiser step (weight-norm constraints); ``active`` [E] bool."""

    def extra_state(self) -> dict:
        """Checkpoint state beyond model, optimiser, diverged flags and batch seeds."""
        return {}

    def load_extra_state(self, state: dict):
        """Restore what ``extra_state`` saved (``state`` is the whole engine state)."""

    def record_columns(self) -> dict[str, list]:
        """Engine-specific members.csv columns, one list of E values each: settings (N, P, ...), outcomes."""
        return {**self.columns, **self.extra_columns}

    # ---- the guarded update, written once -------------------------------------------------------------------
    def train_step(self, step: int, backward: Callable[[torch.Tensor], None] | None = None,
                   optimizer_step: Callable[[], None] | None = None) -> torch.Tensor:
        """One update of every active member; returns the per-member losses [E] before the update.

        ``backward`` / ``optimizer_step`` let a framework (Lightning's manual optimisation) drive those two calls.
        """
        loss = self.losses(step)  # [E]
        self.optimizer.zero_grad(set_to_none=False)
        (backward or (lambda t: t.backward()))(loss.sum())  # a sum, not a mean: members never share a scale
        with torch.no_grad():
            ok = member_finite([loss] + [p.grad for p in self.params] + self.params)  # [E]
            mark_diverged(self.diverged, self.diverged_step, ok, step)
            active = ~self.diverged
            self.filter_gradients(active)
            self.optimizer.set_active(active)
        (optimizer_step or self.optimizer.step)()
        with torch.no_grad():
            self.constrain(active)
        return loss.detach()

    # ---- checkpoint state ---------------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        """What a checkpoint needs beyond the model and optimiser (plain tensors and containers only)."""
        return {"diverged": self.diverged, "diverged_step": self.diverged_step, "batch_seeds": self.batch_seeds,
                **self.extra_state()}

    def load_state_dict(self, state: dict):
        if not torch.equal(state["batch_seeds"].cpu(), self.batch_seeds.cpu()):
            raise ValueError("the checkpoint's minibatch seeds differ from this run's members")
        self.load_extra_state(state)
        load_diverged(self, state)  # checkpoints written before diverged_step existed load it as -1
