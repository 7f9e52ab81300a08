"""Every shipped config parses, validates (all of its members), builds and trains a couple of steps with a few of
its members (a fast mode of each)."""
from pathlib import Path

import pytest
import torch

from trainers.build import build_engine
from trainers.cli import parse_run_config
from trainers.members import expand
from trainers.sweeps.plan import chunk_config, make_plan
from trainers.validate import validate

CONFIGS = sorted(Path(__file__).resolve().parents[1].glob("configs/**/*.yaml"))
FAST = ["--train.max_steps", "2", "--train.device", "cpu", "--wandb.mode", "disabled"]


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_config_runs_in_fast_mode(path):
    cfg = parse_run_config(["--config", str(path), *FAST])
    if cfg.sweep.grid:
        plan = make_plan(cfg)  # validates every fit of the sweep
        assert plan.members and sum(len(c.members) for c in plan.chunks) == len(plan.members)
        cfgs = [chunk_config(cfg, c) for c in plan.chunks[:2]]
    else:
        validate(cfg, expand(cfg))
        cfgs = [cfg]
    for c in cfgs:
        table = expand(c)
        keep = list(range(0, len(table), max(1, len(table) // 4)))[:4]  # a few members spread over the grid
        table.overrides = [table.overrides[i] for i in keep]
        engine = build_engine(c, table, torch.device("cpu"))
        for step in range(2):
            loss = engine.train_step(step)
        assert torch.isfinite(loss).all() and not engine.diverged.any()


def test_configs_exist():
    names = {f"{p.parent.name}/{p.name}" for p in CONFIGS}
    for expected in ["grokking/nanda.yaml", "grokking/liu_toy.yaml", "grokking/prieto_softmax.yaml",
                     "grokking/prieto_stablemax.yaml", "grokking/grokfast.yaml", "grokking/omnigrok.yaml",
                     "grokking/quick.yaml", "phase/quick.yaml", "phase/liu_decoder_lr_wd.yaml",
                     "phase/liu_lr_lr.yaml", "phase/modular_wd_lr.yaml", "phase/modular_frac_wd.yaml"]:
        assert expected in names
