"""Gradient transforms applied between backward and the optimiser step, usable with any ensemble optimiser.

- ``GrokfastEMA`` (Lee et al. 2024, ``gradfilter_ema``): ema <- alpha ema + (1 - alpha) g (ema starts at the first
  gradient); g <- g + lamb * ema.
- ``GrokfastMA`` (``gradfilter_ma``): keep the last ``window`` gradients; once the window is full (``warmup``),
  g <- g + lamb * mean(window).
- ``PerpGrad`` (Prieto et al. 2025's perpendicular gradient): per tensor and member,
  g_perp = g - (w.g)/(w.w) w, rescaled to |g|.

alpha and lamb are per-member [E]; the state of a member the guard has frozen is left untouched.
All transforms carry a state_dict so checkpoints restore them.
"""
from __future__ import annotations

import torch

from .base import as_member_tensor, bcast


def _where_active(active, new, old):
    return new if active is None else torch.where(bcast(active, new), new, old)


def _member_dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """[E, ...] x [E, ...] -> [E] sum over trailing axes."""
    return (a * b).flatten(1).sum(dim=1)


class GradFilter:
    def __init__(self, params: list[torch.Tensor]):
        self.params = list(params)

    def apply(self, active: torch.Tensor | None = None):
        raise NotImplementedError

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict):
        pass


class GrokfastEMA(GradFilter):
    def __init__(self, params, n_members: int, alpha=0.98, lamb=2.0):
        super().__init__(params)
        dev = self.params[0].device
        self.alpha = as_member_tensor(alpha, n_members, "alpha").to(dev)
        self.lamb = as_member_tensor(lamb, n_members, "lamb").to(dev)
        self.ema = [torch.zeros_like(p) for p in self.params]
        self.count = torch.zeros(n_members, dtype=torch.int64, device=dev)

    @torch.no_grad()
    def apply(self, active=None):
        first = self.count == 0
        for p, ema in zip(self.params, self.ema):
            g = p.grad
            a = bcast(self.alpha, g)
            new = torch.where(bcast(first, g), g, ema * a + g * (1 - a))
            ema.copy_(_where_active(active, new, ema))
            p.grad = g + ema * bcast(self.lamb, g)
        self.count += 1 if active is None else active.to(torch.int64)

    def state_dict(self):
        return {"ema": self.ema, "count": self.count, "alpha": self.alpha, "lamb": self.lamb}

    def load_state_dict(self, state):
        for dst, src in zip(self.ema, state["ema"]):
            dst.copy_(src)
        self.count.copy_(state["count"])


class GrokfastMA(GradFilter):
    def __init__(self, params, n_members: int, window: int = 100, lamb=5.0, warmup: bool = True):
        super().__init__(params)
        dev = self.params[0].device
        self.window, self.warmup = int(window), warmup
        self.lamb = as_member_tensor(lamb, n_members, "lamb").to(dev)
        self.buffers = [torch.zeros(self.window, *p.shape, dtype=p.dtype, device=dev) for p in self.params]
        self.count = torch.zeros(n_members, dtype=torch.int64, device=dev)
        self._members = torch.arange(n_members, device=dev)

    @torch.no_grad()
    def apply(self, active=None):
        slot = self.count % self.window  # [E] each member's own ring position
        filled = torch.clamp(self.count + 1, max=self.window)
        use = filled == self.window if self.warmup else torch.ones_like(filled, dtype=torch.bool)
        for p, buf in zip(self.params, self.buffers):
            g = p.grad
            old = buf[slot, self._members]  # [E, ...]
            buf[slot, self._members] = _where_active(active, g, old)
            mean = buf.sum(dim=0) / bcast(filled.to(g.dtype), g)
            p.grad = torch.where(bcast(use, g), g + mean * bcast(self.lamb, g), g)
        self.count += 1 if active is None else active.to(torch.int64)

    def state_dict(self):
        return {"buffers": self.buffers, "count": self.count, "lamb": self.lamb}

    def load_state_dict(self, state):
        for dst, src in zip(self.buffers, state["buffers"]):
            dst.copy_(src)
        self.count.copy_(state["count"])


class PerpGrad(GradFilter):
    @torch.no_grad()
    def apply(self, active=None):
        for p in self.params:
            g = p.grad
            proj = _member_dot(p, g) / (_member_dot(p, p) + 1e-30)  # [E]
            g_perp = g - bcast(proj, g) * p
            scale = g.flatten(1).norm(dim=1) / (g_perp.flatten(1).norm(dim=1) + 1e-30)
            p.grad = g_perp * bcast(scale, g)
