"""``toylab theory ridge|rf|gd``: JSON output parses and matches the library; bad input is one line + status 2."""
import itertools
import json

import pytest
import torch

from toymodels.tasks.powerlaw import PowerLawTask
from toymodels.theory.gaussian_equivalence import ge_theory
from toymodels.theory.gd_curves import gd_curve, gd_curve_infinite
from toymodels.theory.random_features import rf_theory
from toymodels.theory.ridge import ridge_theory
from trainers.theory_cli import main


def _run(capsys, argv):
    status = main(argv)
    out = capsys.readouterr()
    return status, out.out, out.err


def test_ridge_grid_json(capsys):
    status, out, err = _run(capsys, ["ridge", "--M", "300", "--P", "100,400", "--lam", "0,1e-3,1e-2",
                                     "--sigma", "0.5", "--json"])
    assert status == 0 and err == ""
    res = json.loads(out)
    task = PowerLawTask(300, 1.5, 0.4)
    assert res["command"] == "ridge" and len(res["points"]) == 6
    for row, (P, lam) in zip(res["points"], itertools.product([100.0, 400.0], [0.0, 1e-3, 1e-2])):
        th = ridge_theory(task.eta, task.wbar, P, lam, 0.5)
        assert (row["P"], row["lam"]) == (P, lam)
        for key in ("kappa", "E_g", "E_tr", "bias2", "var_X", "var_eps", "test_loss"):
            assert row[key] == pytest.approx(getattr(th, key).item(), rel=1e-12)


def test_rf_and_relu_json(capsys):
    status, out, _ = _run(capsys, ["rf", "--M", "200", "--a", "2", "--b", "1.5", "--N", "50,150", "--P", "100",
                                   "--lam", "1e-4", "--json"])
    assert status == 0
    res = json.loads(out)
    task = PowerLawTask.from_exponents(200, 2.0, 1.5)
    for row in res["points"]:
        th = rf_theory(task.eta, task.wbar, row["N"], 100, 1e-4)
        assert row["E_g"] == pytest.approx(th.E_g.item(), rel=1e-12)
        assert row["k2"] == pytest.approx(th.k2.item(), rel=1e-12)
    status, out, _ = _run(capsys, ["rf", "--M", "200", "--alpha", "0.5", "--N", "80", "--P", "100", "--lam",
                                   "1e-3", "--activation", "relu", "--json"])
    res = json.loads(out)
    th, info = ge_theory(PowerLawTask(200, 0.5, 0.4).eta, PowerLawTask(200, 0.5, 0.4).wbar, 80, 100, 1e-3, 0.0)
    assert res["points"][0]["E_g"] == pytest.approx(th.E_g.item(), rel=1e-12)
    assert res["task"]["mu1"] == pytest.approx(info["mu1"].item())


def test_gd_json_and_table(capsys):
    argv = ["gd", "--M", "128", "--P", "100", "--N", "64", "--lr", "0.5", "--t", "0,10,100", "--sigma", "0.1"]
    status, out, _ = _run(capsys, argv + ["--json"])
    assert status == 0
    row = json.loads(out)["points"][0]
    task = PowerLawTask(128, 1.5, 0.4)
    t = torch.tensor([0.0, 10.0, 100.0], dtype=torch.float64)
    th = gd_curve(task.eta, task.wbar, 100, t, 0.5, 0.1, N=64)
    assert row["t"] == [0.0, 10.0, 100.0]
    assert row["E_g"] == pytest.approx(th["E_g"].tolist(), rel=1e-12)
    inf = gd_curve_infinite(task.eta, task.wbar, t, 0.5 * 64 / 128)
    assert row["E_g_infinite"] == pytest.approx(inf.tolist(), rel=1e-12)
    status, out, _ = _run(capsys, argv)
    assert status == 0 and "E_g" in out and len(out.splitlines()) == 2 + 1 + 3


@pytest.mark.parametrize("argv, key", [
    (["ridge", "--P", "-3", "--lam", "1e-3"], "theory.P"),
    (["ridge", "--P", "abc", "--lam", "1e-3"], "theory.P"),
    (["ridge", "--P", "100", "--lam", "-1"], "theory.lambda"),
    (["ridge", "--lam", "1e-3"], "theory.args"),
    (["rf", "--N", "10", "--P", "10", "--lam", "0", "--activation", "softsign"], "theory.activation"),
    (["rf", "--N", "10", "--P", "10", "--lam", "0", "--a", "1", "--b", "1.5"], "task.a"),
    (["gd", "--P", "100", "--lr", "5", "--t", "1"], "theory.lr"),
    (["gd", "--P", "100", "--lr", "0.1", "--t", "1.5"], "theory.t"),
    (["bogus"], "theory.args"),
])
def test_bad_input_is_one_line(capsys, argv, key):
    status, out, err = _run(capsys, argv)
    assert status == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"toylab theory: error: {key}: ")
