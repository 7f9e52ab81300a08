"""Checks of a run's settings before anything is built: the generic ones (``trainers.checks``), then the config's
family's own, then whether the fit fits in memory. Each failure names its key and what is allowed."""
from __future__ import annotations

from .checks import check_settings
from .config import RunConfig
from .device import check_memory_fits
from .families import family_of
from .members import MemberTable


def validate(cfg: RunConfig, members: MemberTable, check_memory: bool = True):
    family = family_of(cfg)
    check_settings(cfg, members)
    family.validate(cfg, members)
    if check_memory:
        check_memory_fits(family.estimate_bytes, cfg, members)


