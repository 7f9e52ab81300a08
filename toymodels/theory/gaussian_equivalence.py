"""Gaussian equivalence for nonlinear random features sigma(F^T x) (Mei & Montanari 2019; Goldt et al. 2022,
"The Gaussian equivalence of generative models"; Hu & Lu 2023; SCIENCE.md "Nonlinear random features").

For a preactivation u ~ N(0, q), sigma(u) is replaced by mu0 + mu1 u + mustar xi with xi ~ N(0, 1) independent:
  mu0 = E[sigma(u)],  mu1 = E[u sigma(u)]/q,  mustar^2 = E[sigma(u)^2] - mu0^2 - q mu1^2.
With F iid N(0, 1/D) each preactivation has variance q = f^T Sigma f ~ Tr(Sigma)/D. The centred features
sigma(F^T x) - mu0 are then the linear random-feature model z = mu1 F^T x + mustar xi, whose deterministic
equivalent is ``random_features.rf_theory(..., mu1=mu1, mustar=mustar)``. At P = infinity the learned weights
u = mu1 v are those of linear random features at the effective ridge (lambda + mustar^2)/mu1^2 (the mustar xi part
acts as a ridge on u), while the test error adds mustar^2 |v|^2 from the test point's own xi.

Validity: Gaussian equivalence needs the preactivation variances f_i^T Sigma f_i to concentrate around q. For a
power law with alpha > 1 the top eigenvalue dominates Tr(Sigma) and they do not (relative spread ~60% at
alpha = 1.5); there the ReLU prediction was off by up to 46% (see tests/theory/test_gaussian_equivalence.py),
while at alpha = 0.5 it agrees with experiments within 3 SEM + 3%.

Gaussian expectations: Gauss-Hermite quadrature (96 probabilists' nodes) for smooth activations; for activations
with a kink at 0 (relu, abs) Gauss-Hermite converges only algebraically (error 3e-3 in mu0 for relu at 101 nodes:
``np.polynomial.hermite_e.hermegauss(101)``), so each half-line gets 128-node Gauss-Legendre on [0, 12] instead
(error 3e-15 against the closed forms; same check).
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np
import torch

from ..activations import KINKED, activation
from ..errors import ConfigError
from ._checks import as64, positive
from .random_features import RFTheory, rf_theory

F64 = torch.float64

#: name -> (function, has a kink at 0): the activations of ``toymodels.activations`` this quadrature supports
ACTIVATIONS: dict[str, tuple[Callable[[torch.Tensor], torch.Tensor], bool]] = {
    name: (activation(name), name in KINKED) for name in ("relu", "abs", "tanh", "erf", "linear")}


def _rule(kink: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Nodes g and weights w [n] with sum w f(g) ~ E f(g), g ~ N(0, 1)."""
    if not kink:
        x, w = np.polynomial.hermite_e.hermegauss(96)
        return torch.from_numpy(x), torch.from_numpy(w / math.sqrt(2 * math.pi))
    x, w = np.polynomial.legendre.leggauss(128)
    xp = (x + 1.0) * 6.0  # [0, 12]
    wp = w * 6.0 * np.exp(-xp ** 2 / 2) / math.sqrt(2 * math.pi)
    return torch.from_numpy(np.concatenate([-xp[::-1], xp])), torch.from_numpy(np.concatenate([wp[::-1], wp]))


def activation(name) -> tuple[Callable[[torch.Tensor], torch.Tensor], bool]:
    if callable(name):
        return name, True  # unknown smoothness: the split rule is exact for smooth functions too
    if name not in ACTIVATIONS:
        raise ConfigError("theory.activation", f"must be one of {sorted(ACTIVATIONS)} (got {name!r})")
    return ACTIVATIONS[name]


def ge_coefficients(act="relu", q=1.0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(mu0, mu1, mustar) for u ~ N(0, q), each of q's shape [...] (Mei & Montanari 2019; Goldt et al. 2022)."""
    fn, kink = activation(act)
    q = positive(q, "theory.q")
    g, w = _rule(kink)  # [n]
    u = q[..., None].sqrt() * g  # [..., n]
    s = fn(u)
    mu0 = (w * s).sum(-1)
    mu1 = (w * u * s).sum(-1) / q
    m2 = (w * s * s).sum(-1)
    mustar2 = torch.clamp(m2 - mu0 ** 2 - q * mu1 ** 2, min=0.0)
    return mu0, mu1, mustar2.sqrt()


def preactivation_variance(eta) -> torch.Tensor:
    """q = Tr(Sigma)/D: the mean variance of a preactivation f^T x with f iid N(0, 1/D); eta [..., M] -> [...]."""
    eta = as64(eta)
    return eta.sum(-1) / eta.shape[-1]


def ge_features(X: torch.Tensor, F: torch.Tensor, q, act="relu") -> torch.Tensor:
    """Centred nonlinear features sigma(X F) - mu0(q): X [E, P, D], F [E, D, N] -> [E, P, N]; q is the population
    preactivation variance (``preactivation_variance(eta)`` for F iid N(0, 1/D))."""
    fn, _ = activation(act)
    mu0, _, _ = ge_coefficients(act, q)
    return fn(X @ F) - mu0


def ge_theory(eta, wbar, N, P, lam, sigma=0.0, act="relu") -> tuple[RFTheory, dict[str, torch.Tensor]]:
    """Deterministic equivalent for centred nonlinear random features sigma(F^T x) - mu0 with F iid N(0, 1/D):
    the Gaussian-equivalent linear model mu1 F^T x + mustar xi in ``rf_theory`` (Goldt et al. 2022; Hu & Lu 2023).
    Returns (the RFTheory, {"mu0", "mu1", "mustar", "q", "lambda_eff"}) with lambda_eff = (lambda + mustar^2)/mu1^2,
    the ridge of the linear random-feature model with the same weights at P = infinity."""
    q = preactivation_variance(eta)
    mu0, mu1, mustar = ge_coefficients(act, q)
    th = rf_theory(eta, wbar, N, P, lam, sigma, mu1, mustar)
    lam_eff = (as64(lam) + mustar ** 2) / mu1 ** 2
    return th, {"mu0": mu0, "mu1": mu1, "mustar": mustar, "q": q, "lambda_eff": lam_eff}
