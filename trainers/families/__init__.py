"""Model families and the one registry that decides which family trains a config.

A family (``base.Family``) owns everything specific to one kind of model: its checks, its memory estimate, building
its engine, its callbacks, its members.csv columns, export and which sweep figure it draws. The registry is every
``Family`` subclass defined in a module of this package: adding a model family is adding its module here.
"""
from __future__ import annotations

import importlib
import inspect
import pkgutil

from toymodels.errors import ConfigError

from ..config import RunConfig
from .base import Family


def _discover() -> tuple[Family, ...]:
    """One instance of every concrete Family subclass defined in this package's modules (in module-name order);
    no two may train the same (task, model) pair."""
    found: list[Family] = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        found += [cls() for _, cls in inspect.getmembers(module, inspect.isclass)
                  if issubclass(cls, Family) and cls.__module__ == module.__name__ and not inspect.isabstract(cls)]
    pairs: dict[tuple[str, str], str] = {}
    for f in found:
        for pair in ((t, m) for t in f.tasks for m in f.models):
            if pair in pairs:
                raise RuntimeError(f"families {pairs[pair]} and {f.name} both train task {pair[0]} with {pair[1]}")
            pairs[pair] = f.name
    return tuple(found)


FAMILIES: tuple[Family, ...] = _discover()


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
