"""Scaling exponents from ensemble runs through ``toylab fit`` (configs/scaling/{time,model}_a{2,4}.yaml), fitted
by the scaling figures' code (floor fitted, windows stated, bootstrap over seeds) within 0.05 of the theory, for
b = 1.5 in both regimes: a = 2 (a - 1 <= b) and a = 4 (a - 1 > b). Time: L ~ t^-(a-1)/b from GD of the linear
model at P >> t-resolved modes; model: L ~ N^-min(a-1, b) from the members' P, t -> infinity losses."""
import pytest

from tests.scaling.helpers import ROOT
from trainers.cli import main
from trainers.figures.scaling import draw_scaling

CASES = [("time_a2", "time", (10, 100), 2 / 3), ("time_a4", "time", (30, 1000), 2.0),
         ("model_a2", "N", None, 1.0), ("model_a4", "N", None, 1.5)]


@pytest.mark.slow
@pytest.mark.parametrize("name, which, window, predicted", CASES, ids=[c[0] for c in CASES])
def test_fitted_exponent_within_0_05(tmp_path, name, which, window, predicted):
    assert main(["fit", "--config", str(ROOT / f"configs/scaling/{name}.yaml"), "--out_dir", str(tmp_path)]) == 0
    run = next(tmp_path.iterdir())
    _, fits, warnings = draw_scaling(run, tmp_path / "fig", time_window=window, frontier=False, n_boot=100)
    fit = next(f for f in fits if f.name.startswith(which))
    assert fit.predicted == pytest.approx(predicted)
    assert abs(fit.fit["exponent"] - predicted) < 0.05, (fit.fit, fit.window)
    assert not warnings  # M >= 10 N_max
