"""``toylab theory`` at its edges: the ridgeless peak diverges (null, not a rounding artefact), lambda = inf and
t = inf name their limit in a one-line error, negative values get "must be >= 0" however they are written, and
GD past the theory's range says why."""
import json

import pytest
import torch

from toymodels.tasks.powerlaw import PowerLawTask
from toymodels.theory.random_features import rf_theory
from toymodels.theory.ridge import ridge_theory
from trainers.theory_cli import main


def _run(capsys, argv):
    status = main(argv)
    out = capsys.readouterr()
    return status, out.out, out.err


@pytest.mark.parametrize("n", [50, 100, 300, 500])
def test_rf_ridgeless_peak_diverges_like_ridge(capsys, n):
    """At N = P <= M, lambda = 0, sigma > 0 the rf test error is infinite (before: finite 9e12 to 5e13 at n = 50,
    300, 500 from 1 - g1 ~ 1e-16), as ridge's is at P = M."""
    status, out, _ = _run(capsys, ["rf", "--N", str(n), "--P", str(n), "--lam", "0", "--sigma", "0.1", "--json"])
    row = json.loads(out)["points"][0]
    assert status == 0 and row["E_g"] is None and row["test_loss"] is None and row["var_eps"] is None
    task = PowerLawTask(1000, 1.5, 0.4)
    assert torch.isinf(rf_theory(task.eta, task.wbar, n, n, 0.0, 0.1).E_g)
    assert torch.isinf(ridge_theory(task.eta, task.wbar, 1000, 0.0, 0.1).E_g)
    # one step off the peak, or any lambda > 0, stays finite: the snap is only at the peak
    for N, P, lam in ((n, n + 1, 0.0), (n + 1, n, 0.0), (n, n, 1e-8)):
        assert torch.isfinite(rf_theory(task.eta, task.wbar, N, P, lam, 0.1).E_g), (N, P, lam)


def test_lambda_infinity_names_its_limit(capsys):
    task = PowerLawTask(1000, 1.5, 0.4)
    power = float((task.eta * task.wbar ** 2).sum())
    for cmd in (["ridge", "--P", "100"], ["rf", "--N", "50", "--P", "100"]):
        status, out, err = _run(capsys, cmd + ["--lam", "0.1,inf"])
        assert status == 2 and out == ""
        assert err.strip().splitlines() == [err.strip()] and "theory.lambda: must be finite" in err
        assert f"{power:.6g}" in err
    # the limit is the one the finite theory approaches
    assert ridge_theory(task.eta, task.wbar, 100, 1e8).E_g.item() == pytest.approx(power, rel=1e-6)


@pytest.mark.parametrize("argv, message", [
    (["rf", "--N", "50", "--P", "100", "--lam", "-1e-3"], "theory.lambda: must be >= 0 (got -0.001)"),
    (["rf", "--N", "50", "--P", "100", "--lam=-1e-3"], "theory.lambda: must be >= 0 (got -0.001)"),
    (["ridge", "--P", "-5", "--lam", "0.1"], "theory.P: must be > 0 (got -5)"),
    (["ridge", "--P", "100", "--lam", "0.1", "--sigma", "-.5"], "theory.sigma: must be >= 0"),
    (["gd", "--P", "100", "--lr", "0.1", "--t", "inf"], "theory.t: must be a finite number"),
    (["gd", "--P", "100", "--lr", "0.1", "--t", "-inf"], "theory.t: must be a finite number"),
    (["gd", "--P", "100", "--lr", "nan", "--t", "1"], "theory.lr: must be a finite number"),
    (["ridge", "--P", "1e400", "--lam", "1"], "theory.P: must be a finite number"),
    (["gd", "--P", "100", "--lr", "0.9", "--t", "10"], "GD itself is stable up to 2"),
])
def test_bad_values_get_a_must_be_line(capsys, argv, message):
    status, out, err = _run(capsys, argv)
    assert status == 2 and out == ""
    assert err.strip().splitlines() == [err.strip()] and message in err, err


def test_library_refuses_an_infinite_time():
    from toymodels.errors import ConfigError
    from toymodels.theory.gd_curves import gd_curve

    task = PowerLawTask(100, 1.5, 0.4)
    with pytest.raises(ConfigError, match="finite time"):
        gd_curve(task.eta, task.wbar, 50, torch.tensor([1.0, float("inf")]), 0.1)
