"""Scaling exponents in both regimes (b = 1.5; a = 2: a-1 <= b, a = 4: a-1 > b), fitted from the theory over
stated windows with M >= 100 x the window's top, the model-limited one also from experiments, and the
compute-optimal algebra and frontier."""

import pytest
import torch

from toymodels.errors import ConfigError
from toymodels.tasks.powerlaw import PowerLawTask, sample_projection
from toymodels.theory.gd_curves import gd_curve_infinite
from toymodels.theory.ridge import ridge_theory
from toymodels.regression.fits import fit_exponent
from toymodels.theory.scaling import (compute_frontier, exponents, fit_power_law,
                                      model_limited_loss)

B = 1.5
WINDOW = torch.logspace(2, 3, 6, dtype=torch.float64)  # 100 .. 1000 (P or N)
BIG_M = 100_000


@pytest.mark.parametrize("a", [2.0, 4.0])
def test_time_and_model_limited_exponents(a):
    task = PowerLawTask.from_exponents(BIG_M, a, B)
    ex = exponents(a, B)
    t = torch.logspace(1, 4, 13, dtype=torch.float64).round()  # 10 .. 1e4 steps, lr = 0.25
    time_fit = fit_power_law(t, gd_curve_infinite(task.eta, task.wbar, t, 0.25))
    assert time_fit["exponent"] == pytest.approx(ex["time"], abs=0.05)  # (a-1)/b
    model_fit = fit_power_law(WINDOW, model_limited_loss(task.eta, task.wbar, WINDOW))
    assert model_fit["exponent"] == pytest.approx(ex["model"], abs=0.05)  # min(a-1, b)
    if a - 1 > B:  # the blog's min(a-1, 2b) = 3 is far off
        assert abs(model_fit["exponent"] - min(a - 1, 2 * B)) > 1.0


@pytest.mark.parametrize("a", [2.0, 3.5, 5.0])
def test_data_limited_exponent(a):
    """Noiseless ridgeless E_g ~ P^-min(a-1, 2b) and kappa ~ P^-b (SCIENCE.md: kappa ~ P^-alpha,
    E_g ~ P^-2 alpha min(r, 1))."""
    task = PowerLawTask.from_exponents(BIG_M, a, B)
    th = ridge_theory(task.eta, task.wbar, WINDOW, 0.0)
    assert fit_power_law(WINDOW, th.E_g)["exponent"] == pytest.approx(exponents(a, B)["data"], abs=0.05)
    assert fit_power_law(WINDOW, th.kappa)["exponent"] == pytest.approx(B, abs=0.05)


def test_data_limited_exponent_at_the_marginal_point_a_4():
    """a = 4, b = 1.5 sits at a - 1 = 2b, where the bias sum diverges logarithmically: E_g ~ P^-3 log P (the plain
    fit gives 2.82 on this window; dividing by log P recovers 3)."""
    task = PowerLawTask.from_exponents(BIG_M, 4.0, B)
    E_g = ridge_theory(task.eta, task.wbar, WINDOW, 0.0).E_g
    assert fit_power_law(WINDOW, E_g / WINDOW.log())["exponent"] == pytest.approx(3.0, abs=0.05)
    assert fit_power_law(WINDOW, E_g)["exponent"] < 2.9


@pytest.mark.parametrize("a", [2.0, 4.0])
def test_model_limited_exponent_from_experiments(a):
    """P, t -> infinity: the best predictor in span(F) has error |wbar|_Sigma^2 - b^T (F^T Sigma F)^-1 b,
    b = F^T Sigma wbar; averaged over 30 projections at M = 4000, N = 25..200, its fitted slope agrees with the
    theory on the same window (within 0.05), which is within 0.05 of min(a-1, b) -- and nowhere near 2b = 3."""
    M, Ns, E = 4000, [25, 50, 100, 200], 30
    task = PowerLawTask.from_exponents(M, a, B)
    power = (task.eta * task.wbar ** 2).sum()
    errs = []
    for N in Ns:
        F = sample_projection(M, N, range(E))  # [E, M, N]
        A = torch.einsum("emn,m,emk->enk", F, task.eta, F)
        b = torch.einsum("emn,m->en", F, task.eta * task.wbar)
        errs.append(power - (torch.linalg.solve(A, b[..., None])[..., 0] * b).sum(-1))  # [E]
    Nt = torch.tensor(Ns, dtype=torch.float64)
    fit = fit_exponent(Nt, torch.stack(errs, 1), fit_floor=False)  # 90% interval over seeds
    th_fit = fit_power_law(Nt, model_limited_loss(task.eta, task.wbar, Nt))["exponent"]
    assert fit["exponent"] == pytest.approx(th_fit, abs=0.05)
    assert fit["lo"] - 0.02 <= th_fit <= fit["hi"] + 0.02 and fit["hi"] - fit["lo"] < 0.3
    assert th_fit == pytest.approx(min(a - 1, B), abs=0.05)
    assert abs(fit["exponent"] - 2 * B) > 1.0


def test_compute_optimal_exponents_match_the_closed_forms():
    for a in (1.5, 2.0, 2.5):  # a - 1 <= b
        ex = exponents(a, B)
        assert ex["compute"] == pytest.approx((a - 1) / (1 + B))
        assert ex["t_star"] == pytest.approx(B / (1 + B)) and ex["N_star"] == pytest.approx(1 / (1 + B))
    for a in (3.0, 4.0, 6.0):  # a - 1 > b
        ex = exponents(a, B)
        assert ex["compute"] == pytest.approx(B * (a - 1) / (a - 1 + B ** 2))
        assert ex["t_star"] + ex["N_star"] == pytest.approx(1.0)  # C = N t
    fb = exponents(4.0, B, cost="full_batch")  # C = N P t: three balanced terms
    assert fb["t_star"] + fb["N_star"] + fb["P_star"] == pytest.approx(1.0)
    assert fb["compute"] == pytest.approx(1 / (1 / fb["time"] + 1 / fb["model"] + 1 / fb["data"]))


def test_frontier_of_a_two_term_loss_table():
    """compute_frontier on L = t^-x + N^-y over a grid recovers L* ~ C^-xy/(x+y), N* ~ C^x/(x+y)."""
    x, y = 2.0, 1.5  # a = 4, b = 1.5 exponents (time, model)
    N = torch.logspace(0, 6, 241, dtype=torch.float64)
    t = torch.logspace(0, 8, 321, dtype=torch.float64)
    L = t[None, :] ** -x + N[:, None] ** -y  # [nN, nT]
    C = torch.logspace(4, 9, 11, dtype=torch.float64)
    fr = compute_frontier(L, N, t, C)
    ex = exponents(4.0, 1.5)
    assert fit_power_law(C, fr["L"])["exponent"] == pytest.approx(ex["compute"], abs=0.02)
    assert -fit_power_law(C, fr["N"])["exponent"] == pytest.approx(ex["N_star"], abs=0.03)
    assert -fit_power_law(C, fr["t"])["exponent"] == pytest.approx(ex["t_star"], abs=0.03)
    # full-batch cost N P t with P fixed shifts the budget by P, nothing else
    fb = compute_frontier(L, N, t, C * 100, P=100)
    assert torch.allclose(fb["L"], fr["L"])


def test_fit_power_law_with_a_floor():
    x = torch.logspace(0, 3, 20, dtype=torch.float64)
    y = 3.0 * x ** -0.7 + 0.05
    fit = fit_power_law(x, y, fit_floor=True)
    assert fit["exponent"] == pytest.approx(0.7, abs=1e-3) and fit["floor"] == pytest.approx(0.05, rel=1e-2)
    assert fit_power_law(x, y)["exponent"] < 0.6  # ignoring the floor biases the exponent


def test_bad_input():
    with pytest.raises(ConfigError) as err:
        exponents(1.0, 1.5)
    assert err.value.key == "theory.a"
    with pytest.raises(ConfigError) as err:
        exponents(2.0, 1.5, cost="adam")
    assert err.value.key == "theory.cost"
    with pytest.raises(ConfigError) as err:
        fit_power_law([1.0, 2.0], [1.0, 0.5])
    assert err.value.key == "theory.x"
