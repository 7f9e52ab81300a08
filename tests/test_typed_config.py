"""Per-name config classes: ``model.name`` / ``task.name`` select a class holding only that model's or task's
settings (with the defaults of the former flat classes); a setting the chosen name does not have is one line naming
the key and the name, from a YAML file, the command line, members, a sweep grid and the Python API; an override of
the name switches the class; stored configs (legacy run directories included) are read leniently."""
import dataclasses
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import trainers as tl
from toymodels.errors import ConfigError
from trainers.cli import main, parse_run_config
from trainers.config import MODELS, TASKS, MLPConfig, PowerLawTaskConfig, RunConfig, TransformerConfig, settings_of
from trainers.members import SETTINGS, coerce, expand, with_settings
from trainers.reader import read_run_config
from trainers.sweeps.plan import make_plan
from trainers.typed import config_from_dict, config_to_dict

ROOT = Path(__file__).resolve().parents[1]
LEGACY = ROOT / "tests" / "fixtures" / "legacy"

# The defaults of the flat ModelConfig / TaskConfig that the per-name classes replaced (trainers/config.py before)
FORMER_MODEL = {"init_scale": 1.0, "act": None, "d_model": 128, "n_heads": 4, "d_head": 32, "d_mlp": 512,
                "logit_for_equals": True, "width": 200, "depth": 3, "bias": True, "d_embed": 1,
                "projection_alpha": None, "ridge": 0.0, "per_mode_lr": False, "parameterization": "mup", "gamma0": 1.0, "center": True,
                "init": "balanced", "init_align": True}
FORMER_TASK = {"operation": "a+b", "p": 113, "train_fraction": 0.3, "train_size": None, "label_noise": 0,
               "data_path": None, "dim": 1000, "alpha": 1.5, "r": 0.4, "noise_std": 0.0, "test_size": None,
               "teacher_width": 4, "teacher_act": None, "out_dim": 1, "singular_values": [3.0, 2.0, 1.0],
               "whiten": False}
MLP_SETTINGS = "width, depth, bias, act, init_scale"


@pytest.mark.parametrize("section, classes, former", [("model", MODELS, FORMER_MODEL), ("task", TASKS, FORMER_TASK)])
def test_each_name_selects_its_class_with_the_former_defaults(section, classes, former):
    assert set(classes) == {"transformer", "mlp", "liu_toy", "linear", "random_features", "two_layer",
                            "deep_linear"} if section == "model" else \
        {"modular", "digits", "mnist", "powerlaw", "teacher", "linear_teacher"}
    union = set()
    for name, cls in classes.items():
        got = getattr(config_from_dict({section: {"name": name}}), section)
        assert type(got) is cls and got.name == name
        assert {k: getattr(got, k) for k in settings_of(cls)} == {k: former[k] for k in settings_of(cls)}
        union |= set(settings_of(cls))
    assert union == set(former)  # every former setting lives on in some class, and nothing else was added
    assert {f"{section}.{k}" for k in union} <= set(SETTINGS)  # settable by members, grids and resume


def test_classes_hold_only_what_their_model_uses():
    assert settings_of(MLPConfig) == ["width", "depth", "bias", "act", "init_scale"]
    assert "width" not in settings_of(TransformerConfig) and "d_model" in settings_of(TransformerConfig)
    assert set(settings_of(MODELS["linear"])) == {"init_scale", "ridge"}
    assert "whiten" in settings_of(TASKS["linear_teacher"]) and "whiten" not in settings_of(PowerLawTaskConfig)


def _one_line(capsys, code: int) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    return err[0]


def _yaml(tmp_path, data: dict) -> str:
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


MLP = {"model": {"name": "mlp", "width": 8, "depth": 2}, "task": {"p": 5}, "train": {"max_steps": 2, "device": "cpu"},
       "wandb": {"mode": "disabled"}}


def test_a_setting_of_another_model_is_one_line_from_yaml_and_cli(tmp_path, capsys):
    bad = {**MLP, "model": {**MLP["model"], "d_model": 64}, "out_dir": str(tmp_path / "runs")}
    line = _one_line(capsys, main(["fit", "--config", _yaml(tmp_path, bad)]))
    assert line == f"toylab fit: error: model.d_model: does not apply to model mlp (its settings: {MLP_SETTINGS})"
    config = _yaml(tmp_path, {**MLP, "out_dir": str(tmp_path / "runs")})
    line = _one_line(capsys, main(["fit", "--config", config, "--model.d_model", "64"]))
    assert line == f"toylab fit: error: model.d_model: does not apply to model mlp (its settings: {MLP_SETTINGS})"
    line = _one_line(capsys, main(["fit", "--config", config, "--task.alpha", "2"]))
    assert line.startswith("toylab fit: error: task.alpha: does not apply to task modular (its settings: ")
    assert not (tmp_path / "runs").exists()  # nothing ran


def test_a_setting_of_another_model_is_one_line_from_members_and_grid(tmp_path, capsys):
    transformer = {**MLP, "model": {"name": "transformer", "d_model": 8}, "out_dir": str(tmp_path / "runs")}
    line = _one_line(capsys, main(["fit", "--config", _yaml(tmp_path, transformer),
                                   "--members", "[{model.init_scale: 2}, {model.width: 4}]"]))
    assert line.startswith("toylab fit: error: model.width: does not apply to model transformer (its settings: ")
    grid = _yaml(tmp_path, {**MLP, "out_dir": str(tmp_path / "runs"), "sweep": {"grid": {"model.d_embed": [1, 2]}}})
    line = _one_line(capsys, main(["sweep", "--config", grid]))
    assert line == f"toylab sweep: error: model.d_embed: does not apply to model mlp (its settings: {MLP_SETTINGS})"
    assert not (tmp_path / "runs").exists()


def test_a_setting_of_another_model_raises_from_the_python_api(tmp_path):
    with pytest.raises(ConfigError) as err:
        tl.fit({**MLP, "out_dir": str(tmp_path)}, {"model.n_heads": 2})
    assert err.value.key == "model.n_heads" and "does not apply to model mlp" in str(err.value)
    with pytest.raises(ConfigError) as err:
        with_settings(RunConfig(), {"model.name": "mlp", "model.d_model": 8})
    assert err.value.key == "model.d_model"
    assert not any(tmp_path.iterdir())


def test_the_command_line_switches_the_class_by_name():
    cfg = parse_run_config(["--model.name", "mlp", "--model.width", "7", "--task.name", "digits"])
    assert cfg.model == MLPConfig(width=7) and type(cfg.task) is TASKS["digits"]
    assert type(parse_run_config([]).model) is TransformerConfig  # the default name


def test_an_override_of_the_name_switches_the_class():
    base = with_settings(RunConfig(), {"model.init_scale": 2.0, "model.act": "gelu", "model.d_model": 64})
    mlp = with_settings(base, {"model.name": "mlp", "model.width": 8})
    # settings changed from their defaults that the new class has carry over; the rest are the new class's defaults
    assert mlp.model == MLPConfig(width=8, init_scale=2.0, act="gelu")
    back = with_settings(mlp, {"model.name": "transformer"})
    assert back.model == TransformerConfig(init_scale=2.0, act="gelu")  # d_model: its default again
    pl = with_settings(RunConfig(), {"task.name": "powerlaw", "task.train_size": "16", "task.alpha": 2})
    assert pl.task == PowerLawTaskConfig(train_size=16, alpha=2.0)


def test_a_grid_over_the_name_plans_each_class(tmp_path):
    cfg = with_settings(RunConfig(), {"task.p": 5, "model.name": "mlp", "model.width": 8, "model.depth": 2,
                                      "train.device": "cpu", "train.max_steps": 2})
    cfg.sweep.grid = {"model.name": ["mlp", "liu_toy"], "model.depth": [2, 3]}
    plan = make_plan(cfg)
    assert sorted((m["model.name"], m["model.depth"]) for m in plan.members) == \
        [("liu_toy", 2), ("liu_toy", 3), ("mlp", 2), ("mlp", 3)]
    cfg.sweep.grid = {"model.name": ["mlp", "transformer"], "model.depth": [2]}  # depth: no transformer setting
    with pytest.raises(ConfigError) as err:
        make_plan(cfg)
    assert err.value.key == "model.depth" and "does not apply to model transformer" in str(err.value)


def test_member_values_are_typed_by_the_chosen_class():
    names = {"model": "two_layer", "task": "powerlaw"}
    assert coerce("model.gamma0", "0.5", names) == 0.5 and coerce("model.width", "8", names) == 8
    with pytest.raises(ConfigError, match="model.gamma0: does not apply to model mlp"):
        coerce("model.gamma0", 0.5, {"model": "mlp", "task": "modular"})
    cfg = config_from_dict({"model": {"name": "two_layer"}, "task": {"name": "powerlaw"},
                            "members": [{"model.gamma0": "0.25", "task.train_size": "12"}]})
    (member,) = expand(cfg).overrides
    assert member == {"model.gamma0": 0.25, "task.train_size": 12}
    with pytest.raises(ConfigError, match="model.width: expected int"):
        coerce("model.width", "wide", names)


def test_user_input_is_strict_and_stored_configs_lenient():
    data = {"model": {"name": "mlp", "width": 8, "d_model": 16}}
    with pytest.raises(ConfigError, match="model.d_model: does not apply to model mlp"):
        config_from_dict(data)
    assert config_from_dict(data, strict=False).model == MLPConfig(width=8)
    with pytest.raises(ConfigError) as err:  # a type error names the key, not the union's tag
        config_from_dict({"model": {"name": "mlp", "width": "wide"}})
    assert err.value.key == "model.width"
    with pytest.raises(ConfigError, match="model.name: expected one of transformer, mlp"):
        config_from_dict({"model": {"name": "resnet"}})


@pytest.mark.parametrize("run", ["fit", "rf", "sweep"])
def test_legacy_run_directories_read_into_the_per_name_classes(run, tmp_path):
    flat = yaml.safe_load((LEGACY / run / "config.yaml").read_text())
    cfg = read_run_config(LEGACY / run)
    assert type(cfg.model) is MODELS[flat["model"]["name"]] and type(cfg.task) is TASKS[flat["task"]["name"]]
    for section in ("model", "task"):
        got = config_to_dict(cfg)[section]
        assert set(got) == {"name", *settings_of(type(getattr(cfg, section)))}  # only the chosen class's settings
        assert all(got[k] == flat[section][k] for k in got)  # with the stored values
    # a copied legacy config.yaml given as --config (every former setting present) parses as it was written
    copy = tmp_path / "config.yaml"
    shutil.copy(LEGACY / run / "config.yaml", copy)
    assert parse_run_config(["--config", str(copy)]) == cfg


@pytest.mark.parametrize("model", list(MODELS))
def test_round_trip_through_plain_data(model):
    task = {"linear": "powerlaw", "random_features": "powerlaw", "deep_linear": "linear_teacher"}.get(model, "modular")
    cfg = with_settings(RunConfig(), {"model.name": model, "task.name": task, "model.init_scale": 0.5})
    data = config_to_dict(cfg)
    assert set(data["model"]) == {"name", *settings_of(MODELS[model])}
    assert config_from_dict(data) == cfg and dataclasses.asdict(config_from_dict(data)) == data


def test_help_lists_every_model_and_task_setting():
    out = subprocess.run([sys.executable, "-m", "trainers.cli", "fit", "--help"], capture_output=True, text=True,
                         cwd=ROOT, timeout=60).stdout
    for key in SETTINGS:
        if key.startswith(("model.", "task.")):
            assert f"--{key} " in out or f"--{key}\n" in out, key
    assert "applies to mlp, liu_toy, deep_linear, random_features, two_layer" in " ".join(out.split())  # width's help
