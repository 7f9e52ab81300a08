"""From a validated config and its members table to an engine on a device: the config's family builds it."""
from __future__ import annotations

import torch

from toymodels.engines import EnsembleEngine

from .config import RunConfig
from .families import family_of
from .members import MemberTable


def build_engine(cfg: RunConfig, members: MemberTable, device: torch.device) -> EnsembleEngine:
    """Everything one fit trains, initialised from each member's own seeds and placed on ``device``."""
    return family_of(cfg).build_engine(cfg, members, device)
