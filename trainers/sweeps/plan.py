"""The sweep plan: members (grid points x seeds), grouped into fits that can share one ensemble (same shapes:
every shared setting equal), each group split into chunks that fit the device's memory."""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from toymodels.errors import ConfigError

from ..config import RunConfig
from ..device import members_per_fit
from ..families import family_of
from ..families.classification import build_table
from ..members import MemberTable, coerce, is_per_member, selected_names, with_settings
from ..validate import validate
from .grid import expand_grid


@dataclass
class Chunk:
    index: int
    members: list[int]  # global member indices
    shared: dict[str, Any]  # settings shared by the chunk's members (applied to the base config)
    overrides: list[dict[str, Any]] = field(default_factory=list)  # per-member settings (padding copies last)

    @property
    def name(self) -> str:
        return f"chunk_{self.index:03d}"


@dataclass
class Plan:
    grid_keys: list[str]
    members: list[dict[str, Any]]  # every member's grid point and seed
    chunks: list[Chunk]

    def save(self, path: Path):
        path.write_text(json.dumps({"grid_keys": self.grid_keys, "members": self.members,
                                    "chunks": [c.__dict__ for c in self.chunks]}, indent=1))

    @staticmethod
    def load(path: Path) -> "Plan":
        d = json.loads(path.read_text())
        return Plan(d["grid_keys"], d["members"], [Chunk(**c) for c in d["chunks"]])


def chunk_config(cfg: RunConfig, chunk: Chunk) -> RunConfig:
    """The fit config of one chunk: shared settings applied, per-member overrides as its members."""
    c = with_settings(cfg, chunk.shared)
    c.members, c.seeds = [dict(o) for o in chunk.overrides], None
    return c


def _check_test_rows(cfg: RunConfig, table: MemberTable):
    """The grokking phases need test accuracy: a member with train_fraction 1 has no test rows."""
    if cfg.sweep.phase.rule != "grokking" or family_of(cfg).regression:
        return
    pool = None
    for f, s in zip(table.column("task.train_fraction"), table.column("task.train_size")):
        if s is None and f == 1:
            raise ConfigError("task.train_fraction", "1 leaves no test rows, so the grokking phases (which need "
                                                     "test accuracy) are undefined; use a value in (0, 1)")
        if s is not None:
            pool = pool if pool is not None else build_table(cfg).pool.numel()
            if s >= pool:
                raise ConfigError("task.train_size", f"{s} of {pool} rows leaves no test rows, so the grokking "
                                                     f"phases (which need test accuracy) are undefined")


def make_plan(cfg: RunConfig) -> Plan:
    if not cfg.sweep.grid:
        raise ConfigError("sweep.grid", "is empty: give at least one key with values")
    keys, points = expand_grid(cfg.sweep.grid)
    for key, given in (("sweep.seeds", cfg.sweep.seeds), ("seeds", cfg.seeds)):
        if given is not None and len(given) == 0:
            raise ConfigError(key, "must list at least one seed (omit it for the default)")
    seeds = [None] if "seed" in keys else (cfg.sweep.seeds or cfg.seeds or [cfg.seed])  # a grid over seed wins
    entries = cfg.members or [{}]
    members = []
    for point in points:
        for entry in entries:
            for s in seeds:
                m = {**entry, **point}  # each value typed by the class its model / task name selects
                m = {k: coerce(k, v, selected_names(cfg, m)) for k, v in m.items()}
                m["seed"] = int(m.get("seed", cfg.seed) if s is None else s)
                members.append(m)
    groups: dict[str, list[int]] = {}
    for i, m in enumerate(members):
        shared = {k: v for k, v in m.items() if not is_per_member(k)}
        groups.setdefault(json.dumps(shared, sort_keys=True, default=str), []).append(i)
    chunks = []
    for sig, idx in groups.items():
        shared = json.loads(sig)
        base = with_settings(cfg, shared)
        base.members, base.seeds = [], None
        overrides = [{k: v for k, v in members[i].items() if is_per_member(k)} for i in idx]
        table = MemberTable(base, overrides)
        validate(base, MemberTable(base, overrides[:1]), check_memory=False)
        validate(base, table, check_memory=False)
        _check_test_rows(base, table)
        size = members_per_fit(family_of(base).estimate_bytes, base, table)
        n_chunks = math.ceil(len(idx) / size)
        per = math.ceil(len(idx) / n_chunks)
        # compiled fits: a short last chunk is completed with copies of its last member, so every chunk of the group
        # has the same E (static shapes: its compiled graphs come from inductor's cache, CUDA graphs are captured
        # at one size); the copies run but are not the sweep's members (results keep chunk.members only)
        pad_to = per if base.train.compile or base.train.cuda_graphs else 0
        for c in range(n_chunks):
            part = list(range(c * per, min(len(idx), (c + 1) * per)))
            padding = [dict(overrides[part[-1]]) for _ in range(pad_to - len(part))]
            chunks.append(Chunk(len(chunks), [idx[j] for j in part], shared, [overrides[j] for j in part] + padding))
    return Plan(keys, members, chunks)
