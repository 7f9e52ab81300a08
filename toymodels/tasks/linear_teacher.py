"""A linear teacher with chosen singular values, on whitened Gaussian inputs (Saxe, McClelland & Ganguli 2014).

    x ~ N(0, I_{d_in}),   y = W* x + sigma eps,   eps ~ N(0, I_{d_out}),   W* = U diag(s) V^T

with s = the chosen singular values (r <= min(d_in, d_out) of them, the rest 0) and U [d_out, d_out],
V [d_in, d_in] Haar-random orthogonal matrices from the member's "teacher" stream (its teacher seed). The
training inputs come from stream "data" (data seed), the label noise from stream "noise" (noise seed): the
streams the other regression tasks use, so a member sees the same numbers whatever else is in the ensemble.

``whiten``: rescale the sampled rows so that their empirical covariance X^T X / P is exactly I (needs P >= d_in):
Saxe et al.'s assumption Sigma^11 = I holds for the training set itself, not only in expectation.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..errors import ConfigError
from ..rng import generator

F64 = torch.float64


def _haar(n: int, g: torch.Generator) -> torch.Tensor:
    q, r = torch.linalg.qr(torch.randn(n, n, generator=g, dtype=F64))
    return q * torch.sign(torch.diagonal(r))[None, :]  # [n, n] Haar orthogonal


@dataclass(frozen=True)
class LinearTeacherTask:
    dim: int  # d_in
    out_dim: int  # d_out
    singular_values: tuple[float, ...]  # s_1 >= ... (r of them)
    noise_std: float = 0.0

    def __post_init__(self):
        for key, v in (("task.dim", self.dim), ("task.out_dim", self.out_dim)):
            if int(v) != v or v < 1:
                raise ConfigError(key, f"must be a positive integer (got {v})")
        s = tuple(float(x) for x in self.singular_values)
        if not s or len(s) > min(self.dim, self.out_dim) or min(s) < 0:
            raise ConfigError("task.singular_values", f"need 1..min(dim, out_dim) = {min(self.dim, self.out_dim)} "
                                                      f"values >= 0 (got {list(s)})")
        object.__setattr__(self, "singular_values", s)
        if not self.noise_std >= 0:
            raise ConfigError("task.noise_std", f"must be >= 0 (got {self.noise_std})")

    @property
    def s(self) -> torch.Tensor:  # [r]
        return torch.tensor(self.singular_values, dtype=F64)

    def teacher(self, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(U [d_out, d_out], V [d_in, d_in]) from stream "teacher" of ``seed``: W* = U[:, :r] diag(s) V[:, :r]^T."""
        g = generator(int(seed), "teacher")
        return _haar(self.out_dim, g), _haar(self.dim, g)

    def teacher_map(self, U: torch.Tensor, V: torch.Tensor) -> torch.Tensor:
        """W* [d_out, d_in]."""
        r = len(self.singular_values)
        return (U[:, :r] * self.s) @ V[:, :r].T

    def inputs(self, P: int, seed: int, whiten: bool = False) -> torch.Tensor:
        """X [P, d_in] from stream "data" of ``seed`` (whitened to X^T X / P = I exactly if ``whiten``)."""
        X = torch.randn(int(P), self.dim, generator=generator(int(seed), "data"), dtype=F64)
        if not whiten:
            return X
        if P < self.dim:
            raise ConfigError("task.train_size", f"whitened inputs need train_size >= dim = {self.dim} (got {P})")
        evals, evecs = torch.linalg.eigh(X.T @ X / P)  # [d], [d, d]
        return X @ (evecs * evals.rsqrt()) @ evecs.T

    def noise(self, P: int, seed: int) -> torch.Tensor:
        """eps [P, d_out] ~ N(0, I) from stream "noise" of ``seed`` (multiply by sigma)."""
        return torch.randn(int(P), self.out_dim, generator=generator(int(seed), "noise"), dtype=F64)


__all__ = ["LinearTeacherTask"]
