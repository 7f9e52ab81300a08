"""Checks of a run's settings before anything is built: each failure names its key and what is allowed."""
from __future__ import annotations

import math
import os

import torch

from toymodels.errors import ConfigError
from toymodels.tasks.operations import canonical

from .config import RunConfig
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


def validate(cfg: RunConfig, members: MemberTable, check_memory: bool = True):
    t, m, o, tr = cfg.task, cfg.model, cfg.optimizer, cfg.train
    regression = t.name in ("powerlaw", "teacher")
    if t.name == "modular":
        canonical(t.operation)
        _check(isinstance(t.p, int) and t.p >= 2, "task.p", f"must be an integer >= 2 (got {t.p})")
    if not regression:
        for f, s in zip(members.column("task.train_fraction"), members.column("task.train_size")):
            if s is None:
                _check(f is not None and 0 < f <= 1, "task.train_fraction", f"must be in (0, 1] (got {f})")
    _range(members, "task.label_noise", 0)
    _range(members, "model.init_scale", 0, lo_open=True)
    _range(members, "model.width", 1)
    for key in ("d_model", "n_heads", "d_head", "d_mlp", "depth", "d_embed"):
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
    if regression:
        from .regression import validate_regression  # its own settings and memory model

        validate_regression(cfg, members, check_memory)
    elif check_memory:
        check_fits(cfg, members)


def available_bytes(device: torch.device) -> int:
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))


def estimate_bytes(cfg: RunConfig, members: MemberTable, n_rows: int, n_train: int) -> int:
    """Rough peak memory of one fit: parameters with gradients, optimiser and filter state, and activations of
    the training batch (kept for backward) or an evaluation chunk, whichever is larger."""
    from .build import build_model, build_table  # a meta-device model gives parameter counts without memory

    E, m = len(members), cfg.model
    with torch.device("meta"):
        model = build_model(cfg, members, build_table(cfg))
    n_params = sum(p.numel() for p in model.parameters())  # includes E
    bytes_per = 8 if cfg.train.precision == "64" else 4
    state = 3 if cfg.optimizer.name != "sgd" else 2  # grad + Adam moments / momentum
    state += {"none": 0, "ema": 1, "ma": cfg.filters.grokfast_window}[cfg.filters.grokfast]
    if m.name == "transformer":
        # residual, q/k/v of three positions, attention, MLP pre/post, logits (+ their softmax)
        per_row = 3 * m.d_model + 9 * m.n_heads * m.d_head + 3 * m.n_heads + 2 * m.d_mlp + 2 * model.W_U.shape[-1]
    else:
        per_row = (m.depth + 1) * m.width * 2 + 64
    rows = cfg.train.batch_size or n_train
    act = E * max(rows * per_row * 2, min(n_rows, cfg.train.eval_chunk_rows or n_rows) * per_row)
    return (n_params * (1 + state) + act) * bytes_per


def check_fits(cfg: RunConfig, members: MemberTable):
    from .build import build_table, resolve_device

    device = resolve_device(cfg.train.device)
    table = build_table(cfg)
    n_rows = table.rows
    n_train = max(int(table.pool.numel() * (f or 1)) if s is None else s
                  for f, s in zip(members.column("task.train_fraction"), members.column("task.train_size")))
    need = estimate_bytes(cfg, members, n_rows, n_train)
    have = available_bytes(device)
    if need > 0.9 * have:
        raise ConfigError("members", f"{len(members)} members need about {need / 2**30:.1f} GiB but "
                                     f"{have / 2**30:.1f} GiB is free on {device}; use fewer members or seeds, a "
                                     f"smaller batch or train.eval_chunk_rows, or toylab sweep (which chunks)")
