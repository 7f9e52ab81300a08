"""Gromov's analytic solution run through EnsembleMLP, and the per-neuron Fourier comparison."""
import math

import pytest
import torch

from toymodels.errors import ConfigError
from toymodels.metrics.representation import (frequency_histogram, gromov_agreement, gromov_solution,
                                              neuron_fourier)
from toymodels.models.mlp import EnsembleMLP
from toymodels.tasks.operations import operation_table


def run_mlp(sol, p):
    """Load the weights into an EnsembleMLP (depth 2, quadratic, pairs, no bias) and run the full a+b table."""
    E, _, N = sol.W_in.shape
    m = EnsembleMLP(E, 2 * p, p, width=N, depth=2, act="quadratic", bias=False, input_kind="pairs")
    with torch.no_grad():
        for name, value in sol.state().items():
            dict(m.named_parameters())[name].copy_(value)
    t = operation_table("a+b", p)
    with torch.no_grad():
        logits = m(torch.from_numpy(t.pairs))
    return logits, torch.from_numpy(t.answers)


@pytest.mark.parametrize("p", [5, 7, 11, 23])
def test_grid_solution_is_exact(p):
    sol = gromov_solution(p, n_members=2)
    assert sol.W_in.shape == (2, 2 * p, 9 * ((p - 1) // 2)) and sol.W_out.shape == (2, 9 * ((p - 1) // 2), p)
    logits, answers = run_mlp(sol, p)
    acc = (logits.argmax(-1) == answers).double().mean(-1)
    assert acc.tolist() == [1.0, 1.0]
    # hand-derived: the logits are exactly (9/4) (p [q == a+b] - 1) (float32 model: tolerance)
    want = 2.25 * (p * torch.nn.functional.one_hot(answers, p).double() - 1)
    assert torch.allclose(logits.double(), want.expand_as(logits), atol=1e-6 * p * p)


def test_random_phases_with_many_neurons():
    p = 11
    sol = gromov_solution(p, n_hidden=160, n_members=3, phases="random", generator=torch.Generator().manual_seed(0))
    logits, answers = run_mlp(sol, p)
    assert (logits.argmax(-1) == answers).all()
    assert not torch.equal(sol.phase_a[0], sol.phase_a[1])  # members draw their own phases


def test_neuron_fourier_recovers_construction():
    p = 13
    sol = gromov_solution(p, n_hidden=72, n_members=2, phases="random", generator=torch.Generator().manual_seed(1))
    nf = neuron_fourier(sol.W_in, sol.W_out)
    for f in (nf.freq_a, nf.freq_b, nf.freq_out):
        assert torch.equal(f, sol.freq)
    for s in (nf.share_a, nf.share_b, nf.share_out):
        assert torch.allclose(s, torch.ones_like(s), atol=1e-12)
    wrap = lambda t: torch.remainder(t + math.pi, 2 * math.pi) - math.pi  # noqa: E731
    assert wrap(nf.phase_a - sol.phase_a).abs().max() < 1e-9
    assert wrap(nf.phase_b - sol.phase_b).abs().max() < 1e-9
    assert nf.phase_residual.abs().max() < 1e-9
    assert gromov_agreement(sol.W_in, sol.W_out).tolist() == [1.0, 1.0]
    hist = frequency_histogram(nf.freq_a, p)
    assert hist[:, 1:].tolist() == [[12] * 6, [12] * 6]  # 72 neurons cycled over frequencies 1..6


def test_agreement_detects_broken_structure_and_padding():
    p = 11
    sol = gromov_solution(p, n_hidden=45, n_members=2)
    g = torch.Generator().manual_seed(2)
    shuffled = sol.W_out[:, torch.randperm(45, generator=g)]  # output rows no longer match their neurons
    agree = gromov_agreement(sol.W_in, shuffled)
    assert torch.all(agree < 0.5)
    noise = torch.randn(2, 2 * p, 45, generator=g, dtype=torch.float64), torch.randn(2, 45, p, generator=g,
                                                                                      dtype=torch.float64)
    assert torch.all(gromov_agreement(*noise) < 0.3)
    # padding: extra neurons with garbage weights, masked out, change nothing
    W_in = torch.cat([sol.W_in, noise[0][:, :, :5]], 2)
    W_out = torch.cat([shuffled, noise[1][:, :5]], 1)
    mask = torch.arange(50)[None].expand(2, -1) < 45
    assert torch.equal(gromov_agreement(W_in, W_out, mask), agree)
    nf = neuron_fourier(W_in, W_out, mask)
    assert (nf.freq_a[:, 45:] == -1).all() and torch.isnan(nf.phase_a[:, 45:]).all()


def test_bad_arguments():
    with pytest.raises(ConfigError):
        gromov_solution(7, n_hidden=10)  # grid needs multiples of 9
    with pytest.raises(ConfigError):
        gromov_solution(7, frequencies=[4])
    with pytest.raises(ConfigError):
        gromov_solution(7, phases="sobol")
    with pytest.raises(ConfigError):
        neuron_fourier(torch.zeros(1, 14, 5), torch.zeros(1, 5, 6))
