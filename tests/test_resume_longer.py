"""``toylab fit --resume RUN --train.max_steps LARGER`` continues a finished run (before: a size-mismatch
traceback): the checkpoint's histories move to the longer schedule, and the result equals one straight run."""
import numpy as np
import torch
import yaml

from trainers.cli import main as toylab

CFG = {"name": "longer", "seeds": [0, 1], "task": {"p": 7, "train_fraction": 0.5},
       "model": {"name": "mlp", "width": 8, "depth": 2},
       "train": {"max_steps": 6, "eval_every": 2, "progress": "none", "device": "cpu", "threads": 1,
                 "precision": "64", "checkpoint_every": 2},
       "wandb": {"mode": "disabled"}}


def fit(tmp_path, capsys, name, max_steps):
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump({**CFG, "out_dir": str(tmp_path / name),
                                    "train": {**CFG["train"], "max_steps": max_steps}}))
    assert toylab(["fit", "--config", str(path)]) == 0
    return capsys.readouterr().out.strip().splitlines()[-1]


def histories(run):
    return {m: np.load(f"{run}/histories/{m}.npy") for m in ("steps", "train_loss", "test_loss", "test_acc")}


def test_resume_with_more_steps_equals_a_straight_run(tmp_path, capsys):
    straight = fit(tmp_path, capsys, "a", 10)
    run = fit(tmp_path, capsys, "b", 6)
    assert toylab(["fit", "--resume", run, "--train.max_steps", "10"]) == 0, capsys.readouterr().err
    a, b = histories(straight), histories(run)
    assert a["steps"].tolist() == [0, 2, 4, 6, 8, 10]
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    assert open(f"{straight}/members.csv").read() == open(f"{run}/members.csv").read()


def test_an_old_checkpoint_without_its_schedule(tmp_path, capsys):
    """Checkpoints written before the evaluation steps were stored: a linear schedule's first entries are theirs,
    so it still extends (and equals a straight run); a log schedule cannot be mapped: one clear line."""
    straight = fit(tmp_path, capsys, "a", 10)
    run = fit(tmp_path, capsys, "c", 6)
    ckpt = f"{run}/checkpoints/last.ckpt"
    state = torch.load(ckpt, weights_only=True)
    del state["state_dict"]["schedule_steps"]
    torch.save(state, ckpt)
    assert toylab(["fit", "--resume", run, "--train.max_steps", "10"]) == 0, capsys.readouterr().err
    for k, v in histories(straight).items():
        np.testing.assert_array_equal(v, histories(run)[k])

    CFG["train"] = {**CFG["train"], "eval_schedule": "log", "eval_points": 4}
    try:
        run = fit(tmp_path, capsys, "d", 6)
    finally:
        CFG["train"] = {k: v for k, v in CFG["train"].items() if k not in ("eval_schedule", "eval_points")}
    state = torch.load(f"{run}/checkpoints/last.ckpt", weights_only=True)
    del state["state_dict"]["schedule_steps"]
    torch.save(state, f"{run}/checkpoints/last.ckpt")
    assert toylab(["fit", "--resume", run, "--train.max_steps", "10"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.splitlines() == [err] and "train.max_steps" in err and "its own max_steps" in err
    assert toylab(["fit", "--resume", run, "--train.max_steps", "6"]) == 0  # its own length still resumes
