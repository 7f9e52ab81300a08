"""Config classes of the random-feature family: the linear model and random features (regression), and the
power-law Gaussian task (SCIENCE.md section 2)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Optional

from ..base import ModelSettings, TaskSettings


@dataclass
class PenalisedModelSettings(ModelSettings):
    """Settings of the models trained on a regression objective (random features, two-layer and deep linear nets)."""

    # the L2 penalty lambda of the regression objectives ((1/P)|y - Z v|^2 + lambda |v|^2: SCIENCE.md's lambda), per
    # member: an alias of optimizer.weight_decay, whose one name it is in every family (lambda = weight_decay / 2)
    ridge: float = 0.0


@dataclass
class LinearConfig(PenalisedModelSettings):
    """The linear model on the raw inputs (N = M = task.dim), trained by gradient descent from zero."""

    name: Literal["linear"] = "linear"


@dataclass
class RandomFeaturesConfig(PenalisedModelSettings):
    """Random features Z = act(X F) with a trained readout."""

    name: Literal["random_features"] = "random_features"
    width: int = 200  # N features (per member)
    projection_alpha: Optional[float] = None  # projection spectrum k^-projection_alpha (None: isotropic N(0, 1/M))
    per_mode_lr: bool = False  # step with lr * M / N so the per-mode rate is the same at every width (Bordelon et al.)
    act: Optional[str] = None  # relu|abs|tanh|erf|linear ("identity" is an alias of linear); None: linear


@dataclass
class RegressionTaskSettings(TaskSettings):
    """Settings of the regression tasks: input dimension and label noise (P is train_size)."""

    dim: int = 1000  # input dimension M (number of modes)
    noise_std: float = 0.0  # label noise sigma (per member)


@dataclass
class PowerLawTaskConfig(RegressionTaskSettings):
    """Gaussian inputs with power-law covariance eta_k ~ k^-alpha and a power-law target."""

    name: Literal["powerlaw"] = "powerlaw"
    alpha: float = 1.5  # capacity: eta_k ~ k^-alpha
    r: float = 0.4  # source: eta_k wbar_k^2 ~ k^-(1 + 2 alpha r)
    test_size: Optional[int] = None  # held-out rows for models without an exact population loss
