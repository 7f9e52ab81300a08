"""The power-law Gaussian task: normalisation, exponents, per-member streams, projections, exact test loss."""

import pytest
import torch

from toymodels.errors import ConfigError
from toymodels.tasks.powerlaw import (PowerLawTask, population_loss, powerlaw_spectrum, powerlaw_target,
                                      sample_dataset, sample_inputs, sample_noise, sample_projection)


def test_spectrum_and_target_follow_the_power_laws():
    alpha, r = 1.3, 0.7
    eta, wbar = powerlaw_spectrum(500, alpha), powerlaw_target(500, alpha, r)
    k = torch.arange(1, 501, dtype=torch.float64)
    assert torch.allclose(eta.log(), -alpha * k.log(), atol=1e-12)
    power = eta * wbar ** 2
    assert power.sum().item() == pytest.approx(1.0, abs=1e-12)  # sum eta wbar^2 = 1
    slope = (power[1:] / power[:-1]).log() / (k[1:] / k[:-1]).log()
    assert torch.allclose(slope, torch.full_like(slope, -(1 + 2 * alpha * r)), atol=1e-10)


def test_a_b_parametrisation():
    task = PowerLawTask.from_exponents(100, a=4.0, b=1.5, sigma=0.1)
    assert task.alpha == 1.5 and task.a == pytest.approx(4.0) and task.r == pytest.approx(1.0)
    power = task.eta * task.wbar ** 2
    assert (power[9] / power[0]).item() == pytest.approx(10.0 ** -4.0, rel=1e-10)


def test_member_streams_are_independent_of_the_ensemble_and_of_each_other():
    task = PowerLawTask(30, 1.5, 0.4, sigma=0.5)
    X, y = sample_dataset(task, 20, [7, 8, 9])
    X1, y1 = sample_dataset(task, 20, [8])
    assert torch.equal(X[1], X1[0]) and torch.equal(y[1], y1[0])
    # another noise seed changes only the noise; another data seed changes X but not the noise
    X2, y2 = sample_dataset(task, 20, [8], noise_seeds=[99])
    assert torch.equal(X2[0], X1[0]) and not torch.equal(y2[0], y1[0])
    eps = y1[0] - X1[0] @ task.wbar
    assert torch.allclose(eps, sample_noise(20, [8], 0.5)[0])
    F_a, F_b = sample_projection(30, 10, [8]), sample_projection(30, 10, [3, 8])
    assert torch.equal(F_a[0], F_b[1])
    assert not torch.allclose(F_a[0][:20, 0], X1[0][0, :20])  # projection stream differs from data stream


def test_inputs_have_the_task_covariance():
    task = PowerLawTask(12, 1.0, 0.5)
    X = sample_inputs(task, 4000, [0, 1, 2, 3, 4])  # [5, 4000, 12]
    cov = torch.einsum("epi,epj->ij", X, X) / (5 * 4000)
    # each entry's standard error is sqrt(eta_i eta_j / 20000) (< 0.0071); allow 5 of them
    tol = 5 * torch.sqrt(torch.outer(task.eta, task.eta) / 20000)
    assert ((cov - torch.diag(task.eta)).abs() <= tol).all()


def test_population_loss_matches_fresh_samples():
    task = PowerLawTask(40, 1.5, 0.4, sigma=0.3)
    g = torch.Generator().manual_seed(0)
    w = task.wbar + 0.3 * torch.randn(3, 40, generator=g, dtype=torch.float64)  # [3, M]
    exact = population_loss(w, task.eta, task.wbar, task.sigma, include_noise=True)  # [3]
    X, y = sample_dataset(task, 20000, [11, 12, 13])
    mc = ((torch.einsum("epm,em->ep", X, w) - y) ** 2).mean(-1)
    # Monte Carlo error of a mean of 2e4 squared Gaussians: sqrt(2/2e4) = 1% relative; allow 4%
    assert torch.allclose(mc, exact, rtol=0.04)
    assert population_loss(task.wbar, task.eta, task.wbar).item() == 0.0


def test_projections_isotropic_and_anisotropic():
    F = sample_projection(20, 400, range(10))  # [10, 20, 400]
    FFt = torch.einsum("emn,eln->eml", F, F).mean(0)  # ~ (N/M) I = 20 I
    assert torch.allclose(torch.diagonal(FFt), torch.full((20,), 20.0, dtype=torch.float64), rtol=0.08)
    alpha_F = 1.0
    Fa = sample_projection(20, 400, range(10), alpha_F=alpha_F, basis="data")
    d = torch.einsum("emn,emn->m", Fa, Fa) / 10  # diag of E[F F^T] = 20 omega_k
    omega = torch.arange(1, 21, dtype=torch.float64) ** -alpha_F
    omega = omega / omega.mean()
    assert torch.allclose(d, 20 * omega, rtol=0.08)
    Fr = sample_projection(20, 400, [0], alpha_F=alpha_F)  # random basis: same spectrum, rotated
    ev = torch.linalg.eigvalsh(Fr[0] @ Fr[0].T).flip(0)
    assert torch.allclose(ev.sum(), torch.tensor(400.0, dtype=torch.float64), rtol=0.05)
    # anisotropic (isotropic: (1 + sqrt(M/N))^2 / (1 - sqrt(M/N))^2 = 2.5 at N/M = 20)
    assert (ev[0] / ev[-1]).item() > 10.0


@pytest.mark.parametrize("call, key", [
    (lambda: powerlaw_spectrum(0, 1.5), "task.M"),
    (lambda: powerlaw_spectrum(10, -1.0), "task.alpha"),
    (lambda: powerlaw_target(10, 1.5, 0.0), "task.r"),
    (lambda: PowerLawTask(10, 1.5, 0.4, sigma=-1.0), "task.sigma"),
    (lambda: PowerLawTask.from_exponents(10, a=1.0, b=1.5), "task.a"),
    (lambda: sample_inputs(PowerLawTask(10, 1.5, 0.4), -3, [0]), "task.P"),
    (lambda: sample_projection(10, 0, [0]), "theory.N"),
    (lambda: sample_projection(10, 5, [0], basis="weird"), "task.projection_basis"),
])
def test_bad_input(call, key):
    with pytest.raises(ConfigError) as err:
        call()
    assert err.value.key == key
