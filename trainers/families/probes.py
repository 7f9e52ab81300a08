"""The probe callbacks a config asks for (probes.representation, probes.spectra, probes.lazy_rich), on the probes'
schedule. Families call these with what only they know (the representation probe's data, the lazy-rich rows)."""
from __future__ import annotations

from pathlib import Path

import torch

from ..callbacks.lazy_rich import LazyRichCallback
from ..callbacks.representation import RepresentationCallback
from ..callbacks.spectra import SpectraCallback
from ..config import RunConfig
from ..schedule import probe_steps


def steps(cfg: RunConfig) -> list[int]:
    pc = cfg.probes
    return probe_steps(cfg.train.max_steps, pc.schedule, pc.every, pc.points)


def representation(cfg: RunConfig, probe, run_dir: Path) -> RepresentationCallback:
    return RepresentationCallback(probe, steps(cfg), run_dir)


def spectra(cfg: RunConfig, run_dir: Path) -> SpectraCallback:
    return SpectraCallback(steps(cfg), run_dir, full=cfg.probes.spectra_full, seed=cfg.seed)


def lazy_rich(cfg: RunConfig, x: torch.Tensor, y: torch.Tensor, run_dir: Path,
              columns: dict[str, list] | None) -> LazyRichCallback:
    """x, y: the probe rows ([E, R, M] and [E, R], or shared [R, ...] and [E, R, C]); ``columns``: where the final
    measures go as members.csv columns (None: histories only)."""
    return LazyRichCallback(x, y, steps(cfg), run_dir, columns)
