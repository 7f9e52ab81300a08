"""Gaussian equivalence: the coefficients against closed forms, and the nonlinear random-feature theory against
ReLU / tanh feature experiments."""
import math

import pytest
import torch

from toymodels.errors import ConfigError
from toymodels.tasks.powerlaw import PowerLawTask, sample_dataset, sample_projection
from toymodels.theory.gaussian_equivalence import (ge_coefficients, ge_features, ge_theory,
                                                     preactivation_variance)
from toymodels.theory.random_features import rf_theory
from toymodels.theory.simulate import ridge_weights


@pytest.mark.parametrize("q", [1.0, 2.5, 0.01])
def test_relu_coefficients_closed_form(q):
    mu0, mu1, mustar = ge_coefficients("relu", q)
    assert mu0.item() == pytest.approx(math.sqrt(q / (2 * math.pi)), rel=1e-12)
    assert mu1.item() == pytest.approx(0.5, rel=1e-12)
    assert mustar.item() ** 2 == pytest.approx(q * (0.25 - 1 / (2 * math.pi)), rel=1e-10)


def test_erf_coefficients_closed_form():
    """u ~ N(0, 1): E[u erf(u)] = 2/sqrt(3 pi), E[erf(u)^2] = (2/pi) arcsin(2/3) (Gauss-Hermite path)."""
    mu0, mu1, mustar = ge_coefficients("erf", 1.0)
    assert abs(mu0.item()) < 1e-14
    assert mu1.item() == pytest.approx(2 / math.sqrt(3 * math.pi), rel=1e-12)
    assert mustar.item() ** 2 == pytest.approx(2 / math.pi * math.asin(2 / 3) - 4 / (3 * math.pi), rel=1e-10)


def test_linear_activation_has_no_nonlinear_part():
    mu0, mu1, mustar = ge_coefficients("linear", torch.tensor([0.5, 3.0], dtype=torch.float64))
    assert torch.allclose(mu1, torch.ones(2, dtype=torch.float64)) and float(mustar.abs().max()) < 1e-7
    assert float(mu0.abs().max()) < 1e-14


def _experiment(task, N, P, lam, act, E=40, n_test=1000):
    X, y = sample_dataset(task, P, range(E))
    F = sample_projection(task.M, N, range(E))
    q = preactivation_variance(task.eta)
    Z = ge_features(X, F, q, act)  # [E, P, N]
    v = ridge_weights(Z, y, [lam])[:, 0]  # [E, N] ridge on the features themselves
    clean = PowerLawTask(task.M, task.alpha, task.r, 0.0)
    Xt, yt = sample_dataset(clean, n_test, range(1000, 1000 + E))
    pred = torch.einsum("epn,en->ep", ge_features(Xt, F, q, act), v)
    return ((pred - yt) ** 2).mean(-1)  # [E] excess test loss (clean test labels)


# alpha = 0.5: preactivation variances f^T Sigma f concentrate (relative spread 12% at M = 200), which Gaussian
# equivalence assumes. At alpha = 1.5 the top eigenvalue dominates Tr Sigma, the spread is 59-60% and the ReLU
# prediction is off by up to 46% (M = 300, N = P = 200, lambda = 1e-4: theory 0.176, experiment 0.120 +- 0.002;
# M = 200: 0.211 vs 0.137 +- 0.003). Measured by running _experiment below with alpha = 1.5 (spread: the std/mean
# of f_i^T Sigma f_i over 2000 columns of sample_projection(M, 2000, [0])).
def _tanh3(u):
    return torch.tanh(3 * u)  # steep enough to be nonlinear at q = Tr(Sigma)/M = 0.134


@pytest.mark.parametrize("act, N, P, lam", [("relu", 100, 200, 1e-3), ("relu", 300, 100, 1e-3),
                                            ("relu", 200, 200, 1e-4), (_tanh3, 150, 100, 1e-3)])
def test_ge_theory_matches_nonlinear_features(act, N, P, lam):
    task = PowerLawTask(200, 0.5, 0.4, 0.3)
    E_g = _experiment(task, N, P, lam, act)
    th, info = ge_theory(task.eta, task.wbar, N, P, lam, task.sigma, act)
    assert info["mustar"].item() > 0.1 * info["mu1"].item() * info["q"].sqrt().item()  # genuinely nonlinear
    mean, sem = E_g.mean().item(), (E_g.std() / len(E_g) ** 0.5).item()
    assert abs(th.E_g.item() - mean) <= 3 * sem + 0.03 * th.E_g.item(), (th.E_g.item(), mean, sem)


def test_infinite_data_against_the_population_solution():
    """P = infinity: ridge on z = mu1 F^T x + mustar xi has v = (C + lambda)^-1 b with C = mu1^2 F^T Sigma F +
    mustar^2 I, b = mu1 F^T Sigma wbar, and test error |wbar|_Sigma^2 - 2 v.b + v^T C v; averaged over 30
    projections it must match the two-level theory. Its weights mu1 v are linear random features at
    lambda_eff = (lambda + mustar^2)/mu1^2, but the error adds mustar^2 |v|^2 (checked too)."""
    task = PowerLawTask(200, 0.5, 0.4)
    N, lam = 120, 1e-3
    th, info = ge_theory(task.eta, task.wbar, N, 1e12, lam, 0.0, "relu")
    mu1, ms = info["mu1"].item(), info["mustar"].item()
    F = sample_projection(200, N, range(30))  # [30, M, N]
    C = mu1 ** 2 * torch.einsum("emn,m,emk->enk", F, task.eta, F) + ms ** 2 * torch.eye(N, dtype=torch.float64)
    b = mu1 * torch.einsum("emn,m->en", F, task.eta * task.wbar)
    v = torch.linalg.solve(C + lam * torch.eye(N, dtype=torch.float64), b[..., None])[..., 0]
    err = (task.eta * task.wbar ** 2).sum() - 2 * (v * b).sum(-1) + torch.einsum("en,enk,ek->e", v, C, v)
    mean, sem = err.mean().item(), (err.std() / 30 ** 0.5).item()
    assert abs(th.E_g.item() - mean) <= 3 * sem + 0.03 * th.E_g.item(), (th.E_g.item(), mean, sem)
    lin = rf_theory(task.eta, task.wbar, N, 1e12, info["lambda_eff"], 0.0).E_g.item()
    extra = ms ** 2 * (v * v).sum(-1).mean().item()
    assert th.E_g.item() == pytest.approx(lin + extra, rel=0.03)
    assert extra > 0.05 * lin  # the nonlinear part is not negligible here


def test_bad_activation():
    with pytest.raises(ConfigError) as err:
        ge_coefficients("softsign", 1.0)
    assert err.value.key == "theory.activation"
    with pytest.raises(ConfigError) as err:
        ge_coefficients("relu", -1.0)
    assert err.value.key == "theory.q"
