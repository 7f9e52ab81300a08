"""Liu et al.'s phase rule on hand-made histories."""
import numpy as np

from toymodels.metrics.phases import classify, first_crossing, majority, phases_from_history


def test_first_crossing_and_budget():
    steps = np.array([0, 10, 20, 30, 40])
    v = np.array([[0.1, 0.5, 0.95, 0.99, 1.0], [0.0, 0.0, 0.0, 0.0, 0.0], [0.9, 0.9, 0.9, 0.9, 0.9]])
    assert first_crossing(steps, v, 0.9).tolist() == [20, -1, 0]
    assert first_crossing(steps, v, 0.99).tolist() == [30, -1, -1]
    assert first_crossing(steps, v, 0.99, budget=25).tolist() == [-1, -1, -1]


def test_four_phases():
    s_train = np.array([100, 100, 100, -1, 100])
    s_test = np.array([900, 1100, -1, -1, 1099])
    assert classify(s_train, s_test, gap=1000).tolist() == [
        "comprehension", "grokking", "memorization", "confusion", "comprehension"]
    assert classify(s_train, s_test, gap=2000)[1] == "comprehension"  # G is a parameter


def test_phases_from_history_and_majority():
    steps = np.arange(0, 5001, 100)
    train = np.clip(steps / 200, 0, 1)[None].repeat(3, 0)
    test = np.stack([np.clip(steps / 300, 0, 1), (steps >= 3000).astype(float), np.zeros_like(steps, float)])
    phase, s_train, s_test = phases_from_history(steps, train, test, 0.9, 1000)
    assert phase.tolist() == ["comprehension", "grokking", "memorization"]
    assert s_train.tolist() == [200, 200, 200] and s_test.tolist() == [300, 3000, -1]
    assert majority(["grokking", "grokking", "memorization"]) == ("grokking", 2 / 3)
    assert majority(["grokking", "comprehension"])[0] == "comprehension"  # ties: the earlier phase


def test_spearman_against_scipy():
    scipy_stats = __import__("pytest").importorskip("scipy.stats")
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=30), rng.normal(size=30)
    y[:10] = x[:10]  # some structure
    x[5] = x[6]  # a tie
    from toymodels.metrics.phases import spearman
    assert abs(spearman(x, y) - scipy_stats.spearmanr(x, y).statistic) < 1e-12
    assert abs(spearman([1, 2], [5, 3]) + 1) < 1e-12
    assert np.isnan(spearman([1, 2, 3], [1, 1, 1]))  # a constant variable has no rank correlation
