"""Random-feature fits through ``toylab fit``: the run directory (members.csv with N, P, lr, seed, losses, limits,
theory and GCV columns; histories incl. the theory overlay and the gap), resume with the callbacks' state, SGD, and
one-line errors (exit status 2) for bad input."""
import csv
import signal

import numpy as np
import pytest
import yaml

from tests.scaling.helpers import ROOT
from tests.test_resume import SignalAt
from toymodels.regression.theory import theory_curves
from toymodels.tasks.powerlaw import PowerLawTask
from trainers.cli import main
from trainers.fitting import run_fit
from trainers.members import expand
from trainers.typed import config_from_dict
from trainers.families.random_features import member_spec
from trainers.rundir import new_run_dir, write_config


def _rows(run):
    return list(csv.DictReader(open(run / "members.csv")))


def test_fit_writes_the_run_directory(small_run):
    rows = _rows(small_run)
    assert len(rows) == 9 and (small_run / "DONE").exists()
    for col in ["seed", "N", "P", "lr", "lr_eff", "final_train_loss", "final_test_loss", "best_test_loss",
                "limit_test_loss", "projection_test_loss", "theory_kind", "theory_limit_test_loss", "final_gap",
                "gcv_time_max_rel_err", "gcv_limit_test_loss", "diverged"]:
        assert col in rows[0], col
    assert [r["N"] for r in rows] == ["8"] * 3 + ["16"] * 3 + ["32"] * 3
    assert {r["P"] for r in rows} == {"256"} and [r["seed"] for r in rows[:3]] == ["0", "1", "2"]
    assert float(rows[0]["lr_eff"]) == pytest.approx(0.1 * 320 / 8)
    h = small_run / "histories"
    steps = np.load(h / "steps.npy")
    test, train = np.load(h / "test_loss.npy"), np.load(h / "train_loss.npy")
    theory, gap = np.load(h / "theory_test_loss.npy"), np.load(h / "gap.npy")
    assert test.shape == theory.shape == gap.shape == np.load(h / "gcv_test_loss.npy").shape == (9, len(steps))
    np.testing.assert_allclose(gap, test - train, rtol=1e-12)
    assert float(rows[4]["final_test_loss"]) == pytest.approx(test[4, -1])
    # the overlay is the theory of each member's own setting, at the logged steps
    cfg = config_from_dict(yaml.safe_load(open(small_run / "config.yaml")))
    task = PowerLawTask(320, 1.5, 1 / 3)
    ref, kinds = theory_curves(task.eta, task.wbar, member_spec(cfg, expand(cfg)), steps)
    np.testing.assert_allclose(theory, ref.numpy(), rtol=1e-12)
    assert [r["theory_kind"] for r in rows] == kinds


def test_resume_restores_the_callbacks(tmp_path, monkeypatch):
    """Interrupted at step 37 and resumed: histories (incl. theory, gap, GCV) and members.csv equal an
    uninterrupted fit's, and the theory is not recomputed (it comes from the checkpoint)."""
    base = yaml.safe_load(open(ROOT / "configs/scaling/cpu_small.yaml"))
    base["train"].update(max_steps=80, checkpoint_every=20)

    def start(name):
        cfg = config_from_dict({**base, "out_dir": str(tmp_path / name)})
        run = new_run_dir(cfg.out_dir, cfg.name)
        write_config(run, cfg)
        return cfg, expand(cfg), run

    cfg, members, run_a = start("a")
    run_fit(cfg, members, run_a)
    cfg, members, run_b = start("b")
    assert run_fit(cfg, members, run_b, callbacks=[SignalAt(37, signal.SIGINT)]).interrupted

    def no_recompute(*args, **kwargs):
        raise AssertionError("the theory overlay was recomputed on resume")

    monkeypatch.setattr("trainers.callbacks.theory_overlay.theory_curves", no_recompute)
    assert main(["fit", "--resume", str(run_b)]) == 0
    for name in ["test_loss", "train_loss", "theory_test_loss", "gap", "gcv_test_loss", "steps"]:
        np.testing.assert_array_equal(np.load(run_a / "histories" / f"{name}.npy"),
                                      np.load(run_b / "histories" / f"{name}.npy"))
    rows_a, rows_b = _rows(run_a), _rows(run_b)
    for ra, rb in zip(rows_a, rows_b):  # the closed-form columns may differ in the last bit (LAPACK)
        assert ra.keys() == rb.keys()
        for k in ra:
            try:
                assert float(ra[k]) == pytest.approx(float(rb[k]), rel=1e-12, nan_ok=True), k
            except ValueError:
                assert ra[k] == rb[k], k


def test_sgd_fit_in_float32(tmp_path, capsys):
    code = main(["fit", "--config", str(ROOT / "configs/scaling/cpu_small.yaml"), "--out_dir", str(tmp_path),
                 "--train.batch_size", "16", "--train.max_steps", "40", "--seeds", "[0]", "--train.precision", "32"])
    assert code == 0
    run = next(tmp_path.iterdir())
    rows = _rows(run)
    assert {r["batch"] for r in rows} == {"16"} and {r["theory_kind"] for r in rows} == {"gd_for_sgd"}
    assert all(r["diverged"] == "False" for r in rows)


BAD = [
    (["--members", "[{model.width: 0}]"], "model.width"),
    (["--task.train_size", "0"], "task.train_size"),
    (["--model.ridge", "-0.1"], "model.ridge"),
    (["--task.alpha", "1.0"], "task.alpha"),
    (["--task.r", "0"], "task.r"),
    (["--task.dim", "200000000"], "members"),
    (["--optimizer.name", "adamw"], "optimizer.name"),
    (["--optimizer.weight_decay", "-0.1"], "optimizer.weight_decay"),
    (["--optimizer.weight_decay", "0.1", "--model.ridge", "0.05"], "model.ridge"),  # the L2 penalty set twice
    (["--model.act", "relu"], "task.test_size"),
    (["--model.name", "two_layer"], "model.per_mode_lr"),  # a random_features setting of the config
    (["--task.noise_std", "-1"], "task.noise_std"),
    (["--task.name", "teacher"], "task.r"),  # a powerlaw setting of the config
]


@pytest.mark.parametrize("extra, key", BAD, ids=[k for _, k in BAD])
def test_bad_input_is_one_line_naming_the_key(tmp_path, capsys, extra, key):
    code = main(["fit", "--config", str(ROOT / "configs/scaling/cpu_small.yaml"), "--out_dir", str(tmp_path),
                 *extra])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert err[0].startswith(f"toylab fit: error: {key}:"), err[0]
    assert not any(tmp_path.iterdir())  # nothing was run
