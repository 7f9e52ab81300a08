"""The run directory, written: everything a script needs to redraw a run's figures (``trainers.reader`` reads it).

    config.yaml        the fully resolved config (members expanded from it deterministically)
    members.csv        one row per member: its varied settings and its outcomes
    histories/         one .npy per metric, [member, logged step], and steps.npy
    checkpoints/       last.ckpt (periodic, atomic; resume from it)
    snapshots/         log-spaced weights of chosen members
    wandb/             the offline wandb run
    DONE               written when the fit completed
    .lock              held (flock) by the one process writing here

Every file is written to a temporary name and renamed (``trainers.atomic``); torch files are read through
``toymodels.safe_load`` (``weights_only=True``).
"""
from __future__ import annotations

import csv
import math
import time
from pathlib import Path

import numpy as np
import yaml

from toymodels.errors import LoadError
from toymodels.safe_load import load as safe_load
from toymodels.safe_load import require, tensor_dict

from .atomic import atomic_open
from .config import RunConfig
from .members import MemberTable
from .typed import config_to_dict


def new_run_dir(out_dir: str, name: str) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    base = Path(out_dir) / f"{name}-{stamp}"
    path, n = base, 1
    while path.exists():
        n += 1
        path = Path(f"{base}-{n}")
    path.mkdir(parents=True)
    return path


def _plain(obj):
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return obj


def write_config(run_dir: Path, cfg: RunConfig):
    with atomic_open(run_dir / "config.yaml", "w") as f:
        yaml.safe_dump(_plain(config_to_dict(cfg)), f, sort_keys=False)


def _fmt(v):
    if isinstance(v, float):
        return "" if math.isnan(v) else repr(v)
    if isinstance(v, (list, tuple)):
        return " ".join(str(x) for x in v)
    return "" if v is None else v


def member_outcomes(module) -> list[dict]:
    """Final metrics, first threshold crossings and divergence of every member (host copies)."""
    done = module.evaluated.cpu().numpy()
    hist = module.history.cpu().numpy()  # [metric, n_sched, E]
    last = int(np.nonzero(done)[0][-1]) if done.any() else None
    cross = module.crossings.cpu().numpy()  # [n_events, E]
    diverged = module.engine.diverged.cpu().numpy()
    diverged_step = module.engine.diverged_step.cpu().numpy()
    rows = []
    for e in range(hist.shape[2]):
        row = {f"final_{m}": float(hist[i, last, e]) if last is not None else float("nan")
               for i, m in enumerate(module.metric_names)}
        for i, m in enumerate(module.metric_names):  # the lowest loss seen at any evaluation
            if m.endswith("_loss"):
                seen = hist[i, done, e]
                row[f"best_{m}"] = float(np.nanmin(seen)) if np.isfinite(seen).any() else float("nan")
        for k, (metric, thr, _) in enumerate(module.events):
            s = int(cross[k, e])
            row[f"step_{metric}_{thr:g}"] = s if s >= 0 else None
        row["diverged"] = bool(diverged[e])
        row["diverged_step"] = int(diverged_step[e]) if diverged_step[e] >= 0 else None  # first frozen step
        rows.append(row)
    return rows


def write_members(run_dir: Path, members: MemberTable, outcomes: list[dict], columns: dict | None = None):
    """members.csv: ``member``, the varied settings, ``columns`` (engine-specific, e.g. N and P), outcomes."""
    settings = members.record()
    columns = columns or {}
    rows = [{"member": e, **settings[e], **{k: v[e] for k, v in columns.items()}, **outcomes[e]}
            for e in range(len(members))]
    with atomic_open(run_dir / "members.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        for r in rows:
            w.writerow({k: _fmt(v) for k, v in r.items()})


def write_histories(run_dir: Path, module):
    """Evaluated steps only: histories/<metric>.npy [E, n_logged] and histories/steps.npy [n_logged]."""
    h = run_dir / "histories"
    h.mkdir(exist_ok=True)
    done = module.evaluated.cpu().numpy()
    steps = np.asarray(module.schedule)[done]
    hist = module.history.cpu().numpy()[:, done, :]
    arrays = {"steps": steps, **{m: hist[i].T.copy() for i, m in enumerate(module.metric_names)}}
    for name, a in arrays.items():  # each file replaced whole: a crash mid-write keeps the previous one
        with atomic_open(h / f"{name}.npy", "wb") as f:
            np.save(f, a)


CHECKPOINT = "a toylab checkpoint (a Lightning .ckpt with a state_dict)"


def load_checkpoint(path: Path, map_location="cpu") -> dict:
    """A run's ``last.ckpt``, loaded with ``weights_only`` (never runs code); bad files -> ``LoadError``."""
    ckpt = require(safe_load(path, CHECKPOINT, map_location), path, CHECKPOINT, ("state_dict", "global_step"))
    return dict(ckpt)


SNAPSHOT = "a toylab weight snapshot ({member: state dict})"


def load_snapshot(path: Path) -> dict[int, dict]:
    """A ``snapshots/step_*.pt`` file, loaded with ``weights_only``; bad files -> ``LoadError``."""
    obj = require(safe_load(path, SNAPSHOT), path, SNAPSHOT)
    if not all(isinstance(k, int) for k in obj):
        raise LoadError(path, SNAPSHOT, "its keys are not member numbers")
    return {k: tensor_dict(v, path, SNAPSHOT) for k, v in obj.items()}
