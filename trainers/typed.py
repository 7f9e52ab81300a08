"""Typed values from plain data, by the config library rather than by hand: the one path that turns a config dict
(a YAML file, a run directory's config.yaml, a Ray task's copy), member overrides, grid values and resume overrides
into typed settings. pydantic validates and coerces against the dataclasses of ``trainers.config`` (numbers from
YAML strings, tuples from lists, nested dataclasses); jsonargparse parses the command line on top of the same
dataclasses. A failure is one ConfigError naming the dotted key."""
from __future__ import annotations

import dataclasses
import functools
from typing import Any

from pydantic import ConfigDict, TypeAdapter, ValidationError

from toymodels.errors import ConfigError

from .config import RunConfig

_LAX = ConfigDict(coerce_numbers_to_str=True)


@functools.lru_cache(maxsize=None)
def _adapter(tp) -> TypeAdapter:
    return TypeAdapter(tp, config=None if dataclasses.is_dataclass(tp) else _LAX)


def _numeric(tp) -> bool:
    return tp in (int, float) or any(a in (int, float) for a in getattr(tp, "__args__", ()))


def _message(err: ValidationError) -> tuple[str, str]:
    e = err.errors()[0]
    return ".".join(str(p) for p in e["loc"]), f"{e['msg'][0].lower()}{e['msg'][1:]} (got {e.get('input')!r})"


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


def config_from_dict(data: dict) -> RunConfig:
    """A RunConfig from plain data (unknown keys are the parser's to reject; here they are ignored)."""
    if not isinstance(data, dict):
        raise ConfigError("config", f"expected a mapping of settings, got {type(data).__name__}")
    try:
        return _adapter(RunConfig).validate_python(data)
    except ValidationError as err:
        loc, msg = _message(err)
        raise ConfigError(loc or "config", msg) from None


def config_to_dict(cfg: RunConfig) -> dict:
    """Plain data (dicts, lists, tuples, numbers, strings) of a RunConfig."""
    return dataclasses.asdict(cfg)
