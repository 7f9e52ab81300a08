"""A crash mid-write keeps the previous file; a second process on the same run directory gets a clear error; SIGTERM
saves and exits 143 (Ctrl-C: 130)."""
import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from toymodels.errors import ConfigError
from trainers import rundir
from trainers.reader import read_members
from trainers.atomic import atomic_open
from trainers.callbacks.checkpoint import save_atomic
from trainers.cli import main as toylab
from trainers.lock import run_dir_lock

ROOT = Path(__file__).resolve().parents[1]
CFG = {"name": "durable", "seeds": [0, 1], "task": {"p": 7, "train_fraction": 0.5},
       "model": {"name": "mlp", "width": 8, "depth": 2},
       "train": {"max_steps": 6, "eval_every": 2, "progress": "none", "device": "cpu", "threads": 1,
                 "checkpoint_every": 2},
       "wandb": {"mode": "disabled"}}


class Boom(RuntimeError):
    pass


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    path = out / "c.yaml"
    path.write_text(yaml.safe_dump({**CFG, "out_dir": str(out / "runs")}))
    assert toylab(["fit", "--config", str(path)]) == 0
    (run,) = (out / "runs").iterdir()
    return run


def leftovers(d: Path) -> list[str]:
    return [p.name for p in d.rglob("*.tmp")]


def test_atomic_open_keeps_the_previous_file_on_an_exception(tmp_path):
    path = tmp_path / "f.txt"
    path.write_text("previous")
    with pytest.raises(Boom):
        with atomic_open(path) as f:
            f.write("half of the new conte")
            raise Boom
    assert path.read_text() == "previous" and not leftovers(tmp_path)
    with atomic_open(path) as f:
        f.write("new")
    assert path.read_text() == "new"


def test_members_csv_survives_a_crash_mid_write(run, tmp_path, monkeypatch):
    before = (run / "members.csv").read_bytes()
    rows = read_members(run)
    calls = {"n": 0}
    real = csv.DictWriter.writerow

    def failing(self, row):
        calls["n"] += 1
        if calls["n"] == 2:  # the header and the first row are written, then the process "crashes"
            raise Boom
        return real(self, row)

    monkeypatch.setattr(csv.DictWriter, "writerow", failing)
    from trainers.members import expand
    from trainers.reader import read_run_config

    cfg = read_run_config(run)
    outcomes = [{k: v for k, v in r.items() if k not in ("member", "seed")} for r in rows]
    with pytest.raises(Boom):
        rundir.write_members(run, expand(cfg), outcomes)
    assert calls["n"] == 2
    assert (run / "members.csv").read_bytes() == before and not leftovers(run)


def test_histories_survive_a_crash_mid_write(run, monkeypatch):
    h = run / "histories"
    before = {p.name: p.read_bytes() for p in h.glob("*.npy")}
    real = np.save

    def failing(f, a, *args, **kwargs):
        f.write(b"\x93NUMPY partial")  # some bytes reach the file, then the write fails
        raise Boom

    class Module:  # the parts of an EnsembleModule that write_histories reads
        evaluated = torch.tensor([True, True, False])
        schedule = [0, 2, 4]
        metric_names = ("train_loss", "test_loss")
        history = torch.zeros(2, 3, 2, dtype=torch.float64)

    monkeypatch.setattr(np, "save", failing)
    with pytest.raises(Boom):
        rundir.write_histories(run, Module())
    monkeypatch.setattr(np, "save", real)
    assert {p.name: p.read_bytes() for p in h.glob("*.npy")} == before and not leftovers(run)
    assert np.load(h / "steps.npy").tolist() == [0, 2, 4, 6]


def test_checkpoint_survives_a_crash_mid_write(run):
    ckpt = run / "checkpoints" / "last.ckpt"
    before = ckpt.read_bytes()

    class Trainer:
        def save_checkpoint(self, path):
            Path(path).write_bytes(before[: len(before) // 3])  # a partial file, then the crash
            raise Boom

    with pytest.raises(Boom):
        save_atomic(Trainer(), ckpt)
    assert ckpt.read_bytes() == before and not leftovers(run)
    assert rundir.load_checkpoint(ckpt)["global_step"] == 6


def test_a_second_process_on_the_same_run_directory_gets_a_clear_error(run, capsys):
    with run_dir_lock(run):
        with pytest.raises(ConfigError, match="in use by process"):  # a second lock, even in this process
            with run_dir_lock(run):
                pass
        # the command line of a second resume (flock conflicts between open files, so this process stands in)
        assert toylab(["fit", "--resume", str(run), "--train.max_steps", "8"]) == 2
        err = capsys.readouterr().err.strip()
        assert err.splitlines() == [err] and f"in use by process {os.getpid()}" in err and str(run) in err
    assert np.load(run / "histories" / "steps.npy").tolist() == [0, 2, 4, 6]  # nothing was written
    with run_dir_lock(run):  # released: the next one gets it
        pass


def _start(tmp_path):
    cfg = {**CFG, "out_dir": str(tmp_path / "runs"),
           "train": {**CFG["train"], "max_steps": 100000, "eval_every": 100, "checkpoint_every": 100}}
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg))
    p = subprocess.Popen([sys.executable, "-m", "trainers.cli", "fit", "--config", str(path)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    deadline = time.time() + 120
    while time.time() < deadline:  # training has started once the first checkpoint exists
        found = list((tmp_path / "runs").glob("*/checkpoints/last.ckpt"))
        if found:
            return p, found[0]
        time.sleep(0.2)
    p.kill()
    raise AssertionError("the fit did not start")


@pytest.mark.parametrize("sig, status", [(signal.SIGTERM, 143),
                                         pytest.param(signal.SIGINT, 130, marks=pytest.mark.slow)])
def test_signal_saves_then_exits_with_128_plus_its_number(tmp_path, sig, status):
    p, ckpt = _start(tmp_path)
    p.send_signal(sig)
    out, err = p.communicate(timeout=120)
    assert p.returncode == status, err
    run = ckpt.parent.parent
    assert out.strip() == str(run) and "continue with  toylab fit --resume" in err
    step = rundir.load_checkpoint(ckpt)["global_step"]
    assert 100 <= step < 100000 and not (run / "DONE").exists()
