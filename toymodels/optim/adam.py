"""Adam with decoupled weight decay (AdamW, Loshchilov & Hutter) or coupled L2 (Adam), per-member hyperparameters.

Matches torch.optim.AdamW / torch.optim.Adam (amsgrad off) member by member:
    g <- g + wd * p                    (Adam, coupled L2)       |   p <- p * (1 - lr * wd)   (AdamW, decoupled)
    m <- beta1 m + (1 - beta1) g;  v <- beta2 v + (1 - beta2) g^2
    p <- p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
"""
from __future__ import annotations

import torch

from .base import EnsembleOptimizer, bcast


class EnsembleAdamW(EnsembleOptimizer):
    hyper_names = ("lr", "weight_decay", "beta1", "beta2", "eps", "warmup_steps")
    decoupled = True

    def __init__(self, params, n_members: int, lr=1e-3, weight_decay=0.0, betas=(0.9, 0.999), eps=1e-8,
                 warmup_steps=0):
        beta1, beta2 = betas
        super().__init__(params, n_members, dict(lr=lr, weight_decay=weight_decay, beta1=beta1, beta2=beta2,
                                                 eps=eps, warmup_steps=warmup_steps))

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                self._update(p, group)
        return loss

    def _update(self, p: torch.Tensor, group: dict):
        g = p.grad
        state = self.state[p]
        if "exp_avg" not in state:
            state["exp_avg"] = torch.zeros_like(p)
            state["exp_avg_sq"] = torch.zeros_like(p)
        _, t = self._step_counts(p)
        t_f = t.clamp(min=1).to(torch.float64)
        lr = self._lr(group, t)  # [E] float64
        b1, b2, wd = group["beta1"], group["beta2"], group["weight_decay"]
        if self.decoupled:
            base = p * bcast(1 - lr * wd, p)
        else:
            base = p
            g = g + bcast(wd, p) * p
        m = state["exp_avg"] + bcast(1 - b1, p) * (g - state["exp_avg"])  # lerp, as torch does
        v = state["exp_avg_sq"] * bcast(b2, p) + bcast(1 - b2, p) * g * g
        bc1 = 1 - b1**t_f
        bc2_sqrt = (1 - b2**t_f).sqrt()
        denom = v.sqrt() / bcast(bc2_sqrt, p) + bcast(group["eps"], p)
        new = base + bcast(-(lr / bc1), p) * m / denom  # the operation order of torch's addcdiv_
        self._commit(state["exp_avg"], m)
        self._commit(state["exp_avg_sq"], v)
        self._commit(p, new)


class EnsembleAdam(EnsembleAdamW):
    """Adam with L2 regularisation added to the gradient (torch.optim.Adam's weight_decay)."""

    decoupled = False
