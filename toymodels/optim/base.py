"""Optimisers whose hyperparameters are per-member [E] tensors.

Each parameter has a leading member axis E; each hyperparameter of a param group is an [E] float64 tensor,
broadcast over the parameter's trailing axes. Every member keeps its own step count (state["step"], [E] int64),
so a member frozen by the divergence guard keeps its optimiser state exactly as it was: updates are applied with
``torch.where(active, new, old)`` (never by multiplying with a mask: 0 * NaN = NaN).

Linear warmup follows ``torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(s / W, 1))`` stepped after each
optimiser step (Nanda et al.'s recipe): the k-th update of a member (k = 1, 2, ...) uses lr * min((k - 1) / W, 1),
so its first update has lr 0 (W = 0: no warmup).

Lightning checkpoints these optimisers as usual; tensor-valued hyperparameters do not work with LR schedulers or
LearningRateMonitor, which is why warmup lives here.
"""
from __future__ import annotations

from typing import Iterable

import torch


def as_member_tensor(value, n_members: int, name: str) -> torch.Tensor:
    """A scalar or length-E sequence/tensor -> [E] float64 tensor."""
    t = torch.as_tensor(value, dtype=torch.float64).detach().clone()
    if t.dim() == 0:
        t = t.expand(n_members).clone()
    if t.shape != (n_members,):
        raise ValueError(f"{name}: expected a scalar or {n_members} values, got shape {tuple(t.shape)}")
    return t


def bcast(t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """[E] -> [E, 1, ..., 1] on ``like``'s device, in its dtype (boolean masks stay boolean)."""
    dtype = t.dtype if t.dtype == torch.bool else like.dtype
    return t.to(device=like.device, dtype=dtype).view(-1, *([1] * (like.dim() - 1)))


class EnsembleOptimizer(torch.optim.Optimizer):
    """Base: per-member hyperparameters, per-member step counts, an ``active`` mask of members to update."""

    hyper_names: tuple[str, ...] = ()
    _coefficient_cache: dict = {}

    def __init__(self, params: Iterable, n_members: int, defaults: dict):
        self.n_members = n_members
        defaults = {k: as_member_tensor(v, n_members, k) for k, v in defaults.items()}
        super().__init__(params, defaults)
        for group in self.param_groups:
            for k in self.hyper_names:
                group[k] = as_member_tensor(group[k], n_members, k)
                # keep hyperparameters beside the parameters: no host-device copy per step
                group[k] = group[k].to(group["params"][0].device)
        self.active: torch.Tensor | None = None  # [E] bool, set by the divergence guard before each step

    def set_active(self, active: torch.Tensor | None):
        self.active = active

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        self._apply()
        return loss

    @torch.no_grad()
    def _apply_eager(self):
        """Every parameter's update; no host synchronisation (``compile`` makes it one compiled graph)."""
        for group in self.param_groups:
            self._coefficient_cache = {}
            for p in group["params"]:
                if p.grad is not None:
                    self._update(p, group)
        self._coefficient_cache = {}

    def _coefficients(self, group: dict, t: torch.Tensor) -> torch.Tensor:
        """[K, E] float64 per-member coefficients of one update from the step counts t [E] (subclasses)."""
        raise NotImplementedError

    def _group_coefficients(self, group: dict, t: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
        """``_coefficients`` in p's dtype and device, shaped [K, E, 1, ..., 1] to broadcast over p.

        Computed once per group and step (a group's parameters step together: every one has a gradient each
        step), then shared: a few [E]-sized operations per group instead of a dozen per parameter."""
        cache = self._coefficient_cache
        if "f64" not in cache:
            cache["f64"] = self._coefficients(group, t)
        key = (p.dtype, p.dim())
        if key not in cache:
            c = cache["f64"]
            cache[key] = c.to(device=p.device, dtype=p.dtype).view(*c.shape, *([1] * (p.dim() - 1)))
        return cache[key]

    _apply = _apply_eager

    def compile(self, compile_fn):
        """Run the update through ``compile_fn`` (a torch.compile partial); the closure, if any, stays eager.
        State is created eagerly first, so the compiled graph only updates tensors in place."""
        for group in self.param_groups:
            for p in group["params"]:
                self._init_state(p)
        self._apply = compile_fn(self._apply_eager)

    def _init_state(self, p: torch.Tensor):
        """Create parameter p's optimiser state (its step count; subclasses add their buffers)."""
        if "step" not in self.state[p]:
            self.state[p]["step"] = torch.zeros(self.n_members, dtype=torch.int64, device=p.device)

    def _update(self, p: torch.Tensor, group: dict):
        """Update one parameter (all members at once) from its gradient."""
        raise NotImplementedError

    def _step_counts(self, p: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(old, new) per-member step counts of parameter p, [E] int64 (new = old + 1 for active members)."""
        self._init_state(p)
        inc = 1 if self.active is None else self.active.to(torch.int64)
        new = self.state[p]["step"].add_(inc)  # in place: a captured CUDA graph keeps the same buffer
        return new - inc, new

    def _lr(self, group: dict, new_step: torch.Tensor) -> torch.Tensor:
        """[E] float64 learning rate of the update numbered ``new_step`` (1-based), warmup applied."""
        W = group["warmup_steps"]
        factor = torch.where(W > 0, ((new_step - 1).to(torch.float64) / W.clamp(min=1)).clamp(max=1.0), 1.0)
        return group["lr"] * factor

    def _commit(self, target: torch.Tensor, new: torch.Tensor):
        """target <- new for active members only."""
        if self.active is None:
            target.copy_(new)
        else:
            target.copy_(torch.where(bcast(self.active, target), new, target))

    def load_state_dict(self, state_dict):
        super().load_state_dict(state_dict)
        for group in self.param_groups:  # keep hyperparameters and step counts on the parameters' device
            dev = group["params"][0].device
            for k in self.hyper_names:
                group[k] = as_member_tensor(group[k], self.n_members, k).to(dev)
            for p in group["params"]:
                if "step" in self.state.get(p, {}):
                    self.state[p]["step"] = self.state[p]["step"].to(device=p.device, dtype=torch.int64)
