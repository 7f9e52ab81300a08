"""Adam with decoupled weight decay (AdamW, Loshchilov & Hutter) or coupled L2 (Adam), per-member hyperparameters.

The update is torch.optim.AdamW / torch.optim.Adam's (amsgrad off), operation for operation, in place:
    g <- g + wd * p                    (Adam, coupled L2)       |   p <- p * (1 - lr * wd)   (AdamW, decoupled)
    m <- lerp(m, g, 1 - beta1);  v <- beta2 v + (1 - beta2) g^2
    p <- p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)

Frozen members (the divergence guard's ``active`` is False) take an exact no-op step instead of being masked
afterwards: their gradient is replaced by 0 (``where``, never a product: 0 * NaN = NaN) and their lr by 0 and
betas by 1, so m, v and p keep their bits -- one masked pass instead of three full copies per state tensor.

Eager steps on the CPU take torch's fused kernel instead, one call per member and set of groups with equal
hyperparameters (``fused_cpu``): the same update in one pass over each member's parameters and state; a frozen
member's call is skipped.
"""
from __future__ import annotations

import torch

from . import fused_cpu
from .base import EnsembleOptimizer, bcast


class EnsembleAdamW(EnsembleOptimizer):
    hyper_names = ("lr", "weight_decay", "beta1", "beta2", "eps", "warmup_steps")
    decoupled = True

    def __init__(self, params, n_members: int, lr=1e-3, weight_decay=0.0, betas=(0.9, 0.999), eps=1e-8,
                 warmup_steps=0):
        beta1, beta2 = betas
        super().__init__(params, n_members, dict(lr=lr, weight_decay=weight_decay, beta1=beta1, beta2=beta2,
                                                 eps=eps, warmup_steps=warmup_steps))
        self.fused = True  # eager CPU steps take torch's fused kernel where it applies (fused_cpu)
        self._calls = fused_cpu.MemberCalls(self)

    def load_state_dict(self, state_dict):
        super().load_state_dict(state_dict)
        self._calls.reset()

    @torch.no_grad()
    def _apply_eager(self):
        if torch.compiler.is_compiling() or not self.fused:
            return super()._apply_eager()
        for group, params in self._calls.step():  # what the kernel does not take: the batched update
            self._coefficient_cache = {}
            for p in params:
                self._update(p, group)
        self._coefficient_cache = {}

    _apply = _apply_eager

    def _init_state(self, p: torch.Tensor):
        super()._init_state(p)
        state = self.state[p]
        if "exp_avg" not in state:
            state["exp_avg"] = torch.zeros_like(p, memory_format=torch.contiguous_format)
            state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.contiguous_format)

    def _update(self, p: torch.Tensor, group: dict):
        self._init_state(p)
        state = self.state[p]
        m, v = state["exp_avg"], state["exp_avg_sq"]
        _, t = self._step_counts(p)
        c = self._group_coefficients(group, t, p)  # [8, E, 1, ...] in p's dtype
        decay, w1, b2, w2, bc2_sqrt, eps, neg_step, wd = c.unbind(0)
        g = p.grad if self.decoupled else p.grad + wd * p
        if self.active is not None:  # frozen members: g = 0, lr = 0, betas = 1 -> every state keeps its bits
            g = torch.where(bcast(self.active, g), g, 0.0)
        if self.decoupled:
            p.mul_(decay)
        m.lerp_(g, w1)
        v.mul_(b2).addcmul_(g * w2, g)
        denom = (v.sqrt() / bc2_sqrt).add_(eps)
        p.addcdiv_(m * neg_step, denom)  # torch's addcdiv_(m, denom, value=-step_size), per member

    def _coefficients(self, group: dict, t: torch.Tensor) -> torch.Tensor:
        """[8, E] float64: 1 - lr wd, 1 - beta1, beta2, 1 - beta2, sqrt(1 - beta2^t), eps, -lr / (1 - beta1^t), wd
        for the update numbered t [E] (frozen members: lr 0, betas 1)."""
        t_f = t.clamp(min=1).to(torch.float64)
        b1, b2, wd = group["beta1"], group["beta2"], group["weight_decay"]
        bc1 = 1 - b1**t_f  # [E] float64, from the member's own (possibly frozen) step count
        bc2_sqrt = (1 - b2**t_f).sqrt()
        lr = self._lr(group, t)
        if self.active is not None:
            lr = torch.where(self.active, lr, 0.0)
            b1 = torch.where(self.active, b1, 1.0)
            b2 = torch.where(self.active, b2, 1.0)
        return torch.stack([1 - lr * wd, 1 - b1, b2, 1 - b2, bc2_sqrt, group["eps"], -(lr / bc1), wd])


class EnsembleAdam(EnsembleAdamW):
    """Adam with L2 regularisation added to the gradient (torch.optim.Adam's weight_decay)."""

    decoupled = False
