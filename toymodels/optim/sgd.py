"""SGD with momentum, per-member hyperparameters; torch.optim.SGD's update member by member, in place:
    g <- g + wd * p;   buf <- g (first step) or momentum * buf + (1 - dampening) * g;
    g <- g + momentum * buf (nesterov) or buf;   p <- p - lr * g
Frozen members take an exact no-op step (g = 0, lr = 0, momentum 1, dampening 1), as in adam.py.
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


    def _init_state(self, p: torch.Tensor):
        super()._init_state(p)
        if "momentum_buffer" not in self.state[p]:
            self.state[p]["momentum_buffer"] = torch.zeros_like(p)

    def _update(self, p, group):
        self._init_state(p)
        state = self.state[p]
        _, t = self._step_counts(p)
        lr, mom, damp = self._lr(group, t), group["momentum"], group["dampening"]
        use_momentum = mom != 0  # [E]; momentum 0 is plain SGD, as in torch (no buffer involved)
        g = p.grad + bcast(group["weight_decay"], p) * p
        if self.active is not None:  # masked after the L2 term: a frozen member's NaN weight stays its own
            g = torch.where(bcast(self.active, g), g, 0.0)
            lr = torch.where(self.active, lr, 0.0)
            mom = torch.where(self.active, mom, 1.0)
            damp = torch.where(self.active, damp, 1.0)
        buf = state["momentum_buffer"]
        first = bcast(t == 1, p) if self.active is None else bcast((t == 1) & self.active, p)
        buf.copy_(torch.where(first, g, buf * bcast(mom, p) + bcast(1 - damp, p) * g))
        d = g + bcast(mom, p) * buf if self.nesterov else buf
        p.sub_(bcast(lr, p) * torch.where(bcast(use_momentum, p), d, g))
