"""Interrupted fits resume to the same final numbers as uninterrupted ones (CPU, float64, deterministic)."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import lightning as L
import numpy as np
import torch
import yaml

from trainers.cli import main
from trainers.fitting import run_fit
from trainers.members import expand
from trainers.typed import config_from_dict
from trainers.rundir import new_run_dir, write_config

CFG = {
    "name": "resume", "seeds": [0, 1, 2],
    "task": {"operation": "a+b", "p": 11, "train_fraction": 0.5},
    "model": {"name": "mlp", "width": 24, "depth": 3},
    "optimizer": {"lr": 0.003, "weight_decay": 0.5, "warmup_steps": 3},
    "filters": {"grokfast": "ma", "grokfast_window": 5},
    "train": {"max_steps": 80, "eval_every": 1, "batch_size": 16, "precision": "64", "progress": "none",
              "checkpoint_every": 10, "device": "cpu"},
    "wandb": {"mode": "disabled"},
}


class SignalAt(L.Callback):
    """Sends a signal to this process after a given step, like a user's Ctrl-C."""

    def __init__(self, step, sig=signal.SIGINT):
        self.step, self.sig = step, sig

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if trainer.global_step == self.step:
            os.kill(os.getpid(), self.sig)


def outputs(run: Path):
    hist = {p.stem: np.load(p) for p in sorted((run / "histories").glob("*.npy"))}
    state = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    return hist, (run / "members.csv").read_text(), state


def assert_same(a, b):
    (ha, ma, sa), (hb, mb, sb) = a, b
    assert ha.keys() == hb.keys()
    for k in ha:
        np.testing.assert_array_equal(ha[k], hb[k])
    assert ma == mb
    assert sa["global_step"] == sb["global_step"]
    for k, v in sa["state_dict"].items():
        assert torch.equal(v, sb["state_dict"][k]), k


def start(tmp_path, name):
    cfg = config_from_dict({**CFG, "out_dir": str(tmp_path / name)})
    run = new_run_dir(cfg.out_dir, cfg.name)
    write_config(run, cfg)
    return cfg, expand(cfg), run


def test_sigint_then_resume_equals_uninterrupted(tmp_path, capsys):
    cfg, members, run_a = start(tmp_path, "a")
    run_fit(cfg, members, run_a)
    cfg, members, run_b = start(tmp_path, "b")
    for sig in (signal.SIGINT, signal.SIGTERM):
        result = run_fit(cfg, members, run_b, resume=run_b.joinpath("checkpoints", "last.ckpt").exists(),
                         callbacks=[SignalAt(23 if sig == signal.SIGINT else 51, sig)])
        assert result.interrupted and not (run_b / "DONE").exists()
        state = torch.load(run_b / "checkpoints" / "last.ckpt", weights_only=True)
        assert state["global_step"] == (23 if sig == signal.SIGINT else 51)  # saved at the step it stopped
    assert main(["fit", "--resume", str(run_b)]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1] == str(run_b)
    assert (run_b / "DONE").exists()
    assert_same(outputs(run_a), outputs(run_b))


def test_kill_9_resumes_from_last_periodic_checkpoint(tmp_path):
    cfg = {**CFG, "train": {**CFG["train"], "max_steps": 400, "checkpoint_every": 25}, "out_dir": str(tmp_path / "k")}
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg))
    proc = subprocess.Popen([sys.executable, "-m", "trainers.cli", "fit", "--config", str(path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    ckpt = None
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        found = list((tmp_path / "k").glob("*/checkpoints/last.ckpt"))
        if found:
            step = torch.load(found[0], weights_only=True)["global_step"]
            if step >= 50:
                ckpt = found[0]
                break
        time.sleep(0.05)
    assert ckpt is not None and proc.poll() is None, "the fit ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    run = ckpt.parents[1]
    assert not (run / "DONE").exists()
    assert main(["fit", "--resume", str(run)]) == 0
    cfg_a = config_from_dict({**cfg, "out_dir": str(tmp_path / "ref")})
    ref = new_run_dir(cfg_a.out_dir, cfg_a.name)
    write_config(ref, cfg_a)
    run_fit(cfg_a, expand(cfg_a), ref)
    assert_same(outputs(ref), outputs(run))
    steps = np.load(run / "histories" / "steps.npy")
    assert steps.tolist() == list(range(401))  # no step duplicated or missing
