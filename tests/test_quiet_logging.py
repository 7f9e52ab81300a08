"""Conventional, quiet logging: wandb prints nothing on a normal run (unless wandb.verbose), WANDB_MODE and
WANDB_DIR from the environment win over the config, stdout holds only the run directory."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ARGS = ["--config", str(ROOT / "configs/grokking/quick.yaml"), "--train.max_steps", "20", "--seeds", "[0]",
        "--train.eval_every", "10"]


def fit(tmp_path, env=None, extra=()):
    e = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    for k in ("WANDB_MODE", "WANDB_DIR", "WANDB_SILENT"):
        if k not in (env or {}):
            e.pop(k, None)
    r = subprocess.run([sys.executable, "-m", "trainers.cli", "fit", *ARGS, "--out_dir", str(tmp_path / "runs"),
                        *extra], capture_output=True, text=True, env=e, cwd=tmp_path, timeout=300)
    assert r.returncode == 0, r.stderr
    return r


def test_offline_run_is_quiet(tmp_path):
    r = fit(tmp_path)
    out = r.stdout.strip().splitlines()
    assert len(out) == 1 and Path(out[0]).is_dir()
    assert "wandb" not in r.stderr.lower(), r.stderr
    assert (Path(out[0]) / "wandb").is_dir()


def test_verbose_shows_wandb(tmp_path):
    r = fit(tmp_path, extra=["--wandb.verbose", "true"])
    assert "wandb" in r.stderr.lower()


@pytest.mark.parametrize("mode", ["disabled", "offline"])
def test_environment_wins(tmp_path, mode):
    wdir = tmp_path / "wandb-elsewhere"
    wdir.mkdir()
    r = fit(tmp_path, env={"WANDB_MODE": mode, "WANDB_DIR": str(wdir)}, extra=["--wandb.mode", "offline"])
    run = Path(r.stdout.strip().splitlines()[-1])
    assert not (run / "wandb").exists()
    assert any(wdir.rglob("*")) == (mode == "offline")
