"""The per-name config classes, found in ``trainers.config.families``, and the unions ``RunConfig.model`` /
``RunConfig.task`` are typed with: pydantic picks the class by the ``name`` field (a discriminated union), so
``model: {name: mlp, width: 64}`` is an ``MLPConfig``. A setting that the selected class does not have is one
ConfigError naming the dotted key and the name (``not_applicable``)."""
from __future__ import annotations

import importlib
import pkgutil
import typing
from typing import Annotated, Union

from pydantic import Field

from toymodels.errors import ConfigError

from . import families
from .base import ModelSettings, TaskSettings, settings_of


def _discover(base: type) -> dict[str, type]:
    """name -> class for every dataclass subclass of ``base`` with a ``Literal`` name, in module-name and
    definition order; two classes of one name are an error at import."""
    found: dict[str, type] = {}
    for info in sorted(pkgutil.iter_modules(families.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{families.__name__}.{info.name}")
        for cls in vars(module).values():
            if not (isinstance(cls, type) and issubclass(cls, base) and cls.__module__ == module.__name__):
                continue
            tag = typing.get_args(typing.get_type_hints(cls)["name"])
            if len(tag) != 1:  # an intermediate base class (no single name of its own)
                continue
            if tag[0] in found:
                raise RuntimeError(f"{found[tag[0]].__name__} and {cls.__name__} both claim name {tag[0]!r}")
            found[tag[0]] = cls
    return found


MODELS: dict[str, type] = _discover(ModelSettings)
TASKS: dict[str, type] = _discover(TaskSettings)
CHOICES: dict[str, dict[str, type]] = {"model": MODELS, "task": TASKS}  # the sections selected by name
DEFAULT_NAMES = {"model": "transformer", "task": "modular"}

ModelConfig = Annotated[Union[tuple(MODELS.values())], Field(discriminator="name")]
TaskConfig = Annotated[Union[tuple(TASKS.values())], Field(discriminator="name")]


def class_of(section: str, name) -> type:
    """The config class of ``section`` ("model" or "task") named ``name``, or a ConfigError listing the names."""
    classes = CHOICES[section]
    if not isinstance(name, str) or name not in classes:
        raise ConfigError(f"{section}.name", f"expected one of {', '.join(classes)} (got {name!r})")
    return classes[name]


def not_applicable(section: str, name: str, setting: str) -> ConfigError:
    """``model.d_model: does not apply to model mlp (its settings: width, depth, bias, act, init_scale)``."""
    return ConfigError(f"{section}.{setting}", f"does not apply to {section} {name} (its settings: "
                                               f"{', '.join(settings_of(class_of(section, name)))})")


def applicable_type(section: str, name: str, setting: str):
    """The declared type of ``section.setting`` in the class named ``name``, or ``not_applicable``."""
    cls = class_of(section, name)
    if setting != "name" and setting not in settings_of(cls):
        raise not_applicable(section, name, setting)
    return typing.get_type_hints(cls)[setting]
