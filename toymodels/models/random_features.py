"""Ensembles of linear regressions and random-feature models, f(x) = v . z(x), every member at once.

* linear model:              z = x                       (N = M features: the raw inputs)
* linear random features:    z = F^T x                   (F [M, N] fixed; SCIENCE.md section 2)
* nonlinear random features: z = phi(F^T x) - mu0        (phi = relu, tanh, ...; mu0 = E phi(u), u ~ N(0, q) with
                                                           q = Tr(Sigma)/M, i.e. ``gaussian_equivalence.ge_features``)

Only the readout v [E, N_max] is trained, from zero (the gradient-descent theory's initial condition). Members differ
in their width N_e: F [E, M, N_max] holds member e's projection in its first N_e columns and zeros after them, and
the features beyond N_e are masked to exactly 0 (``torch.where``, never a product), so padded features carry no
signal, get no gradient and stay at v = 0. F is drawn by the caller from each member's "projection" stream at the
member's true width (``toymodels.tasks.powerlaw.sample_projection``); it is a non-persistent buffer, regenerated from
the seeds when a run is rebuilt, never stored in checkpoints.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from ..theory.gaussian_equivalence import activation


class _Readout(torch.autograd.Function):
    """z [E, B, N] . v [E, N] -> [E, B], whose gradient with respect to v is the untransposed product g^T z.
    Autograd's own backward of bmm / einsum multiplies by z transposed, which torch's CPU bmm does slowly: at
    [4, 8192, 256] float64, 1 thread, on the 2-core dev box, bmm(z^T, g) took 50 ms and bmm(g^T, z) 6.5 ms, and a
    GD step (forward + backward) 44 ms with einsum vs 23 ms with this function."""

    @staticmethod
    def forward(ctx, z, v):
        ctx.save_for_backward(z, v)
        return torch.bmm(z, v.unsqueeze(-1)).squeeze(-1)

    @staticmethod
    def backward(ctx, g):
        z, v = ctx.saved_tensors
        gz = g.unsqueeze(-1) * v.unsqueeze(1) if ctx.needs_input_grad[0] else None
        gv = torch.bmm(g.unsqueeze(1), z).squeeze(1) if ctx.needs_input_grad[1] else None
        return gz, gv


class EnsembleRandomFeatures(nn.Module):
    n_outputs = 1  # one regression output per row

    def __init__(self, n_members: int, M: int, F: torch.Tensor | None = None, widths: Sequence[int] | None = None,
                 act: str = "linear", mu0: float = 0.0):
        """F [E, M, N_max] (zero beyond each member's width) or None for the linear model on the raw inputs;
        widths [E] the members' true N (ignored for the linear model, where N = M)."""
        super().__init__()
        self.n_members, self.M, self.act_name, self.mu0 = n_members, M, act, float(mu0)
        self.act, _ = activation(act)
        if F is None:
            widths = [M] * n_members
        elif F.shape[:2] != (n_members, M) or widths is None or len(widths) != n_members:
            raise ValueError(f"F must be [E={n_members}, M={M}, N_max] with one width per member")
        self.widths = [int(w) for w in widths]
        n_max = max(self.widths) if F is None else F.shape[2]
        self.v = nn.Parameter(torch.zeros(n_members, n_max))  # [E, N_max] readout, GD starts from zero
        self.register_buffer("F", F, persistent=False)  # [E, M, N_max] or None
        mask = torch.arange(n_max)[None, :] < torch.tensor(self.widths)[:, None]
        self.register_buffer("mask", mask, persistent=False)  # [E, N_max] real (not padded) features

    @property
    def linear_features(self) -> bool:
        """True when z is linear in x (so w = F v is the predictor in input space)."""
        return self.act_name == "linear"

    def _phi(self, u: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Feature map of preactivations u [..., B, N_max] with mask [..., 1, N_max]."""
        z = u if self.linear_features else self.act(u) - self.mu0
        return torch.where(mask, z, torch.zeros((), dtype=z.dtype, device=z.device))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """x [B, M] (shared) or [E, B, M] -> z [E, B, N_max] (padded features exactly 0)."""
        if self.F is None:
            return x.expand(self.n_members, *x.shape) if x.dim() == 2 else x
        return self._phi(x @ self.F, self.mask[:, None, :])  # [E, B, N_max]

    def member_features(self, e: int, x: torch.Tensor) -> torch.Tensor:
        """Member e's features of x [B, M] -> [B, N_max], in x's dtype (used to build a training set once)."""
        if self.F is None:
            return x
        return self._phi(x @ self.F[e].to(x.dtype), self.mask[e][None, :])

    def readout(self, z: torch.Tensor, v: torch.Tensor | None = None) -> torch.Tensor:
        """z [E, B, N_max], v [E, N_max] (default: the trained readout) -> predictions [E, B]."""
        return _Readout.apply(z, self.v if v is None else v)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.readout(self.features(x))

    def input_weights(self, v: torch.Tensor | None = None) -> torch.Tensor:
        """The predictor in input space, w = F v (or v for the linear model) [E, M]; linear features only."""
        if not self.linear_features:
            raise ValueError("nonlinear features have no input-space weight vector")
        v = self.v if v is None else v
        return v if self.F is None else torch.einsum("emn,en->em", self.F, v)

    def group_of(self, name: str) -> str:
        return "default"

    def member_state(self, e: int) -> dict[str, torch.Tensor]:
        """Member e at its true width: {"v": [N_e]} (and "F": [M, N_e] for random features)."""
        n = self.widths[e]
        out = {"v": self.v[e, :n].detach().clone()}
        if self.F is not None:
            out["F"] = self.F[e, :, :n].detach().clone()
        return out
