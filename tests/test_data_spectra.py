"""Covariance spectra of datasets: eigenvalues, bulk exponent, level-spacing ratio, settling (Levi & Oz)."""
import math

import numpy as np
import pytest

from toymodels.metrics.data_spectra import (GOE_R, POISSON_R, bulk_window, covariance_eigenvalues,
                                            mean_spacing_ratio, powerlaw_exponent, rank, relu_random_features,
                                            sample_curve, settling_count, spacing_ratios)
from toymodels.tasks.powerlaw import PowerLawTask, sample_inputs


def test_eigenvalues_match_numpy_covariance():
    X = np.random.default_rng(0).standard_normal((50, 8)) @ np.diag(np.arange(1, 9.0))
    ref = np.sort(np.linalg.eigvalsh(np.cov(X, rowvar=False, bias=True)))[::-1]
    assert np.allclose(covariance_eigenvalues(X), ref)
    assert covariance_eigenvalues(X[:5]).shape == (5,) and rank(covariance_eigenvalues(X[:5])) == 4  # n - 1


def test_wishart_levels_are_goe_like():
    g = np.random.default_rng(1)
    r = [mean_spacing_ratio(covariance_eigenvalues(g.standard_normal((400, 200)))) for _ in range(4)]
    assert abs(np.mean(r) - GOE_R) < 0.02, np.mean(r)


def test_independent_levels_are_poisson():
    levels = np.random.default_rng(2).uniform(size=20000)
    assert abs(spacing_ratios(levels).mean() - POISSON_R) < 0.01


def test_ratio_is_scale_free_and_known_on_a_ladder():
    assert np.allclose(spacing_ratios([0.0, 1.0, 3.0, 4.0]), [0.5, 0.5])
    lam = np.random.default_rng(3).uniform(size=50)
    assert math.isclose(mean_spacing_ratio(np.sort(lam)[::-1], (1, 50)),
                        mean_spacing_ratio(7 * np.sort(lam)[::-1] + 2, (1, 50)))


@pytest.mark.parametrize("alpha", [1.0, 1.5])
def test_powerlaw_task_exponent(alpha):
    X = sample_inputs(PowerLawTask(120, alpha, 0.5), 1920, [0])[0].numpy()
    eigs = covariance_eigenvalues(X)
    assert bulk_window(eigs) == (6, 60)  # 5% .. 50% of the rank 120
    assert abs(powerlaw_exponent(eigs) - alpha) < 0.08
    assert abs(powerlaw_exponent(np.arange(1, 101.0) ** -alpha, (5, 50)) - alpha) < 1e-12  # exact on a power law


def test_settling_count_rule():
    n = np.array([16, 32, 64, 128, 256])
    assert settling_count(n, np.array([0.3, 0.52, 0.40, 0.51, 0.52]), 0.02) == 128  # the early visit does not count
    assert math.isnan(settling_count(n, np.array([0.3, 0.35, 0.40, 0.45, 0.52]), 0.02))  # only the last qualifies
    assert settling_count(n, np.full(5, 0.5), 0.02) == 16


def test_sample_curve_settles_on_gaussian_data():
    X = sample_inputs(PowerLawTask(48, 1.5, 0.5), 1024, [1])[0].numpy()
    c = sample_curve(X, [16, 64, 256, 1023], draws=3)
    assert c.exponent.shape == (4, 3) and c.n.tolist() == [16, 64, 256, 1023]
    assert abs(c.mean("exponent")[-1] - 1.5) < 0.1
    assert c.settle_exponent <= 256


def test_relu_features_shape_and_sign():
    Z = relu_random_features(np.random.default_rng(4).standard_normal((30, 10)), 40)
    assert Z.shape == (30, 40) and (Z >= 0).all() and (Z > 0).mean() > 0.3
