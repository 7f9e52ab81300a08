"""Config classes of the classification family's models (Nanda's transformer, MLPs, Liu's toy) and tasks (modular
arithmetic tables, digits, MNIST)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Optional

from ..base import ModelSettings, TaskSettings


@dataclass
class TransformerConfig(ModelSettings):
    """Nanda et al.'s one-layer transformer on operand pairs."""

    name: Literal["transformer"] = "transformer"
    d_model: int = 128
    n_heads: int = 4
    d_head: int = 32
    d_mlp: int = 512
    logit_for_equals: bool = True  # an output logit for the "=" token too, as in Nanda's code
    act: Optional[str] = None  # MLP activation (toymodels.activations); None: relu


@dataclass
class MLPConfig(ModelSettings):
    """An MLP on one-hot operand pairs or images (quadratic activation for Gromov, no bias for Prieto)."""

    name: Literal["mlp"] = "mlp"
    width: int = 200  # hidden width (per member)
    depth: int = 3  # weight layers
    bias: bool = True
    act: Optional[str] = None  # relu|tanh|gelu|quadratic|linear ("identity" is an alias of linear); None: relu


@dataclass
class LiuToyConfig(ModelSettings):
    """Liu et al.'s toy: a learned embedding of each symbol and an MLP decoder of the summed pair."""

    name: Literal["liu_toy"] = "liu_toy"
    d_embed: int = 1
    width: int = 200  # decoder hidden width (per member)
    depth: int = 3  # decoder weight layers
    act: Optional[str] = None  # relu|tanh|gelu|quadratic|linear; None: tanh


@dataclass
class TableTaskSettings(TaskSettings):
    """Settings of the classification tables: the training split and label noise."""

    train_fraction: Optional[float] = 0.3  # of the table (floor), unless train_size is set
    label_noise: int = 0  # number of training answers replaced by a wrong class


@dataclass
class ModularTaskConfig(TableTaskSettings):
    """A binary-operation table: any operation of toymodels.tasks.OPERATIONS (openai/grok's strings are aliases)."""

    name: Literal["modular"] = "modular"
    operation: str = "a+b"
    p: int = 113


@dataclass
class DigitsTaskConfig(TableTaskSettings):
    """sklearn's 8 x 8 digits (offline)."""

    name: Literal["digits"] = "digits"


@dataclass
class MnistTaskConfig(TableTaskSettings):
    """MNIST from a local file."""

    name: Literal["mnist"] = "mnist"
    data_path: Optional[str] = None  # MNIST .npz (x_train, y_train, x_test, y_test)
