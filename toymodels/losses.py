"""Output heads: per-row losses and predictions for ensemble outputs [E, B, C].

- ``cross_entropy``: softmax cross-entropy (optionally in float64, as Nanda's ``cross_entropy_high_precision``).
- ``stablemax``: Prieto et al. (2025)'s StableMax cross-entropy, s(x) = x + 1 (x >= 0), 1 / (1 - x) (x < 0),
  p_i = s(x_i) / sum_j s(x_j).
- ``mse``: mean over output dims of (out - T[y])^2 against per-member targets T [E, C, D] (random Gaussian
  templates for Liu's toy, one-hot vectors otherwise); the prediction is the nearest target.

Every per-member loss is the mean over that member's own valid rows (``member_mean``); members are summed, never
averaged, when they share one backward pass.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def member_mean(rows: torch.Tensor, valid: torch.Tensor | None) -> torch.Tensor:
    """Mean over each member's valid rows. rows, valid: [E, B] -> [E]. Uses where, not a product, so a NaN in a
    masked-out row does not leak."""
    if valid is None:
        return rows.mean(dim=1)
    total = torch.where(valid, rows, torch.zeros((), dtype=rows.dtype, device=rows.device)).sum(dim=1)
    return total / valid.sum(dim=1).clamp(min=1).to(rows.dtype)


def stablemax_s(x: torch.Tensor) -> torch.Tensor:
    """s(x) = x + 1 for x >= 0, 1 / (1 - x) for x < 0 (both branches kept finite for the unused side)."""
    return torch.where(x >= 0, x + 1, 1 / (1 - torch.clamp(x, max=0)))


def log_stablemax(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    s = stablemax_s(x)
    return torch.log(s) - torch.log(s.sum(dim=dim, keepdim=True))


class Head(nn.Module):
    """A loss and a prediction rule for outputs [E, B, C] and labels [E, B]."""

    kind = "classification"

    def row_loss(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:  # -> [E, B]
        raise NotImplementedError

    def predict(self, out: torch.Tensor) -> torch.Tensor:  # -> [E, B] class indices
        return out.argmax(dim=-1)

    @property
    def softmax_cross_entropy(self) -> bool:
        """Whether ``row_loss`` is softmax cross-entropy in the outputs' own dtype (a model may fuse it)."""
        return False


class CrossEntropyHead(Head):
    def __init__(self, float64: bool = False):
        super().__init__()
        self.float64 = float64

    def row_loss(self, out, y):
        logits = out.double() if self.float64 else out
        logp = F.log_softmax(logits, dim=-1)
        return -logp.gather(-1, y[..., None]).squeeze(-1)

    @property
    def softmax_cross_entropy(self) -> bool:
        return not self.float64


class StableMaxHead(CrossEntropyHead):
    softmax_cross_entropy = False

    def row_loss(self, out, y):
        logits = out.double() if self.float64 else out
        return -log_stablemax(logits).gather(-1, y[..., None]).squeeze(-1)


class MSEHead(Head):
    """targets: [E, C, D] (per member) or [C, D] (shared)."""

    def __init__(self, targets: torch.Tensor, float64: bool = False):
        super().__init__()
        self.register_buffer("targets", targets)
        self.float64 = float64

    def _targets(self, out):
        T = self.targets
        return T.expand(out.shape[0], *T.shape) if T.dim() == 2 else T  # [E, C, D]

    def row_loss(self, out, y):
        T = self._targets(out)
        target = T[torch.arange(out.shape[0], device=y.device)[:, None], y]  # [E, B, D]
        diff = (out.double() - target.double()) if self.float64 else out - target.to(out.dtype)
        return diff.square().mean(dim=-1)

    def predict(self, out):
        T = self._targets(out).to(out.dtype)
        d2 = (T.square().sum(-1)[:, None, :] - 2 * torch.bmm(out, T.transpose(1, 2)))  # [E, B, C] (+|out|^2)
        return d2.argmin(dim=-1)


def random_templates(seeds: list[int], n_classes: int, dim: int) -> torch.Tensor:
    """Liu's random Gaussian templates, one set per member from its "templates" stream: [E, C, D]."""
    from .rng import generator

    return torch.stack([torch.randn(n_classes, dim, generator=generator(s, "templates")) for s in seeds])


def build_head(name: str, n_classes: int, float64: bool = False, template_seeds: list[int] | None = None,
               template_dim: int | None = None) -> Head:
    """The head for loss ``name``. For mse, ``template_dim`` set means random templates of that dimension
    (one set per member, from ``template_seeds``); unset means one-hot targets."""
    if name == "cross_entropy":
        return CrossEntropyHead(float64)
    if name == "stablemax":
        return StableMaxHead(float64)
    if name == "mse":
        if template_dim is None:
            return MSEHead(torch.eye(n_classes), float64)
        return MSEHead(random_templates(template_seeds, n_classes, template_dim), float64)
    raise ValueError(f"unknown loss {name!r}; allowed: cross_entropy, stablemax, mse")
