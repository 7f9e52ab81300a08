"""The settings every fit shares, checked before anything heavy is imported (torch, Lightning): each failure names
its key and what is allowed. The family's own checks and the memory check follow in ``trainers.validate``."""
from __future__ import annotations

import math

from toymodels.errors import ConfigError

from .config import RunConfig, settings_of
from .members import MemberTable


def _check(cond: bool, key: str, message: str):
    if not cond:
        raise ConfigError(key, message)


def _range(members: MemberTable, key: str, lo: float, hi: float = math.inf, lo_open=False, hi_open=True,
           allow_none=False):
    for v in members.column(key):
        if v is None and allow_none:
            continue
        ok = v is not None and (v > lo if lo_open else v >= lo) and (v < hi if hi_open else v <= hi)
        if not ok:
            lb, rb = ("(" if lo_open else "["), (")" if hi_open else "]")
            raise ConfigError(key, f"must be in {lb}{lo}, {hi}{rb} (got {v})")


def check_settings(cfg: RunConfig, members: MemberTable):
    """The generic checks (ranges and shapes of the shared settings)."""
    m, o, tr = cfg.model, cfg.optimizer, cfg.train
    has = set(settings_of(type(m))) | {f"task.{k}" for k in settings_of(type(cfg.task))}  # the chosen classes' own
    if "task.label_noise" in has:
        _range(members, "task.label_noise", 0)
    _range(members, "model.init_scale", 0, lo_open=True)
    if "width" in has:
        _range(members, "model.width", 1)
    for key in ("d_model", "n_heads", "d_head", "d_mlp", "depth", "d_embed"):
        if key in has:
            _check(getattr(m, key) >= 1, f"model.{key}", f"must be >= 1 (got {getattr(m, key)})")
    _range(members, "optimizer.lr", 0)
    _range(members, "optimizer.weight_decay", 0)
    _range(members, "optimizer.eps", 0, lo_open=True)
    _range(members, "optimizer.momentum", 0)
    _range(members, "optimizer.warmup_steps", 0)
    for b in members.column("optimizer.betas"):
        _check(len(b) == 2 and all(0 <= x < 1 for x in b), "optimizer.betas", f"must be two numbers in [0, 1) (got {b})")
    for g in o.groups:
        _range(members, f"optimizer.groups.{g}.lr", 0, allow_none=True)
        _range(members, f"optimizer.groups.{g}.weight_decay", 0, allow_none=True)
    _range(members, "filters.grokfast_alpha", 0, 1)
    _range(members, "filters.grokfast_lamb", 0)
    _check(cfg.filters.grokfast_window >= 1, "filters.grokfast_window", "must be >= 1")
    _check(tr.threads is None or tr.threads >= 1, "train.threads", "must be >= 1 or null (torch's default)")
    _check(tr.max_steps >= 1, "train.max_steps", f"must be >= 1 (got {tr.max_steps})")
    _check(tr.batch_size is None or tr.batch_size >= 1, "train.batch_size", "must be >= 1 or null (full batch)")
    _check(tr.eval_every >= 1, "train.eval_every", "must be >= 1")
    _check(tr.eval_points >= 2, "train.eval_points", "must be >= 2")
    _check(tr.checkpoint_every >= 1, "train.checkpoint_every", "must be >= 1")
    _check(all(0 < x <= 1 for x in tr.thresholds), "train.thresholds", "each must be in (0, 1]")
    _check(all(x > 0 for x in tr.loss_thresholds), "train.loss_thresholds", "each must be > 0")
    E = len(members)
    for i in tr.snapshot_members:
        _check(0 <= i < E, "train.snapshot_members", f"member {i} does not exist (members are 0..{E - 1})")
