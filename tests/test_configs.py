"""Every shipped config parses, validates (all of its members), builds and trains a couple of steps with a few of
its members (a fast mode of each)."""
from pathlib import Path

import numpy as np
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
def test_config_runs_in_fast_mode(path, tmp_path):
    cfg = parse_run_config(["--config", str(path), *FAST])
    if cfg.task.name == "mnist" and not Path(cfg.task.data_path or "").is_file():
        # no MNIST here: an .npz of random 28 x 28 images in MNIST's layout stands in for the user's file
        g = np.random.default_rng(0)
        fake = tmp_path / "mnist.npz"
        np.savez(fake, x_train=g.integers(0, 256, (1100, 28, 28), dtype=np.uint8), y_train=np.arange(1100) % 10,
                 x_test=g.integers(0, 256, (100, 28, 28), dtype=np.uint8), y_test=np.arange(100) % 10)
        cfg = parse_run_config(["--config", str(path), *FAST, "--task.data_path", str(fake)])
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
                     "phase/liu_lr_lr.yaml", "phase/modular_wd_lr.yaml", "phase/modular_frac_wd.yaml",
                     "grokking/nanda_repro.yaml", "antigrok/digits_cpu.yaml", "antigrok/mnist_gpu.yaml",
                     "setol/mlp_digits.yaml"]:
        assert expected in names


def test_gpu_scale_configs_hold_the_published_settings():
    """Configured, not run here: Nanda's four seeds at fraction 0.3 plus the weight-decay-0.1 member past 150k
    epochs; anti-grokking for 10^7 steps with and without weight decay, several seeds each."""
    root = Path(__file__).resolve().parents[1] / "configs"
    cfg = parse_run_config(["--config", str(root / "grokking/nanda_repro.yaml")])
    rec = expand(cfg).record()
    main = [r for r in rec if r["task.train_fraction"] == 0.3 and r["optimizer.weight_decay"] == 1.0]
    assert sorted(r["seed"] for r in main) == [0, 1, 2, 3]
    assert any(r["optimizer.weight_decay"] == 0.1 and r["task.train_fraction"] == 0.3 for r in rec)
    assert cfg.train.max_steps > 150_000 and cfg.train.batch_size is None  # full batch: one step = one epoch
    cfg = parse_run_config(["--config", str(root / "antigrok/mnist_gpu.yaml")])
    rec = expand(cfg).record()
    assert cfg.train.max_steps == 10**7 and cfg.task.name == "mnist" and cfg.model.init_scale == 8.0
    assert {r["optimizer.weight_decay"] for r in rec} == {0.0, 0.01} and len({r["seed"] for r in rec}) >= 2
    assert cfg.probes.spectra and cfg.probes.spectra_full and cfg.probes.schedule == "log"
