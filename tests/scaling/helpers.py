"""Helpers of the random-feature scaling tests: engines built from config dicts exactly as ``toylab fit`` builds
them, and their loss curves through the real training step (float64 on the CPU)."""
from pathlib import Path

import torch

from trainers.build import build_engine
from trainers.config import MODELS, TASKS, settings_of
from trainers.members import expand
from trainers.typed import config_from_dict
from trainers.validate import validate

ROOT = Path(__file__).resolve().parents[2]


def _small(defaults: dict, given: dict, classes: dict) -> dict:
    """The small defaults that the chosen class has, then the given settings (checked as given)."""
    name = given.get("name", defaults["name"])
    return {**{k: v for k, v in defaults.items() if k in settings_of(classes[name])}, **given, "name": name}


def config(task=None, model=None, optimizer=None, train=None, **top) -> dict:
    """A regression run config dict: power-law task, float64 on the CPU, no wandb, no progress bar."""
    small_task = {"name": "powerlaw", "dim": 32, "alpha": 1.5, "r": 0.4, "train_size": 64}
    return {"task": _small(small_task, task or {}, TASKS),
            "model": _small({"name": "random_features", "width": 16}, model or {}, MODELS),
            "optimizer": {"name": "sgd", "lr": 0.2, **(optimizer or {})},
            "train": {"precision": "64", "device": "cpu", "progress": "none", "threads": 1, **(train or {})},
            "wandb": {"mode": "disabled"}, **top}


def engine_of(cfg: dict):
    run = config_from_dict(cfg)
    members = expand(run)
    validate(run, members)
    return build_engine(run, members, torch.device("cpu"))


def loss_curve(engine, times) -> torch.Tensor:
    """Test loss [E, T] at the integer steps ``times`` of the engine's own GD (no Lightning)."""
    times = [int(t) for t in times]
    out = []
    for step in range(max(times) + 1):
        if step in times:
            out.append(engine.evaluate()["test_loss"])
        if step < max(times):
            engine.train_step(step)
    return torch.stack(out, 1)
