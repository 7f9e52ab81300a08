"""The whole run configuration: one section per part of a run; ``model`` and ``task`` are unions of per-name
classes selected by their ``name`` (``trainers.config.choices``)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from .choices import DEFAULT_NAMES, MODELS, TASKS, ModelConfig, TaskConfig
from .sections import (FilterConfig, LossConfig, OptimizerConfig, ProbeConfig, StreamSeeds, SweepConfig, TrainConfig,
                       WandbConfig)


@dataclass
class RunConfig:
    """A run: its name and output folder, seeds and per-member overrides, and one section per part."""

    name: str = "run"
    out_dir: str = "runs"
    seed: int = 0
    seeds: Optional[list[int]] = None  # one member per seed (times each entry of `members`)
    members: list[dict[str, Any]] = field(default_factory=list)  # per-member overrides, dotted keys
    streams: StreamSeeds = field(default_factory=StreamSeeds)
    task: TaskConfig = field(default_factory=TASKS[DEFAULT_NAMES["task"]])
    model: ModelConfig = field(default_factory=MODELS[DEFAULT_NAMES["model"]])
    loss: LossConfig = field(default_factory=LossConfig)
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    filters: FilterConfig = field(default_factory=FilterConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    wandb: WandbConfig = field(default_factory=WandbConfig)
    probes: ProbeConfig = field(default_factory=ProbeConfig)
    sweep: SweepConfig = field(default_factory=SweepConfig)
