"""The base classes of the per-name config classes: one ``ModelSettings`` subclass per ``model.name`` and one
``TaskSettings`` subclass per ``task.name``, each holding only the settings that model or task uses. A subclass
declares ``name: Literal["its name"] = "its name"``; ``trainers.config.choices`` finds every subclass defined in
``trainers.config.families`` and makes ``RunConfig.model`` / ``RunConfig.task`` unions selected by ``name``."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Optional


@dataclass
class ModelSettings:
    """Settings every model has."""

    name: str = ""
    init_scale: float = 1.0  # multiplies every initial parameter (Omnigrok's alpha)


@dataclass
class TaskSettings:
    """Settings every task has."""

    name: str = ""
    # classification: training rows (overrides train_fraction); regression: P (null: deep_linear's population loss)
    train_size: Optional[int] = None


def settings_of(cls) -> list[str]:
    """A config class's settings (``name`` aside): its own first, in declaration order, then the inherited ones."""
    names = [f.name for f in dataclasses.fields(cls) if f.name != "name"]
    own = [n for n in names if n in cls.__dict__.get("__annotations__", {})]
    return own + [n for n in names if n not in own]
