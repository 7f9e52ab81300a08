"""Model families and the one registry that decides which family trains a config.

A family (``base.Family``) owns everything specific to one kind of model: its checks, its memory estimate, building
its engine, its callbacks, its members.csv columns, export and which sweep figure it draws. Adding a model family is
a new module here and one entry in ``FAMILIES``.
"""
from __future__ import annotations

from toymodels.errors import ConfigError

from ..config import RunConfig
from .base import Family
from .classification import Classification
from .random_features import RandomFeatures
from .two_layer import TwoLayer

FAMILIES: tuple[Family, ...] = (Classification(), RandomFeatures(), TwoLayer())


def family_of(cfg: RunConfig) -> Family:
    """The family that trains ``cfg`` (task.name and model.name), or a ConfigError saying what trains this task."""
    for family in FAMILIES:
        if family.accepts(cfg):
            return family
    task, model = cfg.task.name, cfg.model.name
    models = sorted({m for f in FAMILIES if task in f.tasks for m in f.models})
    tasks = sorted({t for f in FAMILIES if model in f.models for t in f.tasks})
    if len(tasks) == 1 and task in {t for f in FAMILIES for t in f.tasks}:
        raise ConfigError("task.name", f"the {task} task trains model {' or '.join(models)} (got {model}); "
                                       f"use task {tasks[0]}")
    raise ConfigError("model.name", f"{model} does not train on task {task} yet; use {', '.join(models)}")


__all__ = ["FAMILIES", "Family", "family_of"]
