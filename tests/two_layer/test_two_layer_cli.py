"""Two-layer nets through ``toylab fit`` / ``toylab sweep`` and the lazy-rich script: run directories with the
lazy-rich histories and members.csv columns, a lazy-rich sweep with its phases and figures, the time-exponent table,
an interrupted fit resumed to the same numbers, and one-line errors for bad input."""
import csv
import signal
from pathlib import Path

import numpy as np
import pytest

from scripts.lazy_rich import main as lazy_rich_main
from tests.test_resume import SignalAt, assert_same, outputs
from trainers.cli import main
from trainers.fitting import run_fit
from trainers.members import expand
from trainers.typed import config_from_dict
from trainers.rundir import new_run_dir, write_config

ROOT = Path(__file__).resolve().parents[2]
FAST = ["--train.max_steps", "40", "--train.progress", "none", "--wandb.mode", "disabled"]


def _rows(run: Path) -> list[dict]:
    with open(run / "members.csv") as f:
        return list(csv.DictReader(f))


def test_teacher_fit_writes_lazy_rich_histories(tmp_path, capsys):
    assert main(["fit", "--config", str(ROOT / "configs/two_layer/teacher.yaml"), "--out_dir", str(tmp_path),
                 *FAST, "--seeds", "[0]"]) == 0
    run = Path(capsys.readouterr().out.strip().splitlines()[-1])
    h = run / "histories"
    steps = np.load(h / "lazy_rich_steps.npy")
    assert steps[0] == 0 and steps[-1] == 40
    move = np.load(h / "lazy_rich_weight_change_W.npy")  # [E, T]
    assert move.shape == (4, len(steps)) and np.all(move[:, 0] == 0)
    assert np.all(np.diff(move[:, -1]) > 0)  # members are ordered by gamma0: more movement at larger gamma0
    rows = _rows(run)
    assert [float(r["model.gamma0"]) for r in rows] == [0.01, 0.1, 1.0, 10.0]
    assert {r["train_mode"] for r in rows} == {"rows"} and all(r["diverged"] == "False" for r in rows)
    assert float(rows[0]["final_weight_change_W"]) == pytest.approx(move[0, -1])
    assert float(rows[0]["lr_eff"]) == pytest.approx(0.5 * 0.01 ** 2 * 256)  # lr gamma0^2 N (mup)


def test_lazy_rich_sweep_phases_and_figures(tmp_path, capsys):
    cfg = ROOT / "configs/two_layer/lazy_rich_sweep.yaml"
    assert main(["sweep", "--config", str(cfg), "--out_dir", str(tmp_path), "--train.max_steps", "60",
                 "--sweep.grid", "{model.width: [16, 256], model.gamma0: [0.01, 31.6]}", "--seeds", "[0]",
                 "--task.train_size", "64", "--wandb.mode", "disabled"]) == 0
    captured = capsys.readouterr()
    run = Path(captured.out.strip().splitlines()[-1])
    assert "rich 2, lazy 2, diverged 0" in captured.err  # progress counts the lazy-rich phases
    assert (run / "figures" / "phase__model-gamma0__model-width.png").is_file()  # drawn by the sweep itself
    with open(run / "grid.csv") as f:
        grid = {(int(r["model.width"]), float(r["model.gamma0"])): r for r in csv.DictReader(f)}
    assert {k: r["phase"] for k, r in grid.items()} == {(16, 0.01): "lazy", (256, 0.01): "lazy",
                                                       (16, 31.6): "rich", (256, 31.6): "rich"}
    # ntk parameterisation: movement ~ gamma0 / sqrt(N) while lazy (16x wider: 4x less)
    ratio = float(grid[(16, 0.01)]["mean_weight_change_W"]) / float(grid[(256, 0.01)]["mean_weight_change_W"])
    assert ratio == pytest.approx(4.0, rel=0.3)
    assert lazy_rich_main(["phase", str(run)]) == 0
    paths = [Path(p) for p in capsys.readouterr().out.split()]
    assert len(paths) == 2 and all(p.is_file() and p.suffix == ".png" for p in paths)


@pytest.mark.parametrize("name", ["time_hard", "rf_time_hard"])
def test_time_exponent_table(tmp_path, capsys, name):
    assert main(["fit", "--config", str(ROOT / f"configs/two_layer/{name}.yaml"), "--out_dir", str(tmp_path),
                 "--train.max_steps", "30", "--seeds", "[0, 1]", "--task.train_size", "256", "--task.dim", "64",
                 *(["--model.width", "32"] if name.startswith("rf") else [])]) == 0
    run = capsys.readouterr().out.strip().splitlines()[-1]
    assert lazy_rich_main(["exponents", run, "--window", "3", "30", "--boot", "20"]) == 0
    out = capsys.readouterr().out.splitlines()
    body = [line for line in out[2:] if not line.startswith("/")]
    assert body and all("0.50" in line and "0.667" in line for line in body)  # beta = 2r = 0.5, rich 2b/(1+b)
    # one row per member group, seeds pooled (outcome columns like step_test_loss_0.1 are not settings)
    assert len(body) == (1 if name.startswith("rf") else 2) and all(line.split()[-1] == "2" for line in body)
    assert any(line.endswith(".png") for line in out)


def test_modular_two_layer_fit(tmp_path, capsys):
    assert main(["fit", "--config", str(ROOT / "configs/two_layer/gromov.yaml"), "--out_dir", str(tmp_path),
                 *FAST, "--task.p", "11"]) == 0
    run = Path(capsys.readouterr().out.strip().splitlines()[-1])
    assert (run / "histories" / "test_acc.npy").is_file()
    assert np.load(run / "histories" / "lazy_rich_ntk_alignment.npy").shape[0] == len(_rows(run))


def test_interrupted_two_layer_fit_resumes_to_the_same_numbers(tmp_path):
    base = {"name": "r", "seeds": [0, 1], "members": [{"model.gamma0": 0.1}, {"model.gamma0": 3.0, "model.width": 7}],
            "task": {"name": "teacher", "dim": 6, "teacher_width": 2, "train_size": 32, "test_size": 20},
            "model": {"name": "two_layer", "width": 12, "act": "tanh"}, "optimizer": {"name": "sgd", "lr": 0.3},
            "probes": {"lazy_rich": True, "points": 15, "rows": 16},
            "train": {"max_steps": 60, "eval_every": 1, "batch_size": 8, "precision": "64", "progress": "none",
                      "checkpoint_every": 10, "device": "cpu", "threads": 1},
            "wandb": {"mode": "disabled"}}
    runs = []
    for name in ("a", "b"):
        cfg = config_from_dict({**base, "out_dir": str(tmp_path / name)})
        run = new_run_dir(cfg.out_dir, cfg.name)
        write_config(run, cfg)
        runs.append((cfg, expand(cfg), run))
    run_fit(*runs[0])
    cfg, members, run_b = runs[1]
    assert run_fit(cfg, members, run_b, callbacks=[SignalAt(23, signal.SIGINT)]).interrupted
    assert main(["fit", "--resume", str(run_b)]) == 0
    assert_same(outputs(runs[0][2]), outputs(run_b))


BAD = [
    (["--optimizer.name", "adamw"], "optimizer.name"),
    (["--model.gamma0", "0"], "model.gamma0"),
    (["--model.act", "gelu"], "model.act"),
    (["--task.test_size", "null"], "task.test_size"),
    (["--model.ridge", "0.1", "--optimizer.weight_decay", "0.1"], "model.ridge"),  # the L2 penalty set twice
    (["--probes.representation", "true"], "probes.representation"),
    (["--sweep.phase.rule", "lazy_rich", "--probes.lazy_rich", "false"], "sweep.phase.rule"),
    (["--task.teacher_act", "softplus"], "task.teacher_act"),
    (["--task.teacher_width", "0"], "task.teacher_width"),
]


@pytest.mark.parametrize("extra, key", BAD, ids=[k for _, k in BAD])
def test_bad_input_is_one_line_naming_the_key(tmp_path, capsys, extra, key):
    code = main(["fit", "--config", str(ROOT / "configs/two_layer/teacher.yaml"), "--out_dir", str(tmp_path),
                 *extra])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert err[0].startswith(f"toylab fit: error: {key}:"), err[0]
    assert not any(tmp_path.iterdir())


def test_lazy_rich_probe_needs_two_layer(tmp_path, capsys):
    code = main(["fit", "--config", str(ROOT / "configs/grokking/quick.yaml"), "--out_dir", str(tmp_path),
                 "--probes.lazy_rich", "true", "--train.max_steps", "2", "--wandb.mode", "disabled"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("toylab fit: error: probes.lazy_rich:"), err
    assert not any(tmp_path.iterdir())
