"""SGD with momentum, per-member hyperparameters; matches torch.optim.SGD member by member:
    g <- g + wd * p;   buf <- g (first step) or momentum * buf + (1 - dampening) * g;
    g <- g + momentum * buf (nesterov) or buf;   p <- p - lr * g
"""
from __future__ import annotations

import torch

from .base import EnsembleOptimizer, bcast


class EnsembleSGD(EnsembleOptimizer):
    hyper_names = ("lr", "weight_decay", "momentum", "dampening", "warmup_steps")

    def __init__(self, params, n_members: int, lr=1e-2, weight_decay=0.0, momentum=0.0, dampening=0.0,
                 nesterov: bool = False, warmup_steps=0):
        self.nesterov = nesterov
        super().__init__(params, n_members, dict(lr=lr, weight_decay=weight_decay, momentum=momentum,
                                                 dampening=dampening, warmup_steps=warmup_steps))

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    self._update(p, group)
        return loss

    def _update(self, p, group):
        state = self.state[p]
        _, t = self._step_counts(p)
        lr = self._lr(group, t)
        g = p.grad + bcast(group["weight_decay"], p) * p
        mom = group["momentum"]
        if "momentum_buffer" not in state:
            state["momentum_buffer"] = torch.zeros_like(p)
        buf_old = state["momentum_buffer"]
        buf = torch.where(bcast(t == 1, p), g, bcast(mom, p) * buf_old + bcast(1 - group["dampening"], p) * g)
        d = g + bcast(mom, p) * buf if self.nesterov else buf
        d = torch.where(bcast(mom == 0, p), g, d)  # momentum 0: plain SGD, as torch (no buffer used)
        self._commit(buf_old, buf)
        self._commit(p, p - bcast(lr, p) * d)
