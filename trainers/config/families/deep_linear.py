"""Config classes of the deep-linear family: deep linear networks W_L ... W_1 and the linear teacher task."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from .random_features import PenalisedModelSettings, RegressionTaskSettings


@dataclass
class DeepLinearConfig(PenalisedModelSettings):
    """A deep linear network of ``depth`` weight layers of hidden width ``width`` (per member)."""

    name: Literal["deep_linear"] = "deep_linear"
    width: int = 200  # hidden width N (per member)
    depth: int = 3  # weight layers L
    # balanced (the product's singular values are init_scale, Saxe et al.'s small-init picture) or random
    # (N(0, init_scale^2 / fan_in)); init_align: the balanced init along the teacher's singular vectors
    init: Literal["balanced", "random"] = "balanced"
    init_align: bool = True


@dataclass
class LinearTeacherTaskConfig(RegressionTaskSettings):
    """y = W* x + sigma eps, W* = U diag(singular_values) V^T [out_dim, dim], x ~ N(0, I_dim); train_size null
    trains on the exact population loss."""

    name: Literal["linear_teacher"] = "linear_teacher"
    out_dim: int = 1
    singular_values: list[float] = field(default_factory=lambda: [3.0, 2.0, 1.0])
    whiten: bool = False  # make each member's rows exactly white (X^T X / P = I): Saxe et al.'s assumption
