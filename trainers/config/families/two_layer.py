"""Config classes of the two-layer family: f(x) = a . act(W x) in a lazy-to-rich parameterisation (on any task),
and the two-layer teacher task."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Optional

from .random_features import PenalisedModelSettings, RegressionTaskSettings


@dataclass
class TwoLayerConfig(PenalisedModelSettings):
    """f(x) = c a . act(m W x) in a parameterisation with richness gamma0 (lazy <-> rich)."""

    name: Literal["two_layer"] = "two_layer"
    width: int = 200  # hidden units N (per member)
    parameterization: Literal["ntk", "standard", "mup"] = "mup"
    gamma0: float = 1.0  # per member; SGD's lr is multiplied by gamma0^2 (and by N for mup)
    center: bool = True  # train f - f0 (f0: the network at its initial weights)
    act: Optional[str] = None  # relu|tanh|quadratic|linear ("identity" is an alias of linear); None: relu


@dataclass
class TeacherTaskConfig(RegressionTaskSettings):
    """Targets from a random two-layer teacher network on Gaussian inputs."""

    name: Literal["teacher"] = "teacher"
    teacher_width: int = 4  # hidden units of the teacher
    teacher_act: Optional[str] = None  # relu|tanh|quadratic|linear (None: the student's model.act)
    test_size: Optional[int] = None  # held-out rows for models without an exact population loss
