"""The image tasks (digits offline, MNIST from a local file) and the offline wandb run."""
from pathlib import Path

import numpy as np
import pytest
import yaml

from trainers.cli import main


def run(tmp_path, capsys, cfg):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg))
    code = main(["fit", "--config", str(path), "--out_dir", str(tmp_path / "runs")])
    out = capsys.readouterr()
    assert code == 0, out.err
    return Path(out.out.strip().splitlines()[-1])


IMAGE = {"seeds": [0, 1], "members": [{"model.init_scale": 1.0}, {"model.init_scale": 8.0}],
         "model": {"name": "mlp", "width": 32, "depth": 3}, "loss": {"name": "mse"},
         "optimizer": {"lr": 0.003, "weight_decay": 0.01},
         "train": {"max_steps": 60, "batch_size": 50, "eval_every": 20, "progress": "none"},
         "wandb": {"mode": "disabled"}}


def test_digits_task_learns(tmp_path, capsys):
    pytest.importorskip("sklearn")
    run_dir = run(tmp_path, capsys, {**IMAGE, "task": {"name": "digits", "train_size": 300}})
    acc = np.load(run_dir / "histories" / "test_acc.npy")
    assert acc.shape == (4, 4)
    assert acc[0, -1] > 0.5 and acc[0, -1] > acc[0, 0]  # init scale 1 learns the digits in 60 steps


def test_mnist_from_local_file(tmp_path, capsys):
    rng = np.random.default_rng(0)
    y_tr, y_te = rng.integers(0, 10, 120), rng.integers(0, 10, 40)
    # images whose brightest pixel encodes the label: learnable, and 28 x 28 like MNIST
    make = lambda y: (np.eye(784)[y * 70] * 255).reshape(-1, 28, 28).astype(np.uint8)  # noqa: E731
    np.savez(tmp_path / "mnist.npz", x_train=make(y_tr), y_train=y_tr, x_test=make(y_te), y_test=y_te)
    run_dir = run(tmp_path, capsys, {**IMAGE, "task": {"name": "mnist", "train_size": 100,
                                                       "data_path": str(tmp_path / "mnist.npz")}})
    import csv
    rows = list(csv.DictReader(open(run_dir / "members.csv")))
    acc = float(rows[0]["final_test_acc"])
    assert acc > 0.7
    assert abs(acc * 40 - round(acc * 40)) < 1e-4  # scored on the 40 test images, not on the unused training ones


def test_wandb_offline_run_in_run_directory(tmp_path, capsys, monkeypatch):
    pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_MODE", "offline")
    cfg = {**IMAGE, "task": {"name": "modular", "operation": "a+b", "p": 7}, "loss": {"name": "cross_entropy"},
           "train": {**IMAGE["train"], "batch_size": None, "max_steps": 20, "eval_every": 10},
           "wandb": {"mode": "offline", "project": "toylab-test"}}
    run_dir = run(tmp_path, capsys, cfg)
    runs = list((run_dir / "wandb").glob("offline-run-*"))
    assert len(runs) == 1 and list(runs[0].glob("*.wandb"))
