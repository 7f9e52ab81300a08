"""Typed values from plain data, by the config library rather than by hand: the one path that turns a config dict
(a YAML file, a run directory's config.yaml, a Ray task's copy), member overrides, grid values and resume overrides
into typed settings. pydantic validates and coerces against the dataclasses of ``trainers.config`` (numbers from
YAML strings, tuples from lists, nested dataclasses, the model's and task's class chosen by their ``name``);
jsonargparse parses the command line against a schema generated from the same dataclasses. A failure is one
ConfigError naming the dotted key.

User input (YAML files, the command line, the Python API, members, grids) is strict: a model or task setting that the
chosen name does not have is an error. A stored config (a run directory's config.yaml) is read leniently: such
settings are dropped, since configs written before the per-name classes held every model's and task's settings."""
from __future__ import annotations

import dataclasses
import functools
from typing import Any

from pydantic import ConfigDict, TypeAdapter, ValidationError

from toymodels.errors import ConfigError

from .config import CHOICES, RunConfig, class_of, not_applicable, settings_of
from .config.choices import DEFAULT_NAMES

_LAX = ConfigDict(coerce_numbers_to_str=True)


@functools.lru_cache(maxsize=None)
def _adapter(tp) -> TypeAdapter:
    return TypeAdapter(tp, config=None if dataclasses.is_dataclass(tp) else _LAX)


def _numeric(tp) -> bool:
    return tp in (int, float) or any(a in (int, float) for a in getattr(tp, "__args__", ()))


def _message(err: ValidationError) -> tuple[str, str]:
    e = err.errors()[0]
    loc = list(e["loc"])
    if len(loc) > 2 and loc[0] in CHOICES and loc[1] in CHOICES[loc[0]]:  # the union's tag: model.mlp.width
        del loc[1]
    return ".".join(str(p) for p in loc), f"{e['msg'][0].lower()}{e['msg'][1:]} (got {e.get('input')!r})"


def _plain_name(tp) -> str | None:
    """"float" for float or Optional[float] (the types a one-line "expected ..." names well), else None."""
    args = [a for a in getattr(tp, "__args__", (tp,)) if a is not type(None)]
    return args[0].__name__ if len(args) == 1 and args[0] in (int, float, str, bool) else None


def typed_value(key: str, tp, value: Any) -> Any:
    """``value`` as type ``tp`` of setting ``key`` (booleans are not numbers), or a ConfigError naming ``key``."""
    name = _plain_name(tp)
    if isinstance(value, bool) and _numeric(tp) and bool not in getattr(tp, "__args__", (tp,)):
        raise ConfigError(key, f"expected {name or 'a number'}, got {value!r}")
    try:
        return _adapter(tp).validate_python(value)
    except ValidationError as err:
        if name:
            raise ConfigError(key, f"expected {name}, got {value!r}") from None
        loc, msg = _message(err)
        raise ConfigError(f"{key}.{loc}" if loc else key, msg) from None


# The model and task settings of the flat config classes that came before the per-name ones (commit 525a752, the
# oldest run directories read here). A section holding all of them was written by toylab itself, as a run
# directory's config.yaml (perhaps copied and given as --config): it is read leniently.
FORMER_FLAT_KEYS = {
    "model": frozenset({"name", "init_scale", "act", "d_model", "n_heads", "d_head", "d_mlp", "logit_for_equals",
                        "width", "depth", "bias", "d_embed", "projection_alpha", "ridge", "per_mode_lr",
                        "parameterization", "gamma0", "center"}),
    "task": frozenset({"name", "operation", "p", "train_fraction", "train_size", "label_noise", "data_path", "dim",
                       "alpha", "r", "noise_std", "test_size", "teacher_width", "teacher_act"}),
}


def _selected(section: str, part: dict, strict: bool) -> dict:
    """The section's settings with its ``name`` made explicit (the default if unset), for the class it selects;
    settings that class does not have raise ``not_applicable`` (strict) or are dropped (a stored config)."""
    name = part.get("name", DEFAULT_NAMES[section])
    own = set(settings_of(class_of(section, name)))
    extra = [k for k in part if k != "name" and k not in own]
    if extra and strict and not FORMER_FLAT_KEYS[section] <= set(part):  # the last given: the command line's
        raise not_applicable(section, name, extra[-1])  # overrides come after a config file's settings
    return {"name": name, **{k: v for k, v in part.items() if k != "name" and k in own}}


def config_from_dict(data: dict, strict: bool = True) -> RunConfig:
    """A RunConfig from plain data. ``strict`` (user input): a model or task setting that its name does not have is
    a ConfigError; otherwise (a stored config) it is dropped. Keys outside any section are the parser's to reject;
    here they are ignored."""
    if not isinstance(data, dict):
        raise ConfigError("config", f"expected a mapping of settings, got {type(data).__name__}")
    data = {**data, **{s: _selected(s, data[s], strict) for s in CHOICES if isinstance(data.get(s), dict)}}
    try:
        return _adapter(RunConfig).validate_python(data)
    except ValidationError as err:
        loc, msg = _message(err)
        raise ConfigError(loc or "config", msg) from None


def config_to_dict(cfg: RunConfig) -> dict:
    """Plain data (dicts, lists, tuples, numbers, strings) of a RunConfig: the model's and task's own settings."""
    return dataclasses.asdict(cfg)
