"""The plain progress line of a fit: its step rate counts from the end of the first step (which pays a compiled
step's compilation), and a compiled fit says first that its first step compiles."""
from types import SimpleNamespace

from trainers import progress


def test_rate_counts_from_the_first_steps_end(capsys, monkeypatch):
    clock = iter([0.0, 40.0, 41.0, 42.0])  # train start; first step ends after a 40 s compile; then 1 s per step
    monkeypatch.setattr(progress, "time", SimpleNamespace(time=lambda: next(clock)))
    bar = progress.PlainProgress(every_s=0.0)
    trainer = SimpleNamespace(global_step=0, max_steps=100, progress_bar_metrics={})
    bar.on_train_start(trainer, None)
    lines = []
    for step in (1, 2, 3):
        trainer.global_step = step
        bar.on_train_batch_end(trainer, None, None, None, step - 1)
        lines.append(capsys.readouterr().err.strip())
    assert lines[0] == ""  # nothing at the first step: no rate yet
    assert lines[1].startswith("[fit] step 2/100 (2%) | 1 steps/s | ETA 1m38s")
    assert lines[2].startswith("[fit] step 3/100 (3%) | 1 steps/s | ETA 1m37s")


def test_a_compiled_fit_says_its_first_step_compiles(capsys, monkeypatch):
    monkeypatch.setattr("sys.stderr.isatty", lambda: False)
    assert len(progress.fit_progress("rich", compiling=True)) == 1
    assert "compiles the training step" in capsys.readouterr().err
    progress.fit_progress("rich")
    assert capsys.readouterr().err == ""
    progress.fit_progress("none", compiling=True)  # no progress asked for: silent
    assert capsys.readouterr().err == ""


def test_the_summary_is_logged_only_for_a_reader(tmp_path, monkeypatch):
    """Evaluations log their member means through Lightning when a progress display (or a logger) reads them, and
    skip Lightning's logging otherwise; the run's histories are the same either way."""
    import lightning as L
    import torch

    from trainers.fitting import run_fit
    from trainers.members import expand
    from trainers.reader import read_history
    from trainers.rundir import new_run_dir, write_config
    from trainers.typed import config_from_dict

    calls = []
    log_dict = L.LightningModule.log_dict
    monkeypatch.setattr(L.LightningModule, "log_dict", lambda self, *a, **k: calls.append(1) or log_dict(self, *a, **k))
    monkeypatch.setattr("sys.stderr.isatty", lambda: False)  # "tqdm" without a terminal: the plain line
    histories = []
    for mode in ("none", "tqdm"):
        cfg = config_from_dict({"name": mode, "seeds": [0, 1], "out_dir": str(tmp_path / mode),
                                "task": {"operation": "a+b", "p": 7, "train_fraction": 0.5},
                                "model": {"name": "mlp", "width": 8},
                                "train": {"max_steps": 20, "eval_every": 5, "progress": mode, "device": "cpu"},
                                "wandb": {"mode": "disabled"}})
        run = new_run_dir(cfg.out_dir, cfg.name)
        write_config(run, cfg)
        calls.clear()
        result = run_fit(cfg, expand(cfg), run)
        histories.append(read_history(run, "test_acc"))
        assert len(calls) == (0 if mode == "none" else 4)  # evaluations at 5, 10, 15, 20
        assert bool(result.module.trainer.progress_bar_metrics) == (mode != "none")
    (steps_a, values_a), (steps_b, values_b) = histories
    assert list(steps_a) == list(steps_b) and torch.equal(torch.as_tensor(values_a), torch.as_tensor(values_b))
