"""What a model family provides to the Lightning layer. One subclass per kind of model (classification, random
features, two-layer nets, deep linear nets); ``trainers.families.family_of`` picks it from a config, and nothing
else in trainers/ asks which kind of model a config trains."""
from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import ClassVar

import lightning as L
import torch

from toymodels.engines import EnsembleEngine
from toymodels.errors import ConfigError

from ..config import RunConfig
from ..members import MemberTable


class Family(ABC):
    """A model family: the (task, model) pairs it trains, its own checks, memory estimate, engine, callbacks and
    members.csv columns (the engine's ``record_columns``), standalone export, and which sweep figure it draws."""

    name: ClassVar[str]
    tasks: ClassVar[tuple[str, ...]]  # task.name values it trains on
    models: ClassVar[tuple[str, ...]]  # model.name values it trains
    regression: ClassVar[bool] = True  # a squared-loss regression fit (metrics train_loss, test_loss, excess_loss)

    def accepts(self, cfg: RunConfig) -> bool:
        return cfg.task.name in self.tasks and cfg.model.name in self.models

    @abstractmethod
    def validate(self, cfg: RunConfig, members: MemberTable):
        """The family's own checks (the generic ones already ran): a ConfigError naming the key."""

    @abstractmethod
    def estimate_bytes(self, cfg: RunConfig, members: MemberTable) -> int:
        """Peak memory of one fit of ``members`` (linear in E), for the fits-in-memory check and sweep chunks."""

    @abstractmethod
    def build_engine(self, cfg: RunConfig, members: MemberTable, device: torch.device) -> EnsembleEngine:
        """Everything one fit trains, initialised from each member's own seeds and placed on ``device``."""

    def callbacks(self, cfg: RunConfig, engine: EnsembleEngine, run_dir: Path) -> list[L.Callback]:
        """The family's callbacks for one fit (theory overlays, probes), run before toylab's own."""
        return []

    def standalone(self, cfg: RunConfig, members: MemberTable, state_dict: dict, member: int) -> torch.nn.Module:
        """Member ``member`` of a fit as a standalone PyTorch model, from the fit's model state dict."""
        raise ConfigError("RUN_DIR", f"export supports the classification models (transformer, mlp, liu_toy); "
                                     f"this run trains {cfg.model.name} on {cfg.task.name}")

    def sweep_figure(self, cfg: RunConfig) -> str | None:
        """The figure a sweep of this family draws as it goes: "phase_diagram", "lazy_rich" or None (regression
        sweeps are drawn by scripts/scaling_laws.py)."""
        return "lazy_rich" if cfg.sweep.phase.rule == "lazy_rich" else None
