"""The notebook API (``import trainers as tl``): fit and sweep from Python, load run directories as DataFrames and
Figures, and one exception type for bad input."""
import matplotlib
import numpy as np
import pandas as pd
import pytest
import yaml

import trainers as tl
from toymodels.errors import ConfigError

FIT = {
    "name": "api", "seeds": [0, 1],
    "task": {"operation": "a+b", "p": 7, "train_fraction": 0.6},
    "model": {"name": "mlp", "width": 16, "depth": 2},
    "optimizer": {"lr": 0.01, "betas": [0.9, 0.98]},
    "train": {"max_steps": 40, "eval_every": 10, "progress": "none", "device": "cpu", "threads": 1},
    "probes": {"spectra": True, "points": 4},
    "wandb": {"mode": "disabled"},
}


def test_fit_from_a_dict_and_load_as_dataframes(tmp_path):
    run = tl.fit(FIT, {"out_dir": str(tmp_path), "members": [{}, {"optimizer.weight_decay": 1.0}]})
    assert not run.is_sweep and run.config.task.p == 7
    m = run.members
    assert list(m["member"]) == [0, 1, 2, 3]
    assert m["optimizer.weight_decay"].tolist() == [0.0, 0.0, 1.0, 1.0]
    assert m["diverged"].dtype == bool and m["final_test_acc"].dtype == float
    h = run.history("test_acc")
    assert list(h.index) == [0, 10, 20, 30, 40] and list(h.columns) == [0, 1, 2, 3]
    assert np.allclose(h.loc[40].to_numpy(), m["final_test_acc"].to_numpy())
    s = run.spectra()
    assert {"member", "step", "name", "alpha", "detX_delta", "log_norm"} <= set(s.columns)
    assert sorted(s["member"].unique()) == [0, 1, 2, 3] and s["step"].max() == 40
    assert isinstance(run.curves(), matplotlib.figure.Figure)
    again = tl.load(run.dir)
    pd.testing.assert_frame_equal(again.history("train_loss"), run.history("train_loss"))


def test_sweep_grid_and_phase_diagram(tmp_path):
    cfg = {**FIT, "probes": {}, "seeds": [0], "sweep": {"grid": {"optimizer.weight_decay": [0.0, 1.0],
                                                                  "task.train_fraction": [0.5, 0.7]},
                                                         "max_members": 2, "phase": {"gap": 10}}}
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(cfg))
    run = tl.sweep(str(path), {"out_dir": str(tmp_path)})
    assert run.is_sweep and len(run.grid) == 4 and set(run.grid["phase"]) <= {
        "comprehension", "grokking", "memorization", "confusion"}
    assert len(run.members) == 4 and set(run.members["chunk"]) == {0, 1}
    h = run.history("test_acc")  # merged over both chunks
    assert h.shape == (5, 4) and not h.isna().any().any()
    assert isinstance(run.phase_diagram(), matplotlib.figure.Figure)
    assert isinstance(run.curves(cells=["optimizer.weight_decay=1.0"]), matplotlib.figure.Figure)


@pytest.mark.parametrize("config, overrides, key", [
    ("missing.yaml", None, "config"),
    (FIT, {"task.p": 1}, "task.p"),
    (FIT, {"optimizer.wieght_decay": 1.0}, "optimizer.wieght_decay"),
])
def test_bad_input_raises_config_error(tmp_path, config, overrides, key):
    with pytest.raises(ConfigError) as err:
        tl.fit(config, {**(overrides or {}), "out_dir": str(tmp_path)})
    assert key in str(err.value)
    assert not list(tmp_path.iterdir())  # nothing written


def test_load_refuses_what_is_not_a_run(tmp_path):
    with pytest.raises(ConfigError, match="not a toylab run directory"):
        tl.load(tmp_path)
