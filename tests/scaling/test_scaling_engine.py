"""The regression engine: each member is exactly gradient descent on its own data at its own N, P and lr (padding
inert, the ensemble's composition irrelevant), minibatches per member, exact population loss, held-out loss for
nonlinear features, the closed-form t -> infinity limit and GCV."""
import pytest
import torch

from tests.scaling.helpers import config, engine_of
from toymodels.regression.gcv import gcv_limit
from toymodels.tasks.powerlaw import PowerLawTask, population_loss, sample_dataset, sample_projection
from toymodels.theory.gaussian_equivalence import ge_features, preactivation_variance
from toymodels.theory.random_features import sigma_F2
from toymodels.theory.ridge import gcv
from toymodels.theory.simulate import gd_weights, ridge_weights

MIXED = [{"seed": 0}, {"seed": 1, "model.width": 7, "task.train_size": 13, "optimizer.lr": 0.3},
         {"seed": 2, "model.width": 60, "task.train_size": 90, "task.noise_std": 0.0},
         {"seed": 3, "streams.data": 0, "streams.noise": 5}]


@pytest.mark.parametrize("model", ["random_features", "linear"])
def test_members_are_exact_gd_on_their_own_data(model):
    """Through the engine's training step: every member equals simulate.gd_weights (exact spectral GD) on the data
    its seeds give it, at its own N, P, lr and sigma."""
    members = [{k: v for k, v in m.items() if model == "random_features" or k != "model.width"} for m in MIXED]
    width = {"width": 30} if model == "random_features" else {}
    eng = engine_of(config(task={"dim": 40, "train_size": 50, "noise_std": 0.3}, model={"name": model, **width},
                           members=members))
    steps = 37
    for s in range(steps):
        eng.train_step(s)
    task = PowerLawTask(40, 1.5, 0.4)
    test = eng.evaluate()["test_loss"]
    for e, m in enumerate(members):
        P, lr = m.get("task.train_size", 50), m.get("optimizer.lr", 0.2)
        sigma = m.get("task.noise_std", 0.3)
        X, y = sample_dataset(PowerLawTask(40, 1.5, 0.4, sigma), P, [m.get("streams.data", m["seed"])],
                              noise_seeds=[m.get("streams.noise", m["seed"])])
        F = sample_projection(40, m.get("model.width", 30), [m["seed"]]) if model == "random_features" else None
        w = gd_weights(X, y, [steps], lr, F)[:, 0]
        ref = population_loss(w, task.eta, task.wbar, sigma, include_noise=True)[0]
        assert test[e].item() == pytest.approx(ref.item(), rel=1e-10)
        n = eng.model.widths[e]
        assert torch.all(eng.model.v[e, n:] == 0)  # padded features never move


def test_member_alone_equals_member_in_ensemble_with_sgd():
    """Minibatch SGD (B = 7): member 1 of a mixed ensemble follows the same trajectory as the same member alone."""
    cfg = config(task={"train_size": 40}, train={"batch_size": 7}, members=MIXED[:3])
    ens = engine_of(cfg)
    alone = engine_of({**cfg, "members": [MIXED[1]]})
    for s in range(25):
        ens.train_step(s)
        alone.train_step(s)
    n = alone.model.v.shape[1]
    assert torch.allclose(ens.model.v[1, :n], alone.model.v[0], rtol=1e-12, atol=1e-14)
    assert torch.all(ens.model.v[1, n:] == 0)


def test_one_batch_per_epoch_is_full_batch_gd():
    """SGD whose batch holds a member's whole training set is full-batch GD (same rows, each member's own P)."""
    gd = engine_of(config(members=MIXED[:3]))
    sgd = engine_of(config(members=MIXED[:3], train={"batch_size": 90}))
    for s in range(20):
        gd.train_step(s)
        sgd.train_step(s)
    assert torch.allclose(gd.model.v, sgd.model.v, rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("act", ["relu", "tanh"])
def test_nonlinear_features_and_heldout_loss(act):
    """sigma(F^T x) - mu0 as ``gaussian_equivalence.ge_features``; the test loss is the held-out MSE."""
    eng = engine_of(config(model={"act": act}, task={"test_size": 50, "noise_std": 0.1}, seeds=[0, 1]))
    task = PowerLawTask(32, 1.5, 0.4, 0.1)
    X, y = sample_dataset(task, 64, [0, 1])
    F = sample_projection(32, 16, [0, 1])
    Z = ge_features(X, F, preactivation_variance(task.eta), act)
    assert torch.allclose(eng.data.Z, Z, rtol=1e-12, atol=1e-12)
    for s in range(10):
        eng.train_step(s)
    v = eng.model.v.detach()
    pred = torch.einsum("etn,en->et", eng.data.Z_test, v)
    assert torch.allclose(eng.evaluate()["test_loss"], ((pred - eng.data.y_test) ** 2).mean(1))


def test_limit_is_ridge_and_gd_converges_to_it():
    """The closed-form t -> infinity limit equals simulate.ridge_weights per member (lambda = 0 and > 0); GD on
    the ridge objective reaches it; GCV at fixed lambda equals theory.ridge.gcv."""
    members = [{"seed": 0, "model.ridge": 0.1}, {"seed": 1, "model.width": 24, "task.train_size": 40,
                                                 "model.ridge": 0.05}, {"seed": 2}]
    eng = engine_of(config(task={"noise_std": 0.2}, optimizer={"lr": 0.5}, members=members))
    lim = eng.limit()
    task = PowerLawTask(32, 1.5, 0.4, 0.2)
    for e, m in enumerate(members):
        P, N, lam = m.get("task.train_size", 64), m.get("model.width", 16), m.get("model.ridge", 0.0)
        X, y = sample_dataset(task, P, [m["seed"]])
        Z = X @ sample_projection(32, N, [m["seed"]])
        v = ridge_weights(Z, y, [lam])[0, 0]
        assert torch.allclose(lim["v"][e, :N], v, rtol=1e-9, atol=1e-11)
        if lam > 0:
            mine = gcv_limit(lim["train_loss"], lim["spectra"], eng.ridge, eng.data.n_train, eng.data.widths)[e]
            assert mine.item() == pytest.approx(gcv(Z, y, lam)["test_loss_hat"][0].item(), rel=1e-9)
    for s in range(600):  # contraction <= 1 - 2 lr lambda <= 0.95 per step: 0.95^600 = 4e-14
        eng.train_step(s)
    for e in (0, 1):
        assert torch.allclose(eng.model.v[e], lim["v"][e], rtol=1e-8, atol=1e-10)


def test_projection_loss_is_the_model_limited_loss():
    """P, t -> infinity loss from F alone: the direct least squares per member, and over 40 seeds within 3 SEM + 3%
    of sigma_F^2(N) (SCIENCE.md's model-limited loss kappa T(kappa))."""
    eng = engine_of(config(task={"dim": 64, "noise_std": 0.1}, model={"width": 12}, seeds=list(range(40))))
    proj = eng.limit()["projection_test_loss"]
    task = PowerLawTask(64, 1.5, 0.4)
    F = sample_projection(64, 12, [3])[0]
    v = torch.linalg.lstsq(task.eta.sqrt()[:, None] * F, (task.eta.sqrt() * task.wbar)[:, None]).solution[:, 0]
    assert proj[3].item() == pytest.approx(population_loss(F @ v, task.eta, task.wbar, 0.1, True).item(), rel=1e-10)
    theory = sigma_F2(task.eta, task.wbar, 12.0).item() + 0.01
    sem = proj.std().item() / 40 ** 0.5
    assert abs(proj.mean().item() - theory) < 3 * sem + 0.03 * theory
