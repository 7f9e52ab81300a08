"""Deep linear networks f(x) = W_L ... W_1 x as ensembles (Saxe, McClelland & Ganguli 2014; SCIENCE.md section 4).

Per member e: depth L >= 2 weight matrices, hidden width N = N_e (every hidden layer), no biases, no output
multiplier. Layout (output-major, like nn.Linear's ``weight``: layer l maps h -> W_l h):

    W_1 [E, N_max, d_in],   W_l [E, N_max, N_max] (1 < l < L),   W_L [E, d_out, N_max]

Hidden units beyond a member's width are padding: zero at initialisation, and they stay exactly zero under
gradient descent (a zero row of W_l and the matching zero column of W_{l+1} get zero gradients), so no mask is
needed in the forward pass; ``member_state`` strips them.

Initialisation (``reset_parameters(seeds, init_scale)``, everything from the member's "init" stream, at its true
width, independent of E and of the member's position):

* "random": W_l entries iid N(0, scale^2 / fan_in) with the true fan_in (d_in for W_1, N_e for the others).
* "balanced": an SVD construction. With r = min(d_in, d_out, N_e) modes, orthonormal hidden frames O_l [N_e, r]
  (l = 1..L-1, Haar random) and input / output frames V0 [d_in, r], U0 [d_out, r] (Haar random, or given per
  member: e.g. the teacher's singular vectors), set a = u0^(1/L) with u0 = the member's scale and
      W_1 = a O_1 V0^T,   W_l = a O_l O_{l-1}^T,   W_L = a U0 O_{L-1}^T.
  Then W_{l+1}^T W_{l+1} = a^2 O_l O_l^T = W_l W_l^T (balanced, Saxe et al.'s / Arora et al.'s condition, kept by
  gradient flow) and the end-to-end map is W = u0 U0 V0^T: every mode starts at strength u0. Aligned with the
  teacher (U0, V0 = the teacher's U, V), gradient flow keeps each mode on its own ("decoupled" initial conditions):
  the setting of ``toymodels.theory.saxe``.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from ..rng import generator
from .base import EnsembleModel

F64 = torch.float64
INITS = ("balanced", "random")


def haar_frame(n: int, r: int, g: torch.Generator) -> torch.Tensor:
    """An [n, r] matrix with orthonormal columns, Haar distributed (QR of a Gaussian with the sign fix)."""
    q, rr = torch.linalg.qr(torch.randn(n, r, generator=g, dtype=F64))
    return q * torch.sign(torch.diagonal(rr))[None, :]


class EnsembleDeepLinear(EnsembleModel):
    def __init__(self, n_members: int, in_dim: int, out_dim: int, depth: int, widths: Sequence[int],
                 init: str = "balanced"):
        super().__init__(n_members)
        widths = [int(w) for w in widths]
        if len(widths) != n_members or min(widths) < 1:
            raise ValueError(f"need {n_members} widths >= 1, got {widths}")
        if int(depth) != depth or depth < 2:
            raise ValueError(f"depth must be an integer >= 2, got {depth}")
        if init not in INITS:
            raise ValueError(f"init must be one of {INITS}, got {init!r}")
        self.in_dim, self.out_dim, self.depth, self.init = int(in_dim), int(out_dim), int(depth), init
        self.widths, self.width = widths, max(widths)
        self.n_outputs = self.out_dim
        sizes = [self.in_dim] + [self.width] * (self.depth - 1) + [self.out_dim]
        self.weights = nn.ParameterList(nn.Parameter(torch.zeros(n_members, sizes[l + 1], sizes[l]))
                                        for l in range(self.depth))  # W_{l+1}: [E, out, in]

    # ---- initialisation ------------------------------------------------------------------------------------------
    def n_modes(self, e: int) -> int:
        return min(self.in_dim, self.out_dim, self.widths[e])

    def init_member(self, member: int, g: torch.Generator, scale: float = 1.0,
                    frames: tuple[torch.Tensor, torch.Tensor] | None = None) -> list[torch.Tensor]:
        """Member ``member``'s L weight matrices (float64, CPU, padded to N_max with zeros) drawn from ``g`` in a fixed
        order. frames: (U0 [d_out, >= r], V0 [d_in, >= r]) for the balanced init (default: Haar random from g)."""
        n, L = self.widths[member], self.depth
        true = [self.in_dim] + [n] * (L - 1) + [self.out_dim]
        pad = [self.in_dim] + [self.width] * (L - 1) + [self.out_dim]
        out = [torch.zeros(pad[l + 1], pad[l], dtype=F64) for l in range(L)]
        if self.init == "random":
            for l in range(L):
                std = float(scale) / true[l] ** 0.5  # variance scale^2 / fan_in (true width)
                out[l][:true[l + 1], :true[l]] = torch.randn(true[l + 1], true[l], generator=g, dtype=F64) * std
            return out
        r = self.n_modes(member)
        hidden = [haar_frame(n, r, g) for _ in range(L - 1)]  # O_1 .. O_{L-1}: [N_e, r]
        if frames is None:
            U0, V0 = haar_frame(self.out_dim, r, g), haar_frame(self.in_dim, r, g)
        else:
            U0, V0 = frames[0][:, :r].to(F64), frames[1][:, :r].to(F64)
        a = float(scale) ** (1.0 / L)  # each layer's singular value; the product's is scale
        frame = [V0] + hidden + [U0]  # the frame on each side of layer l: W_l = a frame[l] frame[l-1]^T
        for l in range(L):
            out[l][:true[l + 1], :true[l]] = a * frame[l + 1] @ frame[l].T
        return out

    @torch.no_grad()
    def reset_parameters(self, seeds: Sequence[int], init_scale: torch.Tensor | Sequence[float] | None = None,
                         frames: tuple[torch.Tensor, torch.Tensor] | None = None):
        """Initialise every member from its own seed. init_scale [E]: the product's singular value u0 (balanced) or
        the weights' scale (random: std scale / sqrt(fan_in)); frames: (U0 [E, d_out, r'], V0 [E, d_in, r'])
        with r' >= min(d_in, d_out, N_max), the balanced init's directions (e.g. the teacher's singular vectors).
        A loop over members at set-up only: each member draws from its own generator."""
        if len(seeds) != self.n_members:
            raise ValueError(f"need {self.n_members} seeds, got {len(seeds)}")
        scale = torch.ones(self.n_members, dtype=F64) if init_scale is None else torch.as_tensor(init_scale, dtype=F64)
        if scale.dim() == 0:
            scale = scale.expand(self.n_members)
        if not bool((scale > 0).all()):
            raise ValueError(f"init scales must be > 0, got {scale.tolist()}")
        for e, seed in enumerate(seeds):
            fr = None if frames is None else (frames[0][e].cpu(), frames[1][e].cpu())
            for W, value in zip(self.weights, self.init_member(e, generator(int(seed), "init"), float(scale[e]), fr)):
                W[e].copy_(value)
        return self

    # ---- forward ---------------------------------------------------------------------------------------------------
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x [E, B, d_in] (or shared [B, d_in]) -> [E, B, d_out], layer by layer (batched matmuls)."""
        h = x.to(self.weights[0].dtype)
        for W in self.weights:  # h [E, B, n_in] @ W^T [E, n_in, n_out]
            h = torch.matmul(h, W.transpose(1, 2))
        return h

    def product(self) -> torch.Tensor:
        """The end-to-end map W = W_L ... W_1: [E, d_out, d_in]."""
        W = self.weights[0]
        for Wl in list(self.weights)[1:]:
            W = torch.bmm(Wl, W)
        return W

    def member_state(self, e: int) -> dict[str, torch.Tensor]:
        """Member e's matrices at its true width: W1 [N_e, d_in], ..., WL [d_out, N_e]."""
        n, L = self.widths[e], self.depth
        out = {}
        for l, W in enumerate(self.weights):
            rows = n if l < L - 1 else self.out_dim
            cols = self.in_dim if l == 0 else n
            out[f"W{l + 1}"] = W[e, :rows, :cols].detach().clone()
        return out


__all__ = ["EnsembleDeepLinear", "INITS", "haar_frame"]
