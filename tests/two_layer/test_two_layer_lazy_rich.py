"""Lazy versus rich through the real training step: small gamma0 keeps the weights and the tangent kernel near
their initial values (movement proportional to gamma0), large gamma0 moves them and raises the kernels' alignment
with the target; the phase rule of a lazy-rich sweep."""
import numpy as np
import pytest

from tests.scaling.helpers import config, engine_of
from toymodels.metrics.lazy_rich import classify_lazy_rich, lazy_rich_measures, majority_phase

GAMMAS = [0.01, 0.03, 10.0]


@pytest.fixture(scope="module")
def trained():
    """A ReLU teacher (K = 2, D = 8) learnt by muP students of width 64 at three gamma0, 300 GD steps."""
    cfg = config(task={"name": "teacher", "dim": 8, "teacher_width": 2, "train_size": 64, "test_size": 200},
                 model={"name": "two_layer", "width": 64, "act": "relu", "parameterization": "mup"},
                 optimizer={"lr": 0.5}, members=[{"seed": 0, "model.gamma0": g} for g in GAMMAS])
    eng = engine_of(cfg)
    x, y = eng.probe_batch()
    before = lazy_rich_measures(eng.model, x, y)
    loss0 = eng.evaluate()["test_loss"]
    for step in range(300):
        eng.train_step(step)
    return before, lazy_rich_measures(eng.model, x, y), loss0, eng.evaluate()["test_loss"], eng


def test_measures_start_at_zero_change(trained):
    before = trained[0]
    for k in ("weight_change_W", "weight_change_a", "ntk_change", "feature_kernel_change"):
        assert np.allclose(before[k].numpy(), 0.0)


def test_small_gamma0_is_lazy(trained):
    before, after, loss0, loss, eng = trained
    assert not eng.diverged.any()
    assert after["weight_change_W"][0] < 0.01 and after["ntk_change"][0] < 0.02
    assert abs(after["ntk_alignment"][0] - before["ntk_alignment"][0]) < 0.01
    # lazy: the movement is linear in gamma0 (same seed, 3x gamma0 -> 3x movement)
    assert (after["weight_change_W"][1] / after["weight_change_W"][0]).item() == pytest.approx(3.0, rel=0.05)
    assert loss[0] < 0.7 * loss0[0]  # the lazy member still learns (in its kernel regime)


def test_large_gamma0_is_rich(trained):
    before, after, loss0, loss, _ = trained
    assert after["weight_change_W"][2] > 0.3 and after["ntk_change"][2] > 1.0
    assert after["ntk_alignment"][2] - before["ntk_alignment"][2] > 0.05
    assert after["feature_alignment"][2] > before["feature_alignment"][2] + 0.05
    assert loss[2] < 0.2 * loss0[2]  # it learns (0.032 from 0.26 at step 300)


def test_phase_rule():
    move = np.array([0.01, 0.5, 0.5, np.nan, 0.2])
    gain = np.array([0.0, 0.2, 0.01, 0.0, 0.3])
    div = np.array([False, False, False, False, True])
    assert classify_lazy_rich(move, div, 0.1).tolist() == ["lazy", "rich", "rich", "diverged", "diverged"]
    assert classify_lazy_rich(move, div, 0.1, gain, 0.05).tolist() == ["lazy", "rich", "lazy", "diverged",
                                                                       "diverged"]
    assert majority_phase(["lazy", "rich", "rich"]) == ("rich", pytest.approx(2 / 3))
    assert majority_phase(["lazy", "rich"])[0] == "rich"  # ties: the earlier phase in LAZY_RICH_PHASES
