"""Omnigrok's constrained weight norm (Liu, Michaud & Tegmark 2023): after every optimiser step, rescale each
member's parameters so that their total L2 norm stays at its value at initialisation."""
from __future__ import annotations

import torch

from .base import bcast


class ConstantNorm:
    def __init__(self, params: list[torch.Tensor]):
        self.params = list(params)
        self.target = self.norms()  # [E], taken at construction (initialisation)

    @torch.no_grad()
    def norms(self) -> torch.Tensor:
        return torch.stack([p.double().flatten(1).square().sum(1) for p in self.params]).sum(0).sqrt()

    @torch.no_grad()
    def apply(self, active: torch.Tensor | None = None):
        scale = self.target / self.norms()  # [E]; NaN for a diverged member, which where() then leaves alone
        if active is not None:
            scale = torch.where(active, scale, 1.0)
        for p in self.params:
            p.mul_(bcast(scale, p))

    def state_dict(self):
        return {"target": self.target}

    def load_state_dict(self, state):
        self.target = state["target"].to(self.target.device)
