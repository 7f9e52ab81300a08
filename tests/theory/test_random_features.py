"""Linear random-feature ridge: two-level theory against >= 40-seed experiments, the N -> infinity limit, the
root choice near the interpolation peak, the variance split with separate seeds, and GCV on features."""
import pytest
import torch

from toymodels.errors import ConfigError
from toymodels.tasks.powerlaw import PowerLawTask, population_loss, sample_dataset, sample_projection
from toymodels.theory.random_features import kappa_tilde, rf_k2, rf_theory
from toymodels.theory.ridge import T_fn, Tp_fn, df1, df2, gcv, interpolation_kappa, ridge_theory
from toymodels.theory.simulate import ridge_weights

M = 200
SEEDS = range(40)


def _experiment(N, P, lam, sigma, seeds=SEEDS):
    task = PowerLawTask(M, 1.5, 0.4, sigma)
    X, y = sample_dataset(task, P, seeds)
    F = sample_projection(M, N, seeds)
    w = ridge_weights(X, y, [lam], F)[:, 0]  # [E, M]
    E_g = population_loss(w, task.eta, task.wbar)
    E_tr = ((torch.einsum("epm,em->ep", X, w) - y) ** 2).mean(-1)
    return task, E_g, E_tr


def _close(theory: float, samples: torch.Tensor, rel=0.03, n_sem=3.0):
    mean, sem = samples.mean().item(), (samples.std() / len(samples) ** 0.5).item()
    assert abs(theory - mean) <= n_sem * sem + rel * abs(theory), (theory, mean, sem)


# (N, P, lambda, sigma): over/under-parameterised, noiseless, N ~ P with lambda <= 1e-4, ridgeless
POINTS = [(100, 150, 1e-3, 0.5), (300, 100, 1e-3, 0.0), (100, 100, 1e-4, 0.0), (100, 100, 1e-4, 0.3),
          (400, 200, 1e-2, 0.0), (50, 400, 1e-5, 0.0), (60, 200, 0.0, 0.3), (120, 110, 1e-5, 0.0)]


@pytest.mark.parametrize("N, P, lam, sigma", POINTS)
def test_rf_theory_matches_experiment(N, P, lam, sigma):
    task, E_g, E_tr = _experiment(N, P, lam, sigma)
    th = rf_theory(task.eta, task.wbar, N, P, lam, sigma)
    _close(th.E_g.item(), E_g)
    _close(th.E_tr.item(), E_tr)


def test_infinite_width_is_ridge_at_lambda_D_over_N():
    task = PowerLawTask(M, 1.5, 0.4)
    lam, P = 1e-3, 150
    N = torch.tensor([1e3, 1e4, 1e5, 1e7], dtype=torch.float64)
    rf = rf_theory(task.eta, task.wbar, N, P, lam, 0.3).E_g  # [4]
    ridge = ridge_theory(task.eta, task.wbar, P, lam * M / N, 0.3).E_g  # [4]
    gap = (rf / ridge - 1).abs()
    assert gap[-1].item() < 1e-4
    assert bool((gap[1:] < gap[:-1]).all())  # shrinks with N
    # ... and NOT ridge at lambda itself (the normalisation trap of SCIENCE.md)
    assert abs(rf[-1].item() / ridge_theory(task.eta, task.wbar, P, lam, 0.3).E_g.item() - 1) > 0.1


def _spurious_root(eta, N, P, lam):
    """A root of k2 (1 - Df1/P)(N - Df1)/D = lambda with both factors negative (Df1 > max(N, P))."""
    D = eta.shape[-1]
    h = lambda k: k * (1 - df1(eta, k) / P) * (N - df1(eta, k)) / D
    k_edge = interpolation_kappa(eta, torch.tensor(float(max(N, P)), dtype=torch.float64))
    grid = k_edge * torch.logspace(-6, 0, 2000, dtype=torch.float64)[:-1]
    vals = h(grid)
    top = int(vals.argmax())
    assert vals[top].item() > lam  # a naive bracket [0, k_edge] can land here
    lo, hi = grid[top], k_edge  # h decreases from its max to 0 at the edge
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if h(mid) > lam else (lo, mid)
    return 0.5 * (lo + hi)


def test_root_choice_near_the_interpolation_peak():
    task = PowerLawTask(M, 1.5, 0.4)
    eta, wbar, N, P, lam = task.eta, task.wbar, 100, 100, 1e-5
    k_bad = _spurious_root(eta, N, P, lam)
    D1, D2 = df1(eta, k_bad), df2(eta, k_bad)
    l = (N - D1) / (N - D2)
    g1 = (D1 - l * (D1 - D2)) / P
    E_bad = (k_bad ** 2 * Tp_fn(eta, wbar, k_bad) * l + k_bad * T_fn(eta, wbar, k_bad) * (1 - l)) / (1 - g1)
    assert D1.item() > max(N, P) and E_bad.item() < 0  # the spurious root gives a negative E_g
    th = rf_theory(eta, wbar, N, P, lam)
    assert th.Df1.item() < min(N, P) and th.E_g.item() > 0
    # on a grid around N ~ P at small lambda every error term is non-negative
    Ns = torch.tensor([80.0, 95.0, 100.0, 105.0, 130.0], dtype=torch.float64)[:, None]
    lams = torch.tensor([0.0, 1e-8, 1e-6, 1e-4], dtype=torch.float64)
    g = rf_theory(eta, wbar, Ns, P, lams, 0.2)
    assert bool((g.Df1 <= torch.minimum(Ns, torch.tensor(float(P))) + 1e-9).all())
    for part in (g.E_g, g.bias2, g.var_F, g.var_X, g.var_eps, g.E_tr):
        assert bool((part >= -1e-15).all())
    # the chosen root solves the equation
    lam_back = g.k2 * (1 - g.Df1 / P) * (Ns - g.Df1) / M
    assert torch.allclose(lam_back[:, 1:], lams[1:].expand(5, 3), rtol=1e-6, atol=1e-14)


def test_variance_split_with_separate_seeds():
    """bias^2, Var_F, Var_X, Var_eps measured with independent data and projection seeds (nested design)."""
    N, P, lam, sigma, nF, nX = 100, 150, 1e-3, 0.5, 16, 16
    task = PowerLawTask(M, 1.5, 0.4, sigma)
    fseeds = [f for f in range(nF) for _ in range(nX)]
    dseeds = [1000 + d for _ in range(nF) for d in range(nX)]
    X, y = sample_dataset(task, P, dseeds)
    F = sample_projection(M, N, fseeds)
    w_noisy = ridge_weights(X, y, [lam], F)[:, 0]
    w_clean = ridge_weights(X, X @ task.wbar, [lam], F)[:, 0].reshape(nF, nX, M)  # E_eps[w | X, F]
    q = lambda w: (w * w * task.eta).sum(-1)  # |w|_Sigma^2
    var_eps = (population_loss(w_noisy, task.eta, task.wbar)
               - population_loss(w_clean.reshape(-1, M), task.eta, task.wbar)).mean()
    m_F = w_clean.mean(1)  # [nF, M] ~ E_X[w | F]
    var_X = (q(w_clean - m_F[:, None]).sum(1) / (nX - 1)).mean()
    m = m_F.mean(0)
    s2 = q(m_F - m).sum() / (nF - 1)  # = Var_F + Var_X / nX
    bias2 = q(m - task.wbar) - s2 / nF
    var_F = s2 - var_X / nX
    th = rf_theory(task.eta, task.wbar, N, P, lam, sigma)
    for got, want, tol in ((bias2, th.bias2, 0.05), (var_F, th.var_F, 0.1), (var_X, th.var_X, 0.1),
                           (var_eps, th.var_eps, 0.05)):
        assert got.item() == pytest.approx(want.item(), rel=tol)


def test_gcv_on_features_estimates_k1_and_the_test_loss():
    N, P, sigma = 100, 150, 0.5
    task = PowerLawTask(M, 1.5, 0.4, sigma)
    X, y = sample_dataset(task, P, SEEDS)
    F = sample_projection(M, N, SEEDS)
    lam = torch.tensor([1e-3, 1e-2], dtype=torch.float64)
    est = gcv(X @ F, y, lam)
    th = rf_theory(task.eta, task.wbar, N, P, lam, sigma)
    assert torch.allclose(est["kappa_hat"].mean(0), th.k1, rtol=0.03)
    for j in range(2):
        _close(th.test_loss[j].item(), est["test_loss_hat"][:, j])


def test_kappa_tilde_relation():
    """k1 = lambda/(1 - Df1/P) = k2 (N - Df1)/D at the solution (SCIENCE.md's two forms agree)."""
    task = PowerLawTask(M, 1.5, 0.4)
    th = rf_theory(task.eta, task.wbar, 80, 300, 1e-3)
    assert th.k1.item() == pytest.approx(1e-3 / (1 - th.Df1.item() / 300), rel=1e-9)
    assert th.k1.item() == pytest.approx(kappa_tilde(task.eta, 80, th.k2).item(), rel=1e-9)


@pytest.mark.parametrize("kw, key", [
    (dict(N=0, P=10, lam=1e-3), "theory.N"),
    (dict(N=10, P=0, lam=1e-3), "theory.P"),
    (dict(N=10, P=10, lam=-1.0), "theory.lambda"),
])
def test_bad_input(kw, key):
    task = PowerLawTask(20, 1.5, 0.4)
    with pytest.raises(ConfigError) as err:
        rf_k2(task.eta, **kw)
    assert err.value.key == key
