"""Sweeps: grid expansion, planning into fits and chunks, one run directory, phases, figures, resume, Ray."""
import csv
from pathlib import Path

import pytest
import yaml

from toymodels.errors import ConfigError
from trainers.cli import main
from trainers.config import RunConfig
from trainers.members import with_settings
from trainers.sweeps.grid import axis_values, expand_grid
from trainers.sweeps.plan import make_plan
from trainers.sweeps.backends import run_chunk
from trainers.typed import config_from_dict, config_to_dict

SWEEP = {
    "name": "tiny", "seeds": [0, 1],
    "task": {"operation": "a+b", "p": 7, "train_fraction": 0.6},
    "model": {"name": "mlp", "width": 16, "depth": 2},
    "optimizer": {"lr": 0.01, "betas": [0.9, 0.98]},
    "train": {"max_steps": 60, "eval_every": 5, "progress": "none", "device": "cpu"},
    "wandb": {"mode": "disabled"},
    "sweep": {"grid": {"optimizer.weight_decay": [0.0, 1.0], "optimizer.lr": {"log": [1e-3, 1e-2, 2]}},
              "max_members": 3, "phase": {"gap": 20}},
}


def write(tmp_path, cfg):
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return str(path)


def sweep(tmp_path, capsys, cfg=SWEEP, extra=()):
    code = main(["sweep", "--config", write(tmp_path, cfg), "--out_dir", str(tmp_path / "runs"), *extra])
    out = capsys.readouterr()
    return code, out.out.strip().splitlines(), out.err


def rows(path):
    return list(csv.DictReader(open(path)))


def test_axis_values():
    assert axis_values("optimizer.lr", {"log": [1e-4, 1e-2, 3]}) == [1e-4, 1e-3, 1e-2]
    assert axis_values("optimizer.weight_decay", {"lin": [0, 1, 3]}) == [0.0, 0.5, 1.0]
    assert axis_values("task.train_fraction", [0.3, "0.5"]) == [0.3, 0.5]
    keys, points = expand_grid({"optimizer.lr": [1, 2], "seed": [5, 6, 7]})
    assert keys == ["optimizer.lr", "seed"] and len(points) == 6 and points[1] == {"optimizer.lr": 1.0, "seed": 6}
    with pytest.raises(ConfigError, match="did you mean 'optimizer.weight_decay'"):
        axis_values("optimizer.weightdecay", [0.1])
    with pytest.raises(ConfigError, match="at least one value"):
        axis_values("optimizer.lr", [])
    with pytest.raises(ConfigError, match="lo, hi, n"):
        axis_values("optimizer.lr", {"log": ["a", "b", 3]})
    with pytest.raises(ConfigError, match="positive"):
        axis_values("optimizer.lr", {"log": [0, 1, 3]})
    with pytest.raises(ConfigError, match="expected float"):
        axis_values("optimizer.lr", ["fast"])


def test_plan_groups_shape_changing_keys_and_chunks():
    cfg = with_settings(RunConfig(), {"train.device": "cpu", "model.name": "mlp", "model.width": 8})
    cfg.seeds = [0, 1, 2]
    cfg.sweep.grid = {"task.p": [5, 7], "optimizer.lr": [1e-3, 1e-2]}
    cfg.sweep.max_members = 4
    plan = make_plan(cfg)
    assert len(plan.members) == 12
    by_p = {}
    for c in plan.chunks:
        assert len(c.members) <= 4 and set(c.shared) == {"task.p"}
        assert all("task.p" not in o for o in c.overrides)
        by_p.setdefault(c.shared["task.p"], []).extend(c.members)
    assert sorted(by_p) == [5, 7] and all(len(v) == 6 for v in by_p.values())
    assert sorted(m for c in plan.chunks for m in c.members) == list(range(12))  # every member exactly once


def test_sweep_end_to_end(tmp_path, capsys):
    code, lines, err = sweep(tmp_path, capsys)
    assert code == 0, err
    run = Path(lines[-1])  # the last line printed is the run directory
    assert "[sweep] chunks 3/3" in err and "grokking" in err  # progress with phase counts
    members = rows(run / "members.csv")
    assert len(members) == 8 and [int(m["member"]) for m in members] == list(range(8))
    assert {m["phase"] for m in members} <= {"comprehension", "grokking", "memorization", "confusion"}
    grid = rows(run / "grid.csv")
    assert len(grid) == 4 and all(g["seeds"] == "2" for g in grid)
    png = list((run / "figures").glob("phase__*.png"))
    assert len(png) == 1 and png[0].stat().st_size > 0
    # the phase column follows the rule from the histories
    for m in members:
        s_tr, s_te = m["s_train"], m["s_test"]
        if s_tr and s_te:
            assert m["phase"] == ("grokking" if int(s_te) - int(s_tr) >= 20 else "comprehension")
        elif s_tr:
            assert m["phase"] == "memorization"
    # resuming a finished sweep reruns nothing and reports the same
    assert main(["sweep", "--resume", str(run)]) == 0
    assert rows(run / "members.csv") == members


def test_interrupted_sweep_resumes_to_the_same_result(tmp_path, capsys):
    code, lines, _ = sweep(tmp_path, capsys)
    full = rows(Path(lines[-1]) / "members.csv")
    # a sweep that finished only its first chunk (as after Ctrl-C / kill -9 between chunks)
    cfg = with_settings(RunConfig(), {})

    cfg = config_from_dict({**SWEEP, "out_dir": str(tmp_path / "part")})
    plan = make_plan(cfg)
    run = tmp_path / "part" / "tiny-partial"
    run.mkdir(parents=True)
    from trainers.rundir import write_config
    write_config(run, cfg)
    plan.save(run / "plan.json")
    run_chunk(str(run), config_to_dict(cfg), plan.chunks[0].__dict__)
    assert main(["sweep", "--resume", str(run)]) == 0
    assert "2 to run" in capsys.readouterr().err
    resumed = rows(run / "members.csv")
    assert resumed == full


def test_ray_backend_matches_in_process(tmp_path, capsys):
    ray = pytest.importorskip("ray")
    code, lines, _ = sweep(tmp_path, capsys)
    local = rows(Path(lines[-1]) / "members.csv")
    try:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        code, lines, err = sweep(tmp_path, capsys, extra=["--backend", "ray"])
    finally:
        ray.shutdown()
    assert code == 0, err
    assert "ray backend" in err
    assert "ETA <= " in err  # fits side by side: the one-at-a-time ETA is an upper bound
    assert rows(Path(lines[-1]) / "members.csv") == local


def test_phase_diagram_script_errors(tmp_path, capsys):
    from scripts.phase_diagram import main as draw

    code, lines, _ = sweep(tmp_path, capsys)
    run = lines[-1]
    assert draw([run, "--x", "optimizer.lr", "--y", "optimizer.weight_decay"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[-1].endswith(".png") and Path(out[-1]).exists()
    assert draw([run, "--x", "model.width"]) == 2
    assert "did not vary" in capsys.readouterr().err
    assert draw([str(tmp_path)]) == 2
    assert "not a sweep run directory" in capsys.readouterr().err
    assert draw([run, "--curves", "optimizer.lr=0.01,optimizer.weight_decay=1.0"]) == 0


def test_bad_sweep_input(tmp_path, capsys):
    bad = {**SWEEP, "sweep": {"grid": {"optimizer.lrr": [0.1]}}}
    code, _, err = sweep(tmp_path, capsys, cfg=bad)
    assert code == 2 and err.strip() == "toylab sweep: error: optimizer.lrr: no such setting; did you mean " \
                                        "'optimizer.lr'?"
    code, _, err = sweep(tmp_path, capsys, cfg={**SWEEP, "sweep": {"grid": {}}})
    assert code == 2 and "sweep.grid" in err
    code, _, err = sweep(tmp_path, capsys, cfg={**SWEEP, "sweep": {"grid": {"optimizer.lr": {"log": [1, "x", 3]}}}})
    assert code == 2 and "sweep.grid.optimizer.lr" in err and len(err.strip().splitlines()) == 1


def test_wandb_sweep_dashboard_offline(tmp_path, capsys, monkeypatch):
    pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_MODE", "offline")
    cfg = {**SWEEP, "seeds": [0], "wandb": {"mode": "offline", "project": "toylab-test"},
           "sweep": {**SWEEP["sweep"], "wandb_per_point": True, "max_members": None}}
    code, lines, err = sweep(tmp_path, capsys, cfg=cfg)
    assert code == 0, err
    runs = sorted((Path(lines[-1]) / "wandb").glob("offline-run-*"))
    assert len(runs) == 1 + 4  # the sweep's own run and one per grid point
    assert all(list(r.glob("*.wandb")) for r in runs)


def test_progress_lines_while_a_fit_runs(tmp_path, capsys, monkeypatch):
    """Without a terminal a sweep prints plain progress lines (steps over all fits, rate, ETA) while its fits run,
    on stderr only; stdout holds the run directory alone."""
    import trainers.progress as progress

    monkeypatch.setattr(progress.PlainProgress.__init__, "__defaults__", (0.0, "fit"))  # a line every step
    monkeypatch.setattr(progress.SweepProgress.__init__, "__defaults__", (False, 0.0))
    code, out, err = sweep(tmp_path, capsys, extra=["--train.progress", "rich"])
    assert code == 0 and len(out) == 1 and out[0].startswith(str(tmp_path))
    lines = [ln for ln in err.splitlines() if ln.startswith("[sweep] chunks ")]
    assert len(lines) > 10 and "steps/s" in lines[0] and "ETA" in lines[0]
    assert lines[0].startswith("[sweep] chunks 0/3 | steps ")  # while the first fit runs
    assert lines[-1].startswith("[sweep] chunks 3/3 | steps 180/180 (100%)")
    fit_lines = [ln for ln in err.splitlines() if ln.startswith("[fit] step ")]  # stderr is not a terminal here
    assert fit_lines and "steps/s" in fit_lines[0]
