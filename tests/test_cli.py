"""The toylab command: run directory layout, members.csv, export, and one-line errors with exit status 2."""
import csv
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from toymodels.models import single
from trainers.cli import main

QUICK = {
    "name": "t", "seeds": [0, 1], "members": [{}, {"optimizer.weight_decay": 0.1}],
    "task": {"operation": "a+b", "p": 7, "train_fraction": 0.6},
    "model": {"name": "transformer", "d_model": 16, "n_heads": 2, "d_head": 8, "d_mlp": 24},
    "optimizer": {"lr": 0.01, "weight_decay": 1.0, "betas": [0.9, 0.98], "warmup_steps": 2},
    "train": {"max_steps": 60, "eval_every": 10, "progress": "none", "checkpoint_every": 20,
              "snapshot_members": [1], "snapshot_points": 4},
    "wandb": {"mode": "disabled"},
}


def write(tmp_path, cfg, name="c.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(cfg))
    return str(path)


def fit(tmp_path, capsys, cfg=QUICK, extra=()):
    code = main(["fit", "--config", write(tmp_path, cfg), "--out_dir", str(tmp_path / "runs"), *extra])
    out = capsys.readouterr()
    return code, out.out.strip().splitlines(), out.err


def test_fit_writes_run_directory(tmp_path, capsys):
    code, lines, _ = fit(tmp_path, capsys)
    assert code == 0
    run = Path(lines[-1])  # the last line is the run directory
    assert (run / "DONE").exists() and (run / "checkpoints" / "last.ckpt").exists()
    rows = list(csv.DictReader(open(run / "members.csv")))
    assert len(rows) == 4 and [r["member"] for r in rows] == ["0", "1", "2", "3"]
    assert [r["seed"] for r in rows] == ["0", "1", "0", "1"]
    assert [r["optimizer.weight_decay"] for r in rows] == ["1.0", "1.0", "0.1", "0.1"]
    for col in ["final_train_loss", "final_test_loss", "final_train_acc", "final_test_acc", "step_train_acc_0.9",
                "step_test_acc_0.9", "step_train_acc_0.95", "step_test_acc_0.99", "diverged"]:
        assert col in rows[0]
    steps = np.load(run / "histories" / "steps.npy")
    assert steps.tolist() == list(range(0, 61, 10))
    acc = np.load(run / "histories" / "train_acc.npy")
    assert acc.shape == (4, 7)
    assert float(rows[2]["final_train_acc"]) == pytest.approx(acc[2, -1])
    first = rows[0]["step_train_acc_0.9"]  # the first evaluated step at which train accuracy reached 0.9
    if first:
        k = int(first) // 10
        assert acc[0, k] >= 0.9 and (acc[0, :k] < 0.9).all()
    assert sorted(p.name for p in (run / "snapshots").iterdir())[0] == "step_00000000.pt"
    cfg = yaml.safe_load(open(run / "config.yaml"))
    assert cfg["optimizer"]["weight_decay"] == 1.0 and cfg["train"]["max_steps"] == 60


def test_export_member_is_a_standalone_transformer(tmp_path, capsys):
    code, lines, _ = fit(tmp_path, capsys)
    run = lines[-1]
    assert main(["export", run, "--member", "3"]) == 0
    path = capsys.readouterr().out.strip().splitlines()[-1]
    net = single.load(path)
    names = set(net.state_dict())
    assert {"embed.W_E", "pos_embed.W_pos", "blocks.0.attn.W_Q", "blocks.0.mlp.W_in", "unembed.W_U"} <= names
    # it predicts like member 3 did: compare with the ensemble's final training accuracy on the same rows
    from trainers.reader import read_members
    tokens = torch.tensor([[a, b, 7] for a in range(7) for b in range(7)])
    pred = net(tokens)[:, -1].argmax(-1)
    acc = (pred == (tokens[:, 0] + tokens[:, 1]) % 7).double().mean().item()
    row = read_members(run)[3]
    n_train = int(0.6 * 49)
    overall = (float(row["final_train_acc"]) * n_train + float(row["final_test_acc"]) * (49 - n_train)) / 49
    assert acc == pytest.approx(overall, abs=1e-6)  # accuracies are stored from float32 torchmetrics values


@pytest.mark.parametrize("args, key", [
    (["--task.operation", "a**b"], "task.operation"),
    (["--task.p", "1"], "task.p"),
    (["--task.operation", "a/b", "--task.p", "8"], "task.p"),
    (["--task.train_fraction", "1.5"], "task.train_fraction"),
    (["--task.train_fraction", "0"], "task.train_fraction"),
    (["--optimizer.lr=-0.1"], "optimizer.lr"),
    (["--optimizer.lrr", "0.1"], "optimizer.lrr"),
    (["--optimizer.lr", "fast"], "optimizer.lr"),
    (["--model.d_mlp", "2000000", "--model.d_model", "4096", "--seeds", "[0,1,2,3,4,5,6,7]"], "members"),
])
def test_bad_input_is_one_line_exit_2(tmp_path, capsys, args, key):
    code, _, err = fit(tmp_path, capsys, extra=args)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("toylab fit: error: ") and key in lines[0], err
    assert "Traceback" not in err


def test_unknown_key_suggests_the_right_one(tmp_path, capsys):
    bad = {**QUICK, "optimizer": {**QUICK["optimizer"], "wieght_decay": 1.0}}
    code, _, err = fit(tmp_path, capsys, cfg=bad)
    assert code == 2 and "optimizer.wieght_decay" in err and "did you mean 'optimizer.weight_decay'" in err


def test_shape_changing_member_override_is_rejected(tmp_path, capsys):
    bad = {**QUICK, "members": [{"task.p": 11}]}
    code, _, err = fit(tmp_path, capsys, cfg=bad)
    assert code == 2 and "task.p" in err and "toylab sweep" in err


def test_console_script_runs(tmp_path):
    """The installed entry point: exit status and stderr of a bad call, from a real subprocess."""
    r = subprocess.run([sys.executable, "-m", "trainers.cli", "fit", "--task.p", "1", "--wandb.mode", "disabled"],
                       capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 2 and r.stderr.strip() == "toylab fit: error: task.p: must be an integer >= 2 (got 1)"


def test_stop_when_every_member_generalised(tmp_path, capsys):
    """stop_test_loss ends the fit at the first evaluation where every member is below it."""
    cfg = {**QUICK, "train": {**QUICK["train"], "max_steps": 200, "eval_every": 5, "snapshot_members": []}}
    code, lines, _ = fit(tmp_path, capsys, cfg=cfg)
    worst = np.load(Path(lines[-1]) / "histories" / "test_loss.npy").max(0)  # the worst member, every 5 steps
    thr = float(worst[1:].min()) + 1e-6
    first = 1 + int(np.argmax(worst[1:] < thr))  # stopping is checked from the first update on
    cfg["train"]["stop_test_loss"] = thr
    code, lines, _ = fit(tmp_path, capsys, cfg=cfg)
    assert code == 0 and (Path(lines[-1]) / "DONE").exists()
    steps = np.load(Path(lines[-1]) / "histories" / "steps.npy")
    assert steps[-1] == 5 * first
