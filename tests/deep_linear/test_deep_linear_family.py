"""The deep-linear family end to end through the CLI: configs/deep_linear/saxe.yaml (shortened) lays Saxe et al.'s
dynamics over the measured loss within 5%, each stage comes at (tau / 2s) ln(s / u0) with tau = d_out / (2 lr),
small init learns the modes one after another and large init all at once; bad settings get one-line errors."""
import csv
import math
from pathlib import Path

import pytest

from trainers.cli import main

ROOT = Path(__file__).resolve().parents[2]
CONFIG = str(ROOT / "configs/deep_linear/saxe.yaml")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("dl")
    assert main(["fit", "--config", CONFIG, "--out_dir", str(out), "--train.max_steps", "2500"]) == 0
    (run_dir,) = out.iterdir()
    with open(run_dir / "members.csv") as f:
        return run_dir, list(csv.DictReader(f))


def test_theory_overlay_within_five_percent(run):
    _, rows = run
    assert len(rows) == 3
    for r in rows:
        assert float(r["theory_max_rel_err"]) < 0.05, r


def test_stage_times(run):
    """Mode k reaches half its strength at (tau / 2 s_k) ln(s_k / u0) (Saxe et al.'s timescale, L = 2)."""
    _, rows = run
    tau = 8 / (2 * 0.01)  # d_out / (2 lr) steps
    small = [r for r in rows if float(r["u0"]) == 1e-4]
    for r in small:
        for k, s in enumerate([4.0, 2.0, 1.0]):
            predicted = tau / (2 * s) * math.log(s / 1e-4)
            assert abs(int(r[f"stage_step_{k}"]) / predicted - 1) < 0.08, (k, r[f"stage_step_{k}"], predicted)


def test_small_init_is_sequential_large_init_all_at_once(run):
    _, rows = run
    small = next(r for r in rows if float(r["u0"]) == 1e-4)
    large = next(r for r in rows if float(r["u0"]) == 1.0)
    stages = [int(small[f"stage_step_{k}"]) for k in range(3)]
    assert stages[0] < stages[1] < stages[2] and stages[2] > 3 * stages[0]
    assert max(int(large[f"stage_step_{k}"]) for k in range(3)) < stages[0]
    assert int(large["step_test_loss_0.1"]) < int(small["step_test_loss_0.1"]) / 4


def test_figure(run):
    from trainers.figures.deep_linear import draw_stages

    run_dir, _ = run
    png = draw_stages(run_dir)
    assert png.is_file() and png.with_suffix(".svg").is_file()


@pytest.mark.parametrize("extra, key", [
    (["--model.depth", "1"], "model.depth"),
    (["--optimizer.name", "adamw"], "optimizer.name"),
    (["--task.singular_values", "[1, 1, 1, 1, 1, 1, 1, 1, 1]"], "task.singular_values"),
    (["--probes.spectra", "true"], "probes.spectra"),
    (["--model.init", "random"], "model.init_align"),
    (["--train.batch_size", "8"], "train.batch_size"),
    (["--task.whiten", "true", "--task.name", "powerlaw"], "task.whiten"),
], ids=lambda v: v if isinstance(v, str) else None)
def test_bad_input_is_one_line_naming_the_key(tmp_path, capsys, extra, key):
    code = main(["fit", "--config", CONFIG, "--out_dir", str(tmp_path), *extra])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith(f"toylab fit: error: {key}:"), err
    assert not any(tmp_path.iterdir())


def test_resume_with_a_longer_run_keeps_the_evaluations(tmp_path, capsys):
    """A finished 600-step fit extended to 1200 steps: its evaluations move to the new (linear) schedule, and every
    number equals a fresh 1200-step fit's."""
    base = ["--train.eval_schedule", "linear", "--train.eval_every", "100"]
    assert main(["fit", "--config", CONFIG, "--out_dir", str(tmp_path / "a"), "--train.max_steps", "600", *base]) == 0
    (a,) = (tmp_path / "a").iterdir()
    assert main(["fit", "--resume", str(a), "--train.max_steps", "1200"]) == 0
    assert main(["fit", "--config", CONFIG, "--out_dir", str(tmp_path / "b"), "--train.max_steps", "1200", *base]) == 0
    (b,) = (tmp_path / "b").iterdir()
    import numpy as np

    for name in ("steps", "test_loss", "modes_u", "theory_test_loss"):
        np.testing.assert_allclose(np.load(a / "histories" / f"{name}.npy"), np.load(b / "histories" / f"{name}.npy"),
                                   rtol=1e-12, atol=0)
