"""The one reader of a run directory (a fit or a sweep): its config, its members, its metric histories and, for a
sweep, its chunks. Every figure module, script and the notebook API read runs through it; nothing else walks chunk
directories.

    fit:    config.yaml, members.csv, histories/<metric>.npy [E, T] with histories/steps.npy [T]
    sweep:  config.yaml, plan.json, members.csv (every finished chunk's members, columns chunk / chunk_member),
            grid.csv, chunks/chunk_NNN/ (each a fit's run directory)
"""
from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import yaml

from toymodels.errors import ConfigError

from .config import RunConfig
from .typed import config_from_dict


def chunk_dir(run_dir: Path, index: int) -> Path:
    """A sweep's chunk ``index`` (a fit's run directory)."""
    return Path(run_dir) / "chunks" / f"chunk_{int(index):03d}"


def read_config_dict(run_dir: Path) -> dict:
    """config.yaml of a run directory as plain data."""
    path = Path(run_dir) / "config.yaml"
    if not path.is_file():
        raise ConfigError("RUN_DIR", f"{run_dir} is not a toylab run directory (no config.yaml)")
    try:
        with open(path) as f:
            data = yaml.safe_load(f)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
        raise ConfigError("RUN_DIR", f"cannot read {path}: {type(err).__name__}") from None
    if not isinstance(data, dict):
        raise ConfigError("RUN_DIR", f"{path} is not a toylab config (expected a mapping)")
    return data


def read_run_config(run_dir: Path) -> RunConfig:
    """The typed, fully resolved config of a run directory. Read leniently: a model or task setting that its name
    does not have is dropped (run directories written before the per-name config classes hold every setting)."""
    return config_from_dict(read_config_dict(run_dir), strict=False)


def read_members(run_dir: Path) -> list[dict]:
    """members.csv as rows of strings (empty string: no value)."""
    path = Path(run_dir) / "members.csv"
    if not path.is_file():
        raise ConfigError("RUN_DIR", f"{run_dir} has no members.csv yet (the run has not finished a fit)")
    with open(path) as f:
        return list(csv.DictReader(f))


def steps_file(run_dir: Path, metric: str) -> Path:
    """The steps of a metric's history: a probe's own (histories/<probe>_steps.npy for <probe>_... metrics:
    spectra, repr, lazy_rich) or the evaluation steps (histories/steps.npy)."""
    h = Path(run_dir) / "histories"
    probes = sorted((p.name[:-len("_steps.npy")] for p in h.glob("*_steps.npy")), key=len, reverse=True)
    probe = next((p for p in probes if metric.startswith(p + "_")), None)
    return h / (f"{probe}_steps.npy" if probe else "steps.npy")


def read_history(run_dir: Path, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """(steps [T], values [E, T, ...]) of one fit's metric (histories/<metric>.npy; probes on their own steps)."""
    path = Path(run_dir) / "histories" / f"{metric}.npy"
    if not path.is_file():
        raise ConfigError("metric", f"{run_dir} has no history {metric!r} (no {path.name})")
    return np.load(steps_file(run_dir, metric)), np.load(path)


def history_names(run_dir: Path) -> list[str]:
    """Metrics with a history in one fit's run directory (every array under histories/ but the step lists)."""
    h = Path(run_dir) / "histories"
    return sorted(p.stem for p in h.glob("*.npy") if p.stem != "steps" and not p.stem.endswith("_steps")) \
        if h.is_dir() else []


class RunReader:
    """A run directory, fit or sweep, read-only."""

    def __init__(self, run_dir: Path | str):
        self.dir = Path(run_dir)
        self.config = read_run_config(self.dir)
        self.is_sweep = (self.dir / "plan.json").is_file()

    def members(self) -> list[dict]:
        return read_members(self.dir)

    def chunks(self) -> list[Path]:
        """A sweep's finished chunk directories in index order (a fit: none)."""
        if not self.is_sweep:
            return []
        return sorted(d for d in (self.dir / "chunks").glob("chunk_*") if (d / "DONE").exists())

    def member_locations(self) -> list[tuple[Path, int]]:
        """(fit directory, index in that fit) of every row of members.csv, in its order."""
        rows = self.members()
        if not self.is_sweep:
            return [(self.dir, e) for e in range(len(rows))]
        return [(chunk_dir(self.dir, r["chunk"]), int(r["chunk_member"])) for r in rows]

    def history(self, metric: str, fill_missing: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """(steps [T], values [E, T]) of ``metric`` for every row of members.csv. A sweep's chunks are merged on the
        union of their steps (NaN where a chunk did not evaluate). ``fill_missing``: a fit without that history
        gives NaN instead of an error."""
        if not self.is_sweep:
            return self._fit_history(self.dir, metric, len(self.members()), fill_missing)
        loc = self.member_locations()
        per_dir: dict[Path, tuple[np.ndarray, np.ndarray]] = {}
        for d, _ in loc:
            if d not in per_dir:
                n = sum(1 for dd, _ in loc if dd == d)
                per_dir[d] = self._fit_history(d, metric, n, fill_missing)
        steps = np.unique(np.concatenate([s for s, _ in per_dir.values()])) if per_dir else np.zeros(0, int)
        out = np.full((len(loc), len(steps)), math.nan)
        for i, (d, j) in enumerate(loc):
            s, v = per_dir[d]
            if j < v.shape[0]:
                out[i, np.searchsorted(steps, s)] = v[j]
        return steps, out

    @staticmethod
    def _fit_history(d: Path, metric: str, n: int, fill_missing: bool) -> tuple[np.ndarray, np.ndarray]:
        if fill_missing and not (d / "histories" / f"{metric}.npy").is_file():
            f = steps_file(d, metric)
            steps = np.load(f) if f.is_file() else np.zeros(0, int)
            return steps, np.full((n, len(steps)), math.nan)
        steps, values = read_history(d, metric)
        if values.ndim != 2 or values.shape[1] != len(steps):
            raise ConfigError("metric", f"{metric!r} is not a per-member series [member, step] (shape "
                                        f"{values.shape}); read it with trainers.reader.read_history")
        return steps, values

    def history_names(self) -> list[str]:
        dirs = self.chunks() if self.is_sweep else [self.dir]
        return sorted({m for d in dirs for m in history_names(d)})

    def member_history(self, row: dict, metric: str) -> tuple[np.ndarray, np.ndarray]:
        """(steps [T], values [T]) of ``metric`` for one row of members.csv (a sweep's row names its chunk)."""
        if self.is_sweep:
            d, j = chunk_dir(self.dir, row["chunk"]), int(row["chunk_member"])
        else:
            d, j = self.dir, int(row["member"])
        steps, values = read_history(d, metric)
        return steps, values[j]

    def has_history(self, row: dict, metric: str) -> bool:
        d = chunk_dir(self.dir, row["chunk"]) if self.is_sweep else self.dir
        return (d / "histories" / f"{metric}.npy").is_file()
