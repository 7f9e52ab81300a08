"""Saxe, McClelland & Ganguli (2014) against experiment, float64, balanced init aligned with the teacher's singular
vectors (the paper's decoupled initial conditions), full-batch gradient descent:

* population loss (task.train_size None): d_in = 6, d_out = 4, s = (3, 2, 1) (and one zero mode), u0 = 1e-3
  (L = 2) or 1e-2 (L = 3), lr = 0.01: tau = d_out / (2 lr) = 200 steps;
* P = 10 d_in = 60 whitened rows (X^T X / P = I, the paper's Sigma^11 = I) with label noise sigma = 0.3: the modes
  are those of the empirical input-output correlation Sigma^31 = Y^T X / P, the init is aligned with them.
The theory curve is the ODE solution (``saxe.mode_ode``) at t = step: worst relative error over the whole curve
< 5% (measured on the 2-core CPU with these settings: 2.2% at L = 2, 2.4% at L = 3, and 1.8% (train and test)
on the whitened rows; it is first order in lr: 4.4% at lr = 0.02, 1.1% at lr = 0.005, L = 2); the exact
discrete-time map (``saxe.discrete_modes``) matches to 1e-8, so what is left is the discretisation of the flow.
Stage times: the step where u_k crosses s_k / 2 against Saxe et al.'s timescale of learning / the quadrature of the
ODE (``saxe.stage_time``) and the small-u0 estimate (tau / 2s) ln(s / u0)."""
import math

import pytest
import torch

from toymodels.models.deep_linear import EnsembleDeepLinear
from toymodels.optim.sgd import EnsembleSGD
from toymodels.regression.deep_linear import DeepLinearEngine, build_deep_linear_data
from toymodels.tasks.linear_teacher import LinearTeacherTask
from toymodels.theory import saxe

F64 = torch.float64
D_IN, D_OUT, S = 6, 4, (3.0, 2.0, 1.0)


def trained(depth, u0, lr, steps, P=None, sigma=0.0, seeds=(0, 1), every=10):
    """Train aligned balanced members; returns (engine, times [T], metrics {name: [E, T]}, u [E, r, T], frames)."""
    E = len(seeds)
    task = LinearTeacherTask(D_IN, D_OUT, S, sigma)
    model = EnsembleDeepLinear(E, D_IN, D_OUT, depth, [8] * E).double()
    data = build_deep_linear_data(task, model, None if P is None else [P] * E, seeds, seeds, seeds, whiten=True)
    if P is not None:  # the empirical modes: Sigma^31 = Y^T X / P = U^ diag(s^) V^^T
        U, s_hat, Vh = torch.linalg.svd(data.Y.transpose(1, 2) @ data.X / P)  # [E, 4, 4], [E, 4], [E, 4, 6]
        data.U, data.s, data.V = U, s_hat, Vh.transpose(1, 2)[..., :D_OUT]
    model.reset_parameters(list(seeds), [u0] * E, frames=(data.U, data.V))
    eng = DeepLinearEngine(model, data, EnsembleSGD(model.parameters(), E, lr=lr))
    times, rec, strengths = [], [], []
    for step in range(steps + 1):
        if step % every == 0:
            times.append(step)
            rec.append(eng.evaluate())
            strengths.append(eng.mode_strengths())
        if step < steps:
            eng.train_step(step)
    metrics = {k: torch.stack([r[k] for r in rec], 1) for k in rec[0]}
    return eng, torch.tensor(times, dtype=F64), metrics, torch.stack(strengths, 2)


def theory_test_loss(eng, u, sigma):
    """(1/d_out) |sum_k u_k U_k V_k^T - W*|_F^2 + sigma^2 for mode strengths u [E, r, T] in the data's frames."""
    d = eng.data
    W = torch.einsum("eok,ekt,eik->etoi", d.U, u, d.V)  # [E, T, d_out, d_in]
    return ((W - d.W_star[:, None]) ** 2).sum((2, 3)) / D_OUT + sigma ** 2


def worst_relative(a, b):
    return ((a - b).abs() / b.abs()).max().item()


@pytest.mark.parametrize("depth, u0, steps", [(2, 1e-3, 1800), (3, 1e-2, 2400)])
def test_population_loss_curve_follows_the_mode_ode(depth, u0, steps):
    lr = 0.01
    eng, t, metrics, u = trained(depth, u0, lr, steps)
    s = eng.data.s  # [E, 4]: (3, 2, 1, 0)
    tau = saxe.time_constant(lr, D_OUT)
    u_theory = saxe.mode_ode(s, torch.full_like(s, u0), t, depth, tau)  # [E, 4, T]
    exact = saxe.discrete_modes(s, torch.full_like(s, u0), t.long(), depth, lr, D_OUT)
    assert torch.allclose(u, exact, rtol=1e-8, atol=1e-12)  # the engine is the aligned balanced GD map
    curve = saxe.loss_curve(s, u_theory, D_OUT)
    assert torch.allclose(theory_test_loss(eng, u_theory, 0.0), curve, rtol=1e-10)  # the loss of the modes
    predicted = eng.theory_curves(t, u0)  # the engine's own overlay: the same curve
    assert torch.allclose(predicted["u"], u_theory, rtol=1e-12) and torch.allclose(predicted["test_loss"], curve)
    err = worst_relative(metrics["test_loss"], curve)
    assert err < 0.05, err
    assert curve[0, 0] / curve[0, -1] > 1e5  # the curve covers every stage, down to the zero mode's floor


def test_finite_P_whitened_rows_follow_the_empirical_modes():
    """P = 10 d_in whitened rows, sigma = 0.3: train and test loss follow the ODE of the empirical modes."""
    lr, u0, sigma, P = 0.01, 1e-3, 0.3, 10 * D_IN
    eng, t, metrics, u = trained(2, u0, lr, 1800, P=P, sigma=sigma)
    d = eng.data
    assert not torch.allclose(d.s[:, :3], torch.tensor(S, dtype=F64))  # the noise moved the modes
    u_theory = saxe.mode_ode(d.s, torch.full_like(d.s, u0), t, 2, saxe.time_constant(lr, D_OUT))
    train_floor = ((d.Y ** 2).sum((1, 2)) / P - (d.s ** 2).sum(1)) / D_OUT  # (1/d_out)(tr Sigma^33 - |Sigma^31|^2)
    train = saxe.loss_curve(d.s, u_theory, D_OUT) + train_floor[:, None]
    assert worst_relative(metrics["train_loss"], train) < 0.05
    assert worst_relative(metrics["test_loss"], theory_test_loss(eng, u_theory, sigma)) < 0.05
    assert torch.allclose(eng.theory_curves(t, u0)["test_loss"], theory_test_loss(eng, u_theory, sigma))
    exact = saxe.discrete_modes(d.s, torch.full_like(d.s, u0), t.long(), 2, lr, D_OUT)
    assert torch.allclose(u, exact, rtol=1e-8, atol=1e-12)


def crossing(t, u, level):
    """First time u [T] reaches ``level``, linear interpolation in ln u."""
    k = int(torch.nonzero(u >= level)[0])
    a, b = math.log(u[k - 1]), math.log(u[k])
    return (t[k - 1] + (t[k] - t[k - 1]) * (math.log(level) - a) / (b - a)).item()


@pytest.mark.parametrize("depth, u0, lr, steps", [(2, 1e-3, 0.02, 500), (3, 1e-2, 0.02, 800)])
def test_stage_times(depth, u0, lr, steps):
    """Modes are learned strongest first; each half-way time matches the timescale (L = 2) / the ODE's quadrature
    (L = 3) within 3% (discretisation, measured at most 1.1% at L = 2, 1.0% at L = 3), and L = 2's small-u0 estimate
    (tau / 2s) ln(s / u0) within 3%."""
    eng, t, _, u = trained(depth, u0, lr, steps, seeds=(4,), every=1)
    s, tau = torch.tensor(S, dtype=F64), saxe.time_constant(lr, D_OUT)
    measured = torch.tensor([crossing(t, u[0, k], S[k] / 2) for k in range(3)], dtype=F64)
    assert bool((measured[:-1] < measured[1:]).all())  # stage-like: strong modes first
    exact = saxe.stage_time(s, torch.full_like(s, u0), depth, tau)
    assert ((measured - exact).abs() / exact).max() < 0.03, (measured, exact)
    if depth == 2:
        estimate = saxe.stage_time_estimate(s, torch.full_like(s, u0), 2, tau)
        assert ((measured - estimate).abs() / estimate).max() < 0.03, (measured, estimate)
