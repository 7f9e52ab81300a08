"""members.csv records what happened, and nothing it did not measure: the exact step a member was frozen at,
empty test metrics (no threshold "crossed") when there are no test rows, and an error for an empty seed list."""
import csv
import math

import numpy as np
import pytest
import yaml

from tests.scaling.helpers import config, engine_of
from trainers.cli import main as toylab
from trainers.reader import read_history


def fit(tmp_path, capsys, cfg: dict) -> list[dict]:
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({**cfg, "out_dir": str(tmp_path / "runs")}))
    assert toylab(["fit", "--config", str(path)]) == 0, capsys.readouterr().err
    run = capsys.readouterr().out.strip().splitlines()[-1]
    with open(f"{run}/members.csv") as f:
        return list(csv.DictReader(f)), run


def test_regression_diverged_step_is_the_first_non_finite_step(tmp_path, capsys):
    """lr far past the stability edge for two of three members: members.csv's diverged_step equals the step at
    which the engine's own step-by-step flags first turned (host reads here, none in the engine)."""
    cfg = config(optimizer={"lr": 0.2}, train={"max_steps": 60, "eval_every": 10},
                 members=[{"optimizer.lr": 0.2}, {"optimizer.lr": 1e6}, {"optimizer.lr": 1e12}])
    eng = engine_of(cfg)
    first = [-1, -1, -1]
    for step in range(60):
        eng.train_step(step)
        for e, d in enumerate(eng.diverged.tolist()):
            if d and first[e] < 0:
                first[e] = step
    assert first[0] == -1 and first[1] > 0 and first[2] >= 0 and first[1] != first[2]  # a real spread
    assert eng.diverged_step.tolist() == first
    rows, _ = fit(tmp_path, capsys, cfg)
    assert [r["diverged"] for r in rows] == ["False", "True", "True"]
    assert [r["diverged_step"] for r in rows] == ["", str(first[1]), str(first[2])]


def test_no_test_rows_leaves_test_metrics_empty_and_crosses_nothing(tmp_path, capsys):
    cfg = {"name": "all_train", "seeds": [0, 1], "task": {"p": 7, "train_fraction": 1.0},
           "model": {"name": "mlp", "width": 8, "depth": 2},
           "train": {"max_steps": 4, "eval_every": 2, "progress": "none", "device": "cpu", "threads": 1,
                     "loss_thresholds": [10.0, 1.0], "thresholds": [0.01]},
           "wandb": {"mode": "disabled"}}
    rows, run = fit(tmp_path, capsys, cfg)
    for r in rows:
        for k in ("final_test_loss", "final_test_acc", "best_test_loss", "step_test_loss_10", "step_test_loss_1",
                  "step_test_acc_0.01"):
            assert r[k] == "", (k, r[k])  # not 0, not step 0
        assert float(r["final_train_loss"]) > 0 and r["step_train_loss_10"] == "0"  # train metrics are real
        assert r["step_train_acc_0.01"] != ""
    _, test_loss = read_history(run, "test_loss")
    _, train_loss = read_history(run, "train_loss")
    assert np.isnan(test_loss).all() and np.isfinite(train_loss).all()


@pytest.mark.parametrize("key, values", [("task.train_fraction", [0.5, 1.0]), ("task.train_size", [10, 49])])
def test_no_test_rows_is_refused_by_a_grokking_phase_sweep(tmp_path, capsys, key, values):
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({"out_dir": str(tmp_path / "out"), "task": {"p": 7},
                                    "sweep": {"grid": {key: values}}}))
    assert toylab(["sweep", "--config", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.splitlines() == [err] and key in err and "no test rows" in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("args", [["--seeds", "[]"], ["--sweep.seeds", "[]"]])
def test_an_empty_seed_list_is_an_error(tmp_path, capsys, args):
    command = "sweep" if args[0].startswith("--sweep") else "fit"
    extra = ["--sweep.grid", "{task.p: [7]}"] if command == "sweep" else []
    assert toylab([command, "--out_dir", str(tmp_path), *extra, *args]) == 2
    err = capsys.readouterr().err.strip()
    assert err.splitlines() == [err] and "must list at least one seed" in err
    assert not any(tmp_path.iterdir())  # nothing was run


def test_nan_is_never_a_silent_number():
    """The record format itself: NaN is written as an empty cell (never "nan" or 0)."""
    from trainers.rundir import _fmt

    assert _fmt(math.nan) == "" and _fmt(0.0) == "0.0" and _fmt(None) == ""
