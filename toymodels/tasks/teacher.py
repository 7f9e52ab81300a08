"""Teacher-student regression: labels from a fixed two-layer teacher network on isotropic Gaussian inputs.

    x ~ N(0, I_D),   y = (1/sqrt(K)) sum_k a*_k act(w*_k . x / sqrt(D)) + eps,   eps ~ N(0, sigma^2)

with K teacher units, w*_k ~ N(0, I_D) and a*_k ~ N(0, 1), so every teacher preactivation is N(0, 1) and the label
variance is O(1) whatever D and K are. Randomness comes from separate per-member streams of ``toymodels.rng``: the
teacher's weights from stream "teacher" (of the member's teacher seed), training inputs from "data", held-out inputs
from "heldout" (data seed), label noise from "noise" / "heldout_noise" (noise seed) -- the streams the power-law
task uses, so a member sees the same numbers whatever else is in the ensemble.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..activations import activation
from ..errors import ConfigError
from ..rng import generator

F64 = torch.float64

#: the activations a teacher network may use (functions from ``toymodels.activations``)
TEACHER_ACTIVATIONS = {name: activation(name) for name in ("relu", "tanh", "quadratic", "linear")}


@dataclass(frozen=True)
class TeacherTask:
    D: int  # input dimension
    K: int  # teacher width
    act: str = "relu"

    def __post_init__(self):
        for key, v in (("task.dim", self.D), ("task.teacher_width", self.K)):
            if int(v) != v or v < 1:
                raise ConfigError(key, f"must be a positive integer (got {v})")
        if self.act not in TEACHER_ACTIVATIONS:
            raise ConfigError("task.teacher_act", f"must be one of {', '.join(TEACHER_ACTIVATIONS)} (got {self.act})")

    @property
    def in_sq_norm(self) -> float:
        """E|x|^2 = D."""
        return float(self.D)

    def teacher(self, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(W* [K, D], a* [K]) float64 from stream "teacher" of ``seed``."""
        g = generator(int(seed), "teacher")
        W = torch.randn(self.K, self.D, generator=g, dtype=F64)
        a = torch.randn(self.K, generator=g, dtype=F64)
        return W, a

    def inputs(self, P: int, seed: int, stream: str = "data") -> torch.Tensor:
        """X [P, D] float64 standard normal from ``stream`` of ``seed``."""
        return torch.randn(int(P), self.D, generator=generator(int(seed), stream), dtype=F64)

    def clean_labels(self, X: torch.Tensor, W: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        """The teacher's output [P] on X [P, D]."""
        u = X.to(F64) @ W.T.to(X.device) / math.sqrt(self.D)  # [P, K]
        return TEACHER_ACTIVATIONS[self.act](u) @ a.to(X.device) / math.sqrt(self.K)

    def linear_weights(self, W: torch.Tensor, a: torch.Tensor) -> torch.Tensor | None:
        """For a linear teacher, y = x . w_t with w_t = W*^T a* / sqrt(K D) [D]; None otherwise."""
        if self.act != "linear":
            return None
        return W.T @ a / math.sqrt(self.K * self.D)
