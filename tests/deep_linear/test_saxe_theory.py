"""toymodels.theory.saxe on its own: the RK4 integrator in x = ln(u / |s - u|) against Saxe et al.'s L = 2 closed form,
against a plain fine-step RK4 in u (L = 3, 4), against the exact decay of s = 0 modes, and against the stage-time
quadrature; the time constant and the stage-time estimate."""
import pytest
import torch

from toymodels.theory import saxe

F64 = torch.float64


def brute_force(s, u0, t_end, depth, tau, n=20000):
    """RK4 on tau du/dt = L u^(2-2/L) (s - u) in u itself, n uniform steps to t_end (an independent integrator)."""
    u, h = u0.clone(), t_end / n
    f = lambda v: saxe.mode_rate(v, s, depth, tau)  # noqa: E731
    for _ in range(n):
        k1 = f(u)
        k2 = f(u + h / 2 * k1)
        k3 = f(u + h / 2 * k2)
        k4 = f(u + h * k3)
        u = u + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
    return u


def test_closed_form_two_layer_matches_the_integrator():
    """Growth (u0 < s) and decay (u0 > s) modes, over five decades of time."""
    s = torch.tensor([[3.0], [1.0], [0.2], [1.0]], dtype=F64)
    u0 = torch.tensor([[1e-6], [1e-2], [1e-3], [4.0]], dtype=F64)
    t = torch.logspace(-1, 4, 60, dtype=F64)
    tau = 50.0
    ode = saxe.mode_ode(s[:, 0], u0[:, 0], t, 2, tau)
    closed = saxe.closed_form_two_layer(s, u0, t, tau)
    assert torch.allclose(ode, closed, rtol=1e-12, atol=0)


@pytest.mark.parametrize("depth", [3, 4])
def test_deep_modes_match_a_fine_step_integrator(depth):
    s = torch.tensor([3.0, 1.0, 0.5, 1.0, 0.0], dtype=F64)
    u0 = torch.tensor([1e-2, 1e-2, 1e-1, 3.0, 0.5], dtype=F64)
    tau, t_end = 20.0, 200.0
    ode = saxe.mode_ode(s, u0, torch.tensor([t_end]), depth, tau)[:, 0]
    reference = brute_force(s, u0, t_end, depth, tau)
    assert torch.allclose(ode, reference, rtol=1e-6, atol=0), (ode, reference)
    # the s = 0 mode decays exactly as u^-(2-2/L) = u0^-(2-2/L) + (2L - 2) t / tau
    p = 2 - 2 / depth
    assert ode[4].item() == pytest.approx((0.5 ** -p + depth * p * t_end / tau) ** (-1 / p), rel=1e-9)


@pytest.mark.parametrize("depth", [2, 3, 5])
def test_the_integrator_crosses_at_the_stage_times(depth):
    s = torch.tensor([4.0, 2.0, 0.7], dtype=F64)
    u0, tau = torch.full((3,), 1e-3, dtype=F64), 30.0
    for fraction in (0.1, 0.5, 0.9):
        times = saxe.stage_time(s, u0, depth, tau, fraction)  # [3]
        u = saxe.mode_ode(s, u0, times, depth, tau)  # [3, 3]: mode k at every mode's time
        assert torch.allclose(torch.diagonal(u), fraction * s, rtol=1e-7)


def test_time_constant_and_estimates():
    assert saxe.time_constant(0.01, 4).item() == pytest.approx(200.0)
    assert torch.allclose(saxe.time_constant(torch.tensor([0.1, 0.5]), 1), torch.tensor([5.0, 1.0], dtype=F64))
    s, u0 = torch.tensor([2.0, 1.0], dtype=F64), torch.tensor([1e-6, 1e-6], dtype=F64)
    # L = 2, small u0: the half-way time (tau/2s) ln(s/u0 - 1) -> (tau/2s) ln(s/u0); strong modes first
    exact, estimate = saxe.stage_time(s, u0, 2, 10.0), saxe.stage_time_estimate(s, u0, 2, 10.0)
    assert torch.allclose(exact, estimate, rtol=1e-6) and exact[0] < exact[1]
    # L = 3, u0 -> 0: the time approaches tau / ((L - 2) s u0^(1 - 2/L)) (relative gap ~ u0^(1/3))
    tiny = torch.tensor([1e-12, 1e-12], dtype=F64)
    gap = saxe.stage_time(s, tiny, 3, 10.0) / saxe.stage_time_estimate(s, tiny, 3, 10.0) - 1
    assert bool((gap.abs() < 1e-3).all()) and bool((gap.abs() > 0).all())


def test_loss_curve_and_discrete_map():
    s = torch.tensor([2.0, 1.0, 0.0], dtype=F64)
    u = torch.tensor([[2.0, 0.5], [0.0, 1.0], [0.0, 0.1]], dtype=F64)  # [r, T]
    assert torch.allclose(saxe.loss_curve(s, u, 4, sigma=0.5),
                          torch.tensor([(0 + 1 + 0) / 4 + 0.25, (2.25 + 0 + 0.01) / 4 + 0.25], dtype=F64))
    # the discrete map approaches the flow as lr -> 0 at fixed tau * lr (first order in lr)
    s, u0 = torch.tensor([2.0]), torch.tensor([1e-2])
    errs = []
    for lr in (0.02, 0.01, 0.005):
        steps = torch.tensor([int(round(2.0 / lr))])  # the same continuous time t' = lr * step = 2
        flow = saxe.mode_ode(s, u0, steps, 2, saxe.time_constant(lr, 1))[0, 0]
        errs.append(abs(saxe.discrete_modes(s, u0, steps, 2, lr, 1)[0, 0] - flow).item() / flow.item())
    assert errs[0] > errs[1] > errs[2] and errs[1] / errs[2] == pytest.approx(2, rel=0.1)
