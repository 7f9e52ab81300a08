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

import contextlib
from abc import ABC, abstractmethod
from typing import Callable, ClassVar

import torch
from torch import nn

from ..optim.base import EnsembleOptimizer
from ..optim.guard import load_diverged, mark_diverged, member_finite


def _backward(total: torch.Tensor):
    total.backward()


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
        No host synchronisation: nothing here waits for the device (tests/test_compile.py checks it).
        """
        if self._step_tensor is not None:  # compiled: the step is a device tensor, so no recompilation per step
            self._step_tensor.fill_(step)
            step = self._step_tensor
        loss = (self._compiled.get("losses") or self.precision_losses)(step)  # [E]
        # backward hands its fresh gradients over instead of adding them to zeroed ones (a fill and an add per
        # parameter less); captured CUDA graphs keep their gradient buffers (they need fixed addresses)
        self.optimizer.zero_grad(set_to_none=not self._static_grads)
        (backward or _backward)(loss.sum())  # a sum, not a mean: members never share a scale
        active = (self._compiled.get("guard") or self.guard)(loss.detach(), step)
        (optimizer_step or self.optimizer.step)()
        (self._compiled.get("constrain") or self.constrain_step)(active)
        return loss.detach()

    autocast_dtype: torch.dtype | None = None  # e.g. torch.bfloat16: the forward under torch.autocast

    def autocast(self):
        """The autocast context of the engine's forward passes (training and evaluation); a no-op by default."""
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.diverged.device.type, dtype=self.autocast_dtype)

    def precision_losses(self, step: int | torch.Tensor) -> torch.Tensor:
        with self.autocast():
            return self.losses(step).float() if self.autocast_dtype is not None else self.losses(step)

    @torch.no_grad()
    def guard(self, loss: torch.Tensor, step: int | torch.Tensor) -> torch.Tensor:
        """The divergence guard and the gradient filters: flag members whose loss, gradients or parameters stopped
        being finite (and the step they did), hand the optimiser the active members; returns active [E] bool."""
        for p in self.params:
            if p.grad is None:  # a parameter the losses do not use: a zero gradient, as before set_to_none
                p.grad = torch.zeros_like(p)
        ok = member_finite([loss] + [p.grad for p in self.params] + self.params)  # [E]
        mark_diverged(self.diverged, self.diverged_step, ok, step)
        active = ~self.diverged
        self.filter_gradients(active)
        self.optimizer.set_active(active)
        return active

    @torch.no_grad()
    def constrain_step(self, active: torch.Tensor):
        self.constrain(active)

    _step_tensor: torch.Tensor | None = None
    _static_grads = False  # True when the step is captured in CUDA graphs
    _compiled: dict = {}  # per engine once compiled: "losses", "guard", "constrain" -> compiled callables

    def compile(self, **options) -> "EnsembleEngine":
        """Compile the training step with torch.compile(fullgraph=True, dynamic=False): the losses (forward, and
        through AOTAutograd the backward), the guard with the gradient filters, the optimiser update and the
        constraint, each one graph; a graph break raises. ``options`` go to torch.compile (e.g. mode=
        "reduce-overhead" captures CUDA graphs). The step number becomes a device tensor, so the graphs never
        depend on it; shapes are static. Dynamo's caches are reset first: its graphs guard on the objects they were
        traced for, so engines compiled one after another (a sweep's chunks) would otherwise pile up
        recompilations until dynamo's limit; an engine compiled earlier recompiles when it runs again."""
        torch._dynamo.reset()

        def c(f):
            return torch.compile(f, fullgraph=True, dynamic=False, **options)

        self._step_tensor = torch.zeros((), dtype=torch.int64, device=self.diverged.device)
        self._static_grads = options.get("mode") == "reduce-overhead"
        self._compiled = {"losses": c(self.precision_losses), "guard": c(self.guard),
                          "constrain": c(self.constrain_step)}
        self.optimizer.compile(c)
        return self

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
