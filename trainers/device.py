"""Devices and memory: which device a config asks for, how much memory it has free, whether a fit's estimated peak
memory fits, and how many members of a group fit in one fit (the sweep planner's chunk size). Each model family
estimates its own peak memory (``trainers.families``); everything else about memory is here."""
from __future__ import annotations

import os
from typing import Callable

import torch

from toymodels.errors import ConfigError

from .config import RunConfig
from .members import MemberTable

MAX_CHUNK = 4096  # members per fit at most, whatever the memory


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("train.device", "cuda requested but no CUDA device is visible; use cpu or auto")
    return torch.device(name)


def require_cpu_compiler(device: torch.device):
    """A ConfigError before training when torch.compile is asked for on the CPU and inductor finds no C++ compiler
    (it writes C++ for CPU kernels): otherwise the fit would fail at its first step with inductor's traceback."""
    if device.type != "cpu":
        return
    try:
        from torch._inductor import cpp_builder  # inductor's own compiler search ($CXX, then g++ / clang++)
        search = cpp_builder.get_cpp_compiler
    except (ImportError, AttributeError):  # a torch without this helper: leave the check to inductor
        return
    try:
        search()
    except Exception as e:  # noqa: BLE001 -- inductor raises its own InvalidCxxCompiler (or an OSError)
        raise ConfigError("train.compile", "torch.compile on the CPU needs a C++ compiler and none was found "
                                           f"({type(e).__name__}); install g++ or clang++ (or set CXX), or set "
                                           "train.compile false") from None


def configure_precision(cfg: RunConfig, device: torch.device):
    """TF32 matmuls on GPU by default for float32 runs; never for float64 or when switched off."""
    tf32 = device.type == "cuda" and cfg.train.tf32 and cfg.train.precision == "32"
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32


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


Estimate = Callable[[RunConfig, MemberTable], int]  # a family's peak-memory estimate of one fit, in bytes


def check_memory_fits(estimate: Estimate, cfg: RunConfig, members: MemberTable, what: str = "members"):
    """A ConfigError if the fit's estimated peak memory exceeds 90% of what is free on its device."""
    device = resolve_device(cfg.train.device)
    need, have = estimate(cfg, members), available_bytes(device)
    if need > 0.9 * have:
        raise ConfigError("members", f"{len(members)} {what} need about {need / 2**30:.1f} GiB but "
                                     f"{have / 2**30:.1f} GiB is free on {device}; use fewer members or seeds, "
                                     f"smaller sizes (batch, width, train.eval_chunk_rows), or toylab sweep "
                                     f"(which chunks)")


def _size_key(override: dict) -> tuple:
    """Orders members by the sizes that set their padded share of a fit's memory."""
    return tuple(float(override.get(k) or 0) for k in ("model.width", "task.train_size", "task.train_fraction"))


def members_per_fit(estimate: Estimate, cfg: RunConfig, members: MemberTable) -> int:
    """The largest ensemble of this group that fits in 80% of the device's free memory. The estimate is linear in
    E and every member is padded to the group's largest sizes, so the largest member's share bounds each one's."""
    if cfg.sweep.max_members:
        return cfg.sweep.max_members
    big = max(members.overrides, key=_size_key)
    one = estimate(cfg, MemberTable(cfg, [big]))
    per = max(estimate(cfg, MemberTable(cfg, [big, big])) - one, 1)
    have = 0.8 * available_bytes(resolve_device(cfg.train.device)) - max(one - per, 0)
    return max(1, min(MAX_CHUNK, int(have // per)))
