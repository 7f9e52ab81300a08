"""The one activation table of toymodels: every model, task and theory takes its activation by name from here.

``linear`` is the identity (``identity`` is accepted as an alias of it); a model or theory may support a subset
(e.g. the Gaussian-equivalence quadrature needs its kinks, two-layer nets their derivatives)."""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F


def _linear(u: torch.Tensor) -> torch.Tensor:
    return u


class _Square(torch.autograd.Function):
    """u^2 with the two-pass backward g * 2u (torch.square's autograd goes through pow's generic backward: a pow,
    a scale and a product per call)."""

    @staticmethod
    def forward(u):
        return u * u

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(inputs[0])

    @staticmethod
    def backward(ctx, g):
        (u,) = ctx.saved_tensors
        return (u + u) * g


def _square(u: torch.Tensor) -> torch.Tensor:
    return _Square.apply(u)


ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "relu": torch.relu,
    "tanh": torch.tanh,
    "gelu": F.gelu,
    "quadratic": _square,
    "abs": torch.abs,
    "erf": torch.special.erf,
    "linear": _linear,
}
ALIASES = {"identity": "linear"}
KINKED = frozenset({"relu", "abs"})  # not differentiable at 0


def canonical_activation(name: str) -> str:
    """The table's name for ``name`` (aliases resolved); unknown names are returned unchanged for the caller to
    reject with its own supported subset."""
    return ALIASES.get(name, name)


def activation(name: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """The elementwise function of activation ``name`` (a KeyError for unknown names)."""
    return ACTIVATIONS[canonical_activation(name)]


def derivative(name: str, u: torch.Tensor) -> torch.Tensor:
    """act'(u) elementwise (relu: the indicator u > 0, the subgradient autograd uses)."""
    name = canonical_activation(name)
    if name == "relu":
        return (u > 0).to(u.dtype)
    if name == "tanh":
        return 1 - torch.tanh(u) ** 2
    if name == "quadratic":
        return 2 * u
    if name == "linear":
        return torch.ones_like(u)
    if name == "abs":
        return torch.sign(u)
    if name == "erf":
        return 2 / torch.pi ** 0.5 * torch.exp(-u * u)
    if name == "gelu":
        cdf = 0.5 * (1 + torch.special.erf(u / 2 ** 0.5))
        return cdf + u * torch.exp(-u * u / 2) / (2 * torch.pi) ** 0.5
    raise ValueError(f"unknown activation {name!r}")
