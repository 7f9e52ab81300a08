"""Gaussian regression with a power-law covariance: the task of the ridge / random-feature / scaling-law theory.

x ~ N(0, Sigma), Sigma = diag(eta_k) in M dims with eta_k = k^-alpha (capacity alpha = b);
target wbar with eta_k wbar_k^2 = k^-(1 + 2 alpha r) / Z (source r; equivalently (w*_k)^2 lambda_k ~ k^-a with
a = 1 + 2 alpha r), normalised so that the clean-label power sum_k eta_k wbar_k^2 = 1 (all wbar_k > 0);
y = wbar . x + eps, eps ~ N(0, sigma^2).

Randomness comes from three separate per-member streams of ``toymodels.rng`` so each source of variance can be
switched on alone: inputs X from stream "data", the random projection F from stream "projection", the label noise
from stream "noise". A member drawn with seeds (s_X, s_F, s_eps) sees the same numbers whatever else is in the
ensemble; holding two of the seeds fixed across members and varying the third measures Var_X, Var_F or Var_eps.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import torch

from ..errors import ConfigError
from ..rng import generator

F64 = torch.float64


def _positive_int(value, key: str) -> int:
    if int(value) != value or value <= 0:
        raise ConfigError(key, f"must be a positive integer (got {value})")
    return int(value)


def powerlaw_spectrum(M: int, alpha: float) -> torch.Tensor:
    """eta_k = k^-alpha, k = 1..M: [M] float64 (the capacity exponent alpha is Bordelon et al.'s b)."""
    M = _positive_int(M, "task.M")
    if not alpha > 0:
        raise ConfigError("task.alpha", f"must be > 0 (got {alpha})")
    k = torch.arange(1, M + 1, dtype=F64)
    return k ** (-float(alpha))


def powerlaw_target(M: int, alpha: float, r: float) -> torch.Tensor:
    """wbar [M] with eta_k wbar_k^2 proportional to k^-(1 + 2 alpha r), normalised so sum_k eta_k wbar_k^2 = 1."""
    if not r > 0:
        raise ConfigError("task.r", f"must be > 0 (got {r})")
    eta = powerlaw_spectrum(M, alpha)
    k = torch.arange(1, eta.numel() + 1, dtype=F64)
    power = k ** (-(1.0 + 2.0 * alpha * r))  # [M] eta_k wbar_k^2 before normalising
    power = power / power.sum()
    return torch.sqrt(power / eta)


@dataclass(frozen=True)
class PowerLawTask:
    """The task's population: M dims, capacity alpha, source r, label noise sigma (standard deviation)."""

    M: int
    alpha: float
    r: float
    sigma: float = 0.0

    def __post_init__(self):
        _positive_int(self.M, "task.M")
        if not self.sigma >= 0:
            raise ConfigError("task.sigma", f"must be >= 0 (got {self.sigma})")
        powerlaw_target(1, self.alpha, self.r)  # validates alpha and r

    @classmethod
    def from_exponents(cls, M: int, a: float, b: float, sigma: float = 0.0) -> "PowerLawTask":
        """Bordelon et al.'s exponents: spectrum k^-b, target power (w*_k)^2 lambda_k ~ k^-a (a > 1)."""
        if not a > 1:
            raise ConfigError("task.a", f"must be > 1 (got {a}): the target power sum diverges")
        return cls(M, float(b), (a - 1.0) / (2.0 * b), sigma)

    @property
    def a(self) -> float:
        return 1.0 + 2.0 * self.alpha * self.r

    @property
    def b(self) -> float:
        return self.alpha

    @property
    def eta(self) -> torch.Tensor:  # [M]
        return powerlaw_spectrum(self.M, self.alpha)

    @property
    def wbar(self) -> torch.Tensor:  # [M]
        return powerlaw_target(self.M, self.alpha, self.r)


def _seed_list(seeds, key: str) -> list[int]:
    if isinstance(seeds, torch.Tensor):
        seeds = seeds.tolist()
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ConfigError(key, "needs at least one seed")
    return seeds


def sample_inputs(task: PowerLawTask, P: int, seeds: Sequence[int] | torch.Tensor) -> torch.Tensor:
    """X [E, P, M] float64, member e's rows from stream "data" of seeds[e]: x = sqrt(eta) * standard normal."""
    P = _positive_int(P, "task.P")
    sd = task.eta.sqrt()  # [M]
    rows = [torch.randn(P, task.M, generator=generator(s, "data"), dtype=F64) for s in _seed_list(seeds, "task.seeds")]
    return torch.stack(rows) * sd  # [E, P, M]


def sample_noise(P: int, seeds: Sequence[int] | torch.Tensor, sigma: float) -> torch.Tensor:
    """Label noise eps [E, P] ~ N(0, sigma^2) from stream "noise" of each member's seed."""
    P = _positive_int(P, "task.P")
    eps = [torch.randn(P, generator=generator(s, "noise"), dtype=F64) for s in _seed_list(seeds, "task.seeds")]
    return float(sigma) * torch.stack(eps)  # [E, P]


def sample_dataset(task: PowerLawTask, P: int, seeds: Sequence[int] | torch.Tensor,
                   noise_seeds: Sequence[int] | torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-member training sets: X [E, P, M] (stream "data" of ``seeds``), y [E, P] = X wbar + eps with eps from
    stream "noise" of ``noise_seeds`` (default: ``seeds``)."""
    X = sample_inputs(task, P, seeds)
    eps = sample_noise(P, seeds if noise_seeds is None else noise_seeds, task.sigma)
    if eps.shape[0] != X.shape[0]:
        raise ConfigError("task.noise_seeds", f"needs one seed per member ({X.shape[0]}), got {eps.shape[0]}")
    return X, X @ task.wbar + eps


def _haar(n: int, g: torch.Generator) -> torch.Tensor:
    q, r = torch.linalg.qr(torch.randn(n, n, generator=g, dtype=F64))
    return q * torch.sign(torch.diagonal(r))  # [n, n], Haar distributed


def sample_projection(M: int, N: int, seeds: Sequence[int] | torch.Tensor, alpha_F: float | None = None,
                      basis: str = "random") -> torch.Tensor:
    """Random projections F [E, M, N] from stream "projection" of each member's seed.

    alpha_F None: entries iid N(0, 1/M) (SCIENCE.md's F_ij ~ N(0, 1/D) with D = M), so E[F F^T] = (N/M) I.
    alpha_F = c >= 0: anisotropic weights F = U diag(omega)^(1/2) G with G iid N(0, 1/M), omega_k ~ k^-c rescaled to
    mean 1 (so E[F F^T] = (N/M) U diag(omega) U^T has the isotropic trace); U is Haar random (basis "random") or the
    identity, aligning omega_k with the data's k-th eigendirection (basis "data").
    """
    M, N = _positive_int(M, "theory.M"), _positive_int(N, "theory.N")
    if basis not in ("random", "data"):
        raise ConfigError("task.projection_basis", f"must be 'random' or 'data' (got {basis!r})")
    if alpha_F is not None and not alpha_F >= 0:
        raise ConfigError("task.alpha_F", f"must be >= 0 (got {alpha_F})")
    out = []
    for s in _seed_list(seeds, "task.seeds"):
        g = generator(s, "projection")
        F = torch.empty(M, N, dtype=F64).normal_(0.0, 1.0 / math.sqrt(M), generator=g)  # [M, N]
        if alpha_F is not None:
            omega = torch.arange(1, M + 1, dtype=F64) ** (-float(alpha_F))
            F = (omega / omega.mean()).sqrt()[:, None] * F
            if basis == "random":
                F = _haar(M, g) @ F
        out.append(F)
    return torch.stack(out)  # [E, M, N]


def population_loss(w: torch.Tensor, eta: torch.Tensor, wbar: torch.Tensor, sigma: float = 0.0,
                    include_noise: bool = False) -> torch.Tensor:
    """Exact test loss of linear predictors w [..., M]: E_g = (w - wbar)^T Sigma (w - wbar), Sigma = diag(eta);
    plus sigma^2 (the loss against a noisy label) if ``include_noise``. Returns [...]."""
    d = w.to(F64) - wbar  # [..., M]
    loss = (d * d * eta).sum(-1)  # [...]
    return loss + float(sigma) ** 2 if include_noise else loss
