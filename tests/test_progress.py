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
