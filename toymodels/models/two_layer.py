"""Two-layer networks f(x) = c * a . act(m * W x) as ensembles, in the NTK, standard and mean-field / muP
parameterisations, with a richness parameter gamma0 that moves each member between lazy and rich training
(SCIENCE.md section 2, "Feature learning"; Chizat, Oyallon & Bach's output scale, Bordelon & Pehlevan's gamma0).

Per member e (true width N = N_e, richness g = gamma0_e; q = the input's mean squared norm E|x|^2, i.e. the
fan-in D for unit-variance coordinates, 2 for concatenated one-hot operand pairs, Tr(Sigma) for the power-law task):

    parameterisation   W_ij init      m (input mult.)   a_i init       c (output mult.)   SGD lr multiplier
    ntk                N(0, 1)        1/sqrt(q)         N(0, 1)        1/(g sqrt(N))      g^2
    mup (mean field)   N(0, 1)        1/sqrt(q)         N(0, 1)        1/(g N)            g^2 N
    standard           N(0, 1/q)      1                 N(0, 1/N)      1/g                g^2

so the preactivations h = m W x are O(1) at initialisation in all three, and one SGD step at lr = lr0 * multiplier
changes f by O(lr0) (ntk, mup; standard: O(lr0 N), whose tangent kernel grows with N -- the usual reason standard
parameterisation needs lr ~ 1/N). The features move by O(g / sqrt(N)) (ntk: lazy as N -> infinity at fixed g, the
kernel regime) or O(g) (mup: rich at any width; g -> 0 is lazy). Every factor uses the member's true width N_e,
never the padded one.

Centring (``center``, default on): the trained function is f(x) - f0(x), with f0 the member's network at its
initial weights (kept as buffers W0, a0), so the output starts at exactly 0 whatever g is.

Shapes: W [E, D, N_max] (input-major, like ``EnsembleMLP``: h = x @ W), a [E, N_max, C]. Hidden units beyond a
member's width are padding: initialised to zero and masked to exactly 0 after the activation (``torch.where``), so
they carry no signal and receive no gradient. Inputs: dense x [B, D] (shared) or [E, B, D] (per member), or operand
pairs [B, 2] / [E, B, 2] (int64), whose first layer is the sum of rows a and n_symbols + b of W (equal to the
one-hot matmul). Parameter groups "hidden" (W) and "readout" (a).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import torch

from ..activations import activation, derivative
from .base import EnsembleModel, gather_pair_sum, stacked

PARAMETERIZATIONS = ("ntk", "mup", "standard")

#: the activations two-layer nets support (functions from ``toymodels.activations``)
ACTIVATIONS = {name: activation(name) for name in ("relu", "tanh", "quadratic", "linear")}
activation_derivative = derivative


@dataclass
class Scalings:
    """Per-member factors of a parameterisation, each [E] float64 (CPU)."""

    w_std: torch.Tensor
    in_mult: torch.Tensor
    a_std: torch.Tensor
    out_mult: torch.Tensor
    lr_mult: torch.Tensor


def scalings(parameterization: str, widths: Sequence[int], gamma0: Sequence[float], in_sq_norm: float) -> Scalings:
    """The table in the module docstring for true widths N [E], richness gamma0 [E] and input norm q = E|x|^2."""
    if parameterization not in PARAMETERIZATIONS:
        raise ValueError(f"parameterization must be one of {PARAMETERIZATIONS}, got {parameterization!r}")
    N = torch.as_tensor([float(n) for n in widths], dtype=torch.float64, device="cpu")
    g = torch.as_tensor([float(x) for x in gamma0], dtype=torch.float64, device="cpu")
    one, q = torch.ones_like(N), float(in_sq_norm)
    if parameterization == "ntk":
        return Scalings(one, one / math.sqrt(q), one, 1 / (g * N.sqrt()), g ** 2)
    if parameterization == "mup":
        return Scalings(one, one / math.sqrt(q), one, 1 / (g * N), g ** 2 * N)
    return Scalings(one / math.sqrt(q), one, 1 / N.sqrt(), 1 / g, g ** 2)


class EnsembleTwoLayer(EnsembleModel):
    param_groups = {"W": "hidden", "a": "readout"}

    def __init__(self, n_members: int, in_dim: int, n_out: int, widths: Sequence[int], act: str = "relu",
                 parameterization: str = "mup", gamma0: Sequence[float] | float = 1.0, in_sq_norm: float | None = None,
                 input_kind: str = "dense", center: bool = True):
        super().__init__(n_members)
        if act not in ACTIVATIONS:
            raise ValueError(f"act must be one of {sorted(ACTIVATIONS)}, got {act!r}")
        if input_kind not in ("dense", "pairs"):
            raise ValueError(f"input_kind must be dense or pairs, got {input_kind!r}")
        widths = [int(w) for w in widths]
        if len(widths) != n_members or min(widths) < 1:
            raise ValueError(f"need {n_members} widths >= 1, got {widths}")
        gamma0 = [float(gamma0)] * n_members if isinstance(gamma0, (int, float)) else [float(g) for g in gamma0]
        if len(gamma0) != n_members or not all(g > 0 for g in gamma0):
            raise ValueError(f"need {n_members} values of gamma0 > 0, got {gamma0}")
        self.in_dim, self.n_out, self.n_outputs = in_dim, n_out, n_out
        self.act_name, self.parameterization, self.input_kind, self.center = act, parameterization, input_kind, center
        self.in_sq_norm = float(in_sq_norm if in_sq_norm is not None else (2.0 if input_kind == "pairs" else in_dim))
        self.widths, self.gamma0 = widths, gamma0
        self.width = max(widths)
        self.scales = scalings(parameterization, widths, gamma0, self.in_sq_norm)  # CPU, float64
        self.lr_scale = self.scales.lr_mult  # [E]: multiplies optimizer.lr (both groups)
        self.W = stacked(n_members, in_dim, self.width)  # [E, D, N_max]
        self.a = stacked(n_members, self.width, n_out)  # [E, N_max, C]
        self.register_buffer("W0", torch.zeros(n_members, in_dim, self.width))  # initial weights (persistent:
        self.register_buffer("a0", torch.zeros(n_members, self.width, n_out))  # centring and weight movement)
        mask = torch.arange(self.width)[None, :] < torch.tensor(widths)[:, None]
        self.register_buffer("mask", mask, persistent=False)  # [E, N_max] real (not padded) hidden units
        self.register_buffer("in_mult", self.scales.in_mult.clone(), persistent=False)  # [E]
        self.register_buffer("out_mult", self.scales.out_mult.clone(), persistent=False)  # [E]

    # ---- initialisation ----------------------------------------------------------------------------------------
    def init_member(self, member: int, g: torch.Generator) -> dict[str, torch.Tensor]:
        """W then a from the member's "init" stream, at its true width, zero beyond it."""
        n = self.widths[member]
        W = torch.zeros(self.in_dim, self.width, dtype=torch.float64)
        a = torch.zeros(self.width, self.n_out, dtype=torch.float64)
        W[:, :n] = torch.randn(self.in_dim, n, generator=g, dtype=torch.float64) * self.scales.w_std[member]
        a[:n] = torch.randn(n, self.n_out, generator=g, dtype=torch.float64) * self.scales.a_std[member]
        return {"W": W, "a": a}

    @torch.no_grad()
    def reset_parameters(self, seeds, init_scale=None):
        super().reset_parameters(seeds, init_scale)
        self.W0.copy_(self.W)
        self.a0.copy_(self.a)
        return self

    # ---- forward -------------------------------------------------------------------------------------------------
    def preactivations(self, x: torch.Tensor, W: torch.Tensor | None = None) -> torch.Tensor:
        """h = m W x: [E, B, N_max] for x [B, D] / [E, B, D] (dense) or [B, 2] / [E, B, 2] (pairs)."""
        W = self.W if W is None else W
        if self.input_kind == "pairs":
            per_member, n_sym = x.dim() == 3, self.in_dim // 2
            h = gather_pair_sum(W, x[..., 0], x[..., 1] + n_sym, per_member)
        elif x.dim() == 2:
            h = torch.matmul(x.to(W.dtype), W)  # [B, D] @ [E, D, N] -> [E, B, N]
        else:
            h = torch.bmm(x.to(W.dtype), W)
        return h * self.in_mult.to(h.dtype)[:, None, None]

    def features(self, h: torch.Tensor) -> torch.Tensor:
        """act(h) with padded hidden units exactly 0: [E, B, N_max]."""
        z = ACTIVATIONS[self.act_name](h)
        return torch.where(self.mask[:, None, :], z, torch.zeros((), dtype=z.dtype, device=z.device))

    def raw(self, x: torch.Tensor, W: torch.Tensor | None = None, a: torch.Tensor | None = None) -> torch.Tensor:
        """The uncentred network c * act(m W x) a: [E, B, C] (at the current weights unless W, a are given)."""
        a = self.a if a is None else a
        phi = self.features(self.preactivations(x, W))
        return torch.bmm(phi, a) * self.out_mult.to(phi.dtype)[:, None, None]

    @torch.no_grad()
    def initial_output(self, x: torch.Tensor) -> torch.Tensor:
        """f0(x) [E, B, C]: the network at its initial weights."""
        return self.raw(x, self.W0, self.a0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.raw(x)
        return out - self.initial_output(x) if self.center else out

    # ---- what the lazy-rich measures need ----------------------------------------------------------------------
    def input_gram(self, x: torch.Tensor) -> torch.Tensor:
        """x . x' over the rows of x: [E, B, B] (pairs: [a == a'] + [b == b'], the one-hot dot product)."""
        if self.input_kind == "pairs":
            xe = x if x.dim() == 3 else x.expand(self.n_members, *x.shape)
            same = (xe[:, :, None, :] == xe[:, None, :, :]).to(self.W.dtype)  # [E, B, B, 2]
            return same.sum(-1)
        xe = x.to(self.W.dtype)
        G = xe @ xe.transpose(-1, -2)
        return G if G.dim() == 3 else G.expand(self.n_members, *G.shape)

    def kernel_parts(self, x: torch.Tensor, initial: bool = False) -> dict[str, torch.Tensor]:
        """Everything the closed-form feature kernel and tangent kernel need, at the current (or initial) weights:
        phi = act(h) [E, B, N], dphi = act'(h) [E, B, N] (both 0 on padding), a [E, N, C], the input Gram
        x . x' [E, B, B], m [E], c [E], true widths [E]."""
        W, a = (self.W0, self.a0) if initial else (self.W, self.a)
        h = self.preactivations(x, W)
        zero = torch.zeros((), dtype=h.dtype, device=h.device)
        dphi = torch.where(self.mask[:, None, :], activation_derivative(self.act_name, h), zero)
        return {"phi": self.features(h), "dphi": dphi, "a": a, "gram": self.input_gram(x), "in_mult": self.in_mult,
                "out_mult": self.out_mult, "widths": torch.tensor(self.widths, dtype=h.dtype, device=h.device)}

    def effective_weights(self, W: torch.Tensor | None = None, a: torch.Tensor | None = None) -> torch.Tensor:
        """For the linear activation on dense inputs, f(x) = x . beta with beta = c m W a: [E, D, C]."""
        if self.act_name != "linear" or self.input_kind != "dense":
            raise ValueError("effective input-space weights exist only for the linear activation on dense inputs")
        W, a = (self.W if W is None else W), (self.a if a is None else a)
        W = torch.where(self.mask[:, None, :], W, torch.zeros((), dtype=W.dtype, device=W.device))
        scale = (self.in_mult * self.out_mult).to(W.dtype)[:, None, None]
        return torch.bmm(W, a) * scale

    def member_state(self, e: int) -> dict[str, torch.Tensor]:
        """Member e at its true width: W [D, N_e], a [N_e, C] and the initial W0, a0."""
        n = self.widths[e]
        return {"W": self.W[e, :, :n].detach().clone(), "a": self.a[e, :n].detach().clone(),
                "W0": self.W0[e, :, :n].detach().clone(), "a0": self.a0[e, :n].detach().clone()}


__all__ = ["ACTIVATIONS", "EnsembleTwoLayer", "PARAMETERIZATIONS", "Scalings", "activation_derivative", "scalings"]
