"""Bad config files and values: one line naming the file or key and what is allowed, exit 2, no traceback."""
import pytest
import yaml

from trainers.cli import main as toylab

BASE = ["--task.p", "7", "--model.name", "mlp", "--model.width", "8", "--train.max_steps", "2", "--train.progress",
        "none", "--wandb.mode", "disabled", "--train.device", "cpu"]


def one_line(capsys, argv, *parts):
    assert toylab(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.splitlines() == [err] and "Traceback" not in err, err
    for p in parts:
        assert p in err, (p, err)
    return err


@pytest.mark.parametrize("content, message", [
    (b"", "is empty (expected a YAML mapping of settings)"),
    (b"# only a comment\n", "is empty"),
    (bytes(range(128, 256)), "is not a text file (expected a UTF-8 YAML mapping of settings)"),
    (b"task: {p: [1,\n", "is not valid YAML at line"),
    (b"- 1\n- 2\n", "holds a list, expected a YAML mapping"),
    (b"just a string", "holds a str, expected a YAML mapping"),
])
def test_bad_config_file_names_the_file(tmp_path, capsys, content, message):
    path = tmp_path / "c.yaml"
    path.write_bytes(content)
    one_line(capsys, ["fit", "--config", str(path), "--out_dir", str(tmp_path)], "--config", str(path), message)
    one_line(capsys, ["sweep", f"--config={path}", "--out_dir", str(tmp_path)], str(path), message)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.yaml"]  # nothing was run


def test_missing_config_file(tmp_path, capsys):
    one_line(capsys, ["fit", "--config", str(tmp_path / "nope.yaml")], "does not exist", "nope.yaml")


@pytest.mark.parametrize("args, message", [
    (["--task.train_fraction", "abc"], "task.train_fraction: expected a number or null (got 'abc')"),
    (["--optimizer.lr", "nan"], "optimizer.lr: must be a finite number (got nan)"),
    (["--optimizer.lr", "inf"], "optimizer.lr: must be a finite number (got inf)"),
    (["--optimizer.lr=-inf"], "optimizer.lr: must be a finite number (got -inf)"),
    (["--model.init_scale", "inf"], "model.init_scale: must be a finite number (got inf)"),
    (["--seeds", "[]"], "seeds: must list at least one seed"),
    (["--seeds", "x"], "seeds: expected a list of integers or null (got 'x')"),
    (["--task.label_noise", "0.5"], "task.label_noise: expected an integer (got '0.5')"),
    (["--optimizer.name", "lion"], "optimizer.name: expected one of adamw, adam, sgd (got 'lion')"),
])
def test_bad_values_name_the_key(tmp_path, capsys, args, message):
    one_line(capsys, ["fit", *BASE, "--out_dir", str(tmp_path), *args], message)
    assert not any(tmp_path.iterdir())


def test_nan_in_a_config_file_member_is_refused(tmp_path, capsys):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"members": [{"optimizer.lr": float("nan")}]}))
    one_line(capsys, ["fit", "--config", str(path), *BASE, "--out_dir", str(tmp_path / "o")], "optimizer.lr")


def test_fit_resume_of_a_sweep_directory_points_to_sweep(tmp_path, capsys):
    d = tmp_path / "sweep"
    d.mkdir()
    (d / "config.yaml").write_text(yaml.safe_dump({"name": "s"}))
    (d / "plan.json").write_text("{}")
    (d / "DONE").touch()  # before: "already complete", exit 0
    one_line(capsys, ["fit", "--resume", str(d)], "is a sweep run directory", f"toylab sweep --resume {d}")


def test_export_errors_are_one_line(tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump({"out_dir": str(tmp_path / "runs"), "seeds": [0, 1]}))
    assert toylab(["fit", "--config", str(cfg), *BASE]) == 0
    run = capsys.readouterr().out.strip().splitlines()[-1]
    one_line(capsys, ["export", run, "--member", "x"], "toylab export: error:", "--member", "'x'")
    one_line(capsys, ["export", run, "--member", "2"], "--member: must be in 0..1 (got 2)")
    one_line(capsys, ["export", run, "--member", "0", "--out", "/proc/x.pt"], "/proc/x.pt")
    one_line(capsys, ["export", str(tmp_path), "--member", "0"], "is not a toylab run directory")
