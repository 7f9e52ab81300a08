"""Grid expansion: each key's values from a list or a lin/log range, the Cartesian product of all keys."""
from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from toymodels.errors import ConfigError

from ..members import coerce


def axis_values(key: str, spec: Any) -> list:
    """Values of one grid axis: a list, or {log: [lo, hi, n]} / {lin: [lo, hi, n]} (n points, both ends)."""
    if isinstance(spec, dict):
        if len(spec) != 1 or next(iter(spec)) not in ("lin", "log"):
            raise ConfigError(f"sweep.grid.{key}", "a range is {lin: [lo, hi, n]} or {log: [lo, hi, n]}")
        kind, args = next(iter(spec.items()))
        try:
            lo, hi, n = float(args[0]), float(args[1]), int(args[2])
        except (TypeError, ValueError, IndexError):
            raise ConfigError(f"sweep.grid.{key}", f"{kind} needs [lo, hi, n] numbers (got {args!r})") from None
        if n < 1:
            raise ConfigError(f"sweep.grid.{key}", f"a range needs n >= 1 points (got {n})")
        if kind == "log":
            if lo <= 0 or hi <= 0:
                raise ConfigError(f"sweep.grid.{key}", f"log ranges need positive ends (got {lo}, {hi})")
            vals = np.geomspace(lo, hi, n)
        else:
            vals = np.linspace(lo, hi, n)
        values = [float(f"{v:.6g}") for v in vals]
    elif isinstance(spec, (list, tuple)):
        values = list(spec)
    else:
        values = [spec]
    if not values:
        raise ConfigError(f"sweep.grid.{key}", "needs at least one value")
    return [coerce(key, v) for v in values]


def is_log_axis(spec: Any) -> bool:
    return isinstance(spec, dict) and "log" in spec


def expand_grid(grid: dict[str, Any]) -> tuple[list[str], list[dict[str, Any]]]:
    """(keys, points): every combination of the axes' values, the last key varying fastest."""
    keys = list(grid)
    axes = [axis_values(k, grid[k]) for k in keys]
    return keys, [dict(zip(keys, combo)) for combo in itertools.product(*axes)]
