"""Theory values for every member of a regression ensemble: the expected test loss along GD and at t -> infinity.

Along training: ``toymodels.theory.gd_curves.gd_curve`` (finite N, P; exact for GD from zero on the loss
(1/P) sum (f - y)^2 with the engine's lr convention), evaluated once per distinct (N, P, lr, sigma, mu1, mustar) --
members that differ only by seed share one curve -- in chunks that bound the contour quadrature's memory.
Each member gets a ``kind``:
  "gd"          exact expectation: linear model, or linear random features with iid N(0, 1/M) projections, full batch;
  "gd_ge"       APPROXIMATION: nonlinear features through their Gaussian equivalent (mu1, mustar; SCIENCE.md warns it
                fails for alpha > 1, where the top eigenvalue dominates the preactivations);
  "gd_for_sgd"  APPROXIMATION: minibatch SGD compared with the full-batch GD curve at the same lr and step (the mean
                update; the minibatch noise is not modelled);
  "none: ..."   no theory here (the reason follows: ridge > 0 along GD, anisotropic projections, momentum/warmup, or a
                step too large for the discrete-time theory, 2 lr s_+ >= 1).
At t -> infinity: ridge / random-feature ridge (or the Gaussian-equivalent) deterministic equivalent at each
member's lambda (``theory_limits``; the anisotropic-projection case has none); at P, t -> infinity the model-limited
loss sigma_F^2 + sigma^2 (``theory_projection``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..theory.gaussian_equivalence import ge_coefficients, preactivation_variance
from ..theory.gd_curves import gd_curve
from ..theory.one_level import OneLevel
from ..theory.random_features import rf_theory, sigma_F2
from ..theory.ridge import ridge_theory

F64 = torch.float64
NODES = 80  # contour nodes per curve point (gd_curve's default quadrature uses ~77)


@dataclass
class MemberSpec:
    """What the theory needs about each member ([E] float64 CPU tensors; N None for the linear model)."""

    N: torch.Tensor | None
    P: torch.Tensor
    lr: torch.Tensor  # the step size actually applied
    sigma: torch.Tensor
    ridge: torch.Tensor
    momentum: torch.Tensor
    warmup: torch.Tensor
    act: str = "linear"
    projection_alpha: float | None = None
    batch_size: int | None = None

    def mu(self, eta: torch.Tensor) -> tuple[float, float]:
        """(mu1, mustar) of the features: (1, 0) linear, else the Gaussian-equivalent coefficients."""
        if self.act == "linear":
            return 1.0, 0.0
        _, mu1, mustar = ge_coefficients(self.act, preactivation_variance(eta))
        return float(mu1), float(mustar)

    def base_kind(self) -> list[str]:
        """Each member's theory kind before the step-size check."""
        E = len(self.P)
        if self.projection_alpha is not None:
            return ["none: anisotropic projection"] * E
        kind = "gd" if self.act == "linear" else "gd_ge"
        if self.batch_size is not None:
            kind = "gd_for_sgd"
        out = []
        for e in range(E):
            if self.ridge[e] != 0:
                out.append("none: ridge > 0 along GD")
            elif self.momentum[e] != 0 or self.warmup[e] != 0:
                out.append("none: momentum / warmup")
            else:
                out.append(kind)
        return out


def _unique(spec: MemberSpec, members: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Distinct (N, P, lr, sigma) rows among ``members`` [U, 4] and each member's row index [n]."""
    N = spec.N if spec.N is not None else torch.zeros_like(spec.P)
    rows = torch.stack([N, spec.P, spec.lr, spec.sigma], 1)[members]  # [n, 4]
    return torch.unique(rows, dim=0, return_inverse=True)


def theory_curves(eta: torch.Tensor, wbar: torch.Tensor, spec: MemberSpec, steps,
                  max_elements: float = 2e7) -> tuple[torch.Tensor, list[str]]:
    """Expected test loss (E_g + sigma^2) of every member at ``steps`` [T] (integers): ([E, T] float64, NaN where
    there is no theory; kinds [E])."""
    eta, wbar = eta.to(F64).cpu(), wbar.to(F64).cpu()
    t = torch.as_tensor(steps, dtype=F64)
    kinds = spec.base_kind()
    out = torch.full((len(spec.P), len(t)), math.nan, dtype=F64)
    todo = [e for e, k in enumerate(kinds) if not k.startswith("none")]
    if not todo:
        return out, kinds
    mu1, mustar = spec.mu(eta)
    rows, inverse = _unique(spec, todo)  # [U, 4]
    N = None if spec.N is None else rows[:, 0]
    s_plus = OneLevel.build(eta, wbar, rows[:, 1], N, mu1, mustar).right_edge()  # [U]
    ok = 2 * rows[:, 2] * s_plus < 1
    curves = torch.full((len(rows), len(t)), math.nan, dtype=F64)
    good = torch.nonzero(ok).flatten()
    chunk = max(1, int(max_elements // (len(t) * NODES * len(eta))))
    for part in good.split(chunk):
        r = rows[part]
        curves[part] = gd_curve(eta, wbar, r[:, 1], t, r[:, 2], r[:, 3], N=None if N is None else r[:, 0],
                                mu1=mu1, mustar=mustar)["test_loss"]
    for j, e in enumerate(todo):
        out[e] = curves[inverse[j]]
        if not ok[inverse[j]]:
            kinds[e] = f"none: 2 lr s+ = {2 * rows[inverse[j], 2] * s_plus[inverse[j]]:.3g} >= 1"
    return out, kinds


def theory_limits(eta: torch.Tensor, wbar: torch.Tensor, spec: MemberSpec) -> torch.Tensor:
    """t -> infinity expected test loss [E] (ridge at each member's lambda; NaN for anisotropic projections)."""
    eta, wbar = eta.to(F64).cpu(), wbar.to(F64).cpu()
    if spec.projection_alpha is not None:
        return torch.full((len(spec.P),), math.nan, dtype=F64)
    if spec.N is None:
        return ridge_theory(eta, wbar, spec.P, spec.ridge, spec.sigma).test_loss
    mu1, mustar = spec.mu(eta)
    return rf_theory(eta, wbar, spec.N, spec.P, spec.ridge, spec.sigma, mu1, mustar).test_loss


def theory_projection(eta: torch.Tensor, wbar: torch.Tensor, spec: MemberSpec) -> torch.Tensor:
    """P, t -> infinity expected test loss [E] of linear features: sigma_F^2(N) + sigma^2 (sigma^2 for the linear
    model; NaN for nonlinear or anisotropic features)."""
    if spec.N is None:
        return spec.sigma ** 2
    if spec.act != "linear" or spec.projection_alpha is not None:
        return torch.full_like(spec.sigma, math.nan)
    return sigma_F2(eta.to(F64).cpu(), wbar.to(F64).cpu(), spec.N) + spec.sigma ** 2
