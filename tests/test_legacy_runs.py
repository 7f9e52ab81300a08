"""Run directories written before the engine / family redesign (tests/fixtures/legacy, made by commit 525a752) still
resume to the numbers a fresh run gives, export, load in the notebook API and draw."""
import csv
import shutil
from pathlib import Path

import numpy as np
import pytest

import trainers as tl
from trainers.cli import main
from trainers.figures.scaling import load_run

LEGACY = Path(__file__).resolve().parent / "fixtures" / "legacy"


@pytest.fixture
def legacy(tmp_path):
    def copy(name: str) -> Path:
        dst = tmp_path / name
        shutil.copytree(LEGACY / name, dst)
        return dst
    return copy


def _rows(run: Path) -> list[dict]:
    with open(run / "members.csv") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("name", ["fit", "rf"])
def test_resume_continues_to_the_numbers_of_a_fresh_run(legacy, tmp_path, capsys, name):
    run = legacy(name)
    assert main(["fit", "--resume", str(run), "--train.max_steps", "50"]) == 0
    cfg = tmp_path / "fresh.yaml"
    shutil.copy(run / "config.yaml", cfg)
    assert main(["fit", "--config", str(cfg), "--train.max_steps", "50", "--out_dir", str(tmp_path / "fresh")]) == 0
    (fresh,) = (tmp_path / "fresh").iterdir()
    steps = np.load(run / "histories" / "steps.npy")
    assert steps[-1] == 50 and np.array_equal(steps, np.load(fresh / "histories" / "steps.npy"))
    for metric in ("train_loss", "test_loss"):
        np.testing.assert_allclose(np.load(run / "histories" / f"{metric}.npy"),
                                   np.load(fresh / "histories" / f"{metric}.npy"), rtol=1e-6, atol=1e-9)
    old, new = _rows(run), _rows(fresh)
    assert [r.keys() for r in old] == [r.keys() for r in new]


def test_export_and_notebook_api(legacy, tmp_path, capsys):
    run = legacy("fit")
    assert main(["export", str(run), "--member", "1", "--out", str(tmp_path / "m1.pt")]) == 0
    assert (tmp_path / "m1.pt").is_file()
    r = tl.load(run)
    assert list(r.members["member"]) == [0, 1, 2, 3] and r.history("test_acc").shape == (4, 4)


def test_sweep_draws_and_loads(legacy):
    run = legacy("sweep")
    r = tl.load(run)
    assert len(r.grid) == 4 and r.history("test_acc").shape == (4, 4)
    assert r.phase_diagram() is not None
    assert main(["sweep", "--resume", str(run)]) == 0  # complete: nothing to run


def test_scaling_figures_read_a_legacy_rf_run(legacy):
    s = load_run(legacy("rf"))  # (no GD theory at ridge > 0: its theory curves are NaN by design)
    assert s.test.shape == (4, 4) and np.isfinite(s.test).all() and s.col("N").tolist() == [8, 8, 16, 16]
