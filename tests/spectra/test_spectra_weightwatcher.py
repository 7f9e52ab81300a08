"""Agreement with WeightWatcher 0.7.7 (svd_method="accurate", its default "ww" power-law fitter) on the same
matrices: the zoo of reference.matrix_zoo (shapes 30x19 .. 500x100 in both orientations, Student-t entries from
near-Gaussian to very heavy-tailed, spiked, power-law spectra alpha 1.5-6, rank-deficient, ESDs with 9-19
eigenvalues that take WeightWatcher's small-sample branch) plus Conv2d kernels."""
import numpy as np
import pytest
import scipy.linalg as sl
import torch

pytest.importorskip("weightwatcher")

from toymodels.metrics.spectra import (analyze, conv2d_slices, fit_mp, jensen_shannon_distance,  # noqa: E402
                                       kde_linear)
from toymodels.metrics.spectra.reference import heavy_tailed, matrix_zoo, weightwatcher_details  # noqa: E402

ZOO = matrix_zoo(0)
NAMES = [n for n, _ in ZOO]
# MP fits are slow in WeightWatcher (~0.5 s per layer): a subset covering Q = 1 (quarter circle), Q > 1, spikes,
# a 12-eigenvalue ESD and a rank-deficient one.
MP_SUBSET = ["t1.5_256x256", "t4_100x400", "gauss_spiked_400x150", "t3_50x12", "t3_rank60_200x80"]
CONV = [("conv_32x16x3x3", heavy_tailed(32 * 9, 16, 3.0, 91).reshape(32, 16, 3, 3)),
        ("conv_8x8x3x3", heavy_tailed(8 * 9, 8, 4.0, 92).reshape(8, 8, 3, 3))]


@pytest.fixture(scope="module")
def ww_details():
    mats = [w for _, w in ZOO] + [w for _, w in CONV]
    d = weightwatcher_details(mats, mp_fit=False, randomize=False, detX=True,
                              conv2d=[False] * len(ZOO) + [True] * len(CONV))
    assert len(d) == len(mats)
    return {name: d.iloc[i] for i, name in enumerate(NAMES + [n for n, _ in CONV])}


@pytest.fixture(scope="module")
def ww_mp():
    d = weightwatcher_details([dict(ZOO)[n] for n in MP_SUBSET], mp_fit=True, randomize=False, detX=False)
    return {name: d.iloc[i] for i, name in enumerate(MP_SUBSET)}


@pytest.fixture(scope="module", params=["eigh", "svd"])
def ours(request):
    mats = {n: torch.from_numpy(w) for n, w in ZOO}
    mats.update({n: conv2d_slices(torch.from_numpy(w)) for n, w in CONV})
    res = analyze(mats, method=request.param, randomize=False, min_evals=1)
    return {n: {k: v[0].item() for k, v in cols.items()} for n, cols in res.items()}


def _rel(a, b):
    return abs(a - b) / max(abs(b), 1e-300)


def test_zoo_covers_the_regimes(ww_details):
    alphas = [ww_details[n]["alpha"] for n in NAMES]
    assert min(alphas) < 2.0 and max(alphas) > 6.0  # very heavy-tailed and weakly correlated layers
    assert sum(ww_details[n]["M"] < 20 for n in NAMES) >= 3  # the small-sample branch
    assert any(ww_details[n]["N"] == ww_details[n]["M"] for n in NAMES)  # Q = 1


@pytest.mark.parametrize("name", NAMES + [n for n, _ in CONV])
def test_power_law_fit(name, ours, ww_details):
    r, w = ours[name], ww_details[name]
    assert (r["N"], r["M"], r["rf"]) == (w["N"], w["M"], w["rf"])
    assert abs(r["alpha"] - w["alpha"]) < 0.01
    assert _rel(r["alpha"], w["alpha"]) < 1e-9  # in fact the same number up to rounding
    assert _rel(r["xmin"], w["xmin"]) < 1e-9  # the same eigenvalue chosen as xmin
    assert r["num_pl_spikes"] == w["num_pl_spikes"]
    assert _rel(r["xmax"], w["xmax"]) < 1e-9
    assert abs(r["D"] - w["D"]) < 1e-9
    assert _rel(r["sigma"], w["sigma"]) < 1e-9
    assert r["fit_small_n"] == (w["M"] * w["rf"] < 20)


@pytest.mark.parametrize("name", NAMES + [n for n, _ in CONV])
def test_detx_and_norms(name, ours, ww_details):
    r, w = ours[name], ww_details[name]
    assert r["detX_num"] == w["detX_num"] and r["num_ERG_spikes"] == w["num_ERG_spikes"]
    assert r["ERG_gap"] == w["ERG_gap"]
    assert _rel(r["detX_val"], w["detX_val"]) < 1e-9
    assert _rel(r["detX_val_unrescaled"], w["detX_val_unrescaled"]) < 1e-9
    for k in ("log_norm", "log_spectral_norm", "alpha_weighted", "log_alpha_norm", "stable_rank", "norm",
              "spectral_norm", "lambda_max", "sv_max", "sv_min", "entropy"):
        assert _rel(r[k], w[k]) < 1e-8, k
    for k in ("matrix_rank", "rank_loss", "weak_rank_loss", "num_evals"):
        assert r[k] == w[k], k


def test_rank_deficient_matrix_is_seen_as_such(ours, ww_details):
    r = ours["t3_rank60_200x80"]
    assert r["matrix_rank"] == ww_details["t3_rank60_200x80"]["matrix_rank"] == 60
    assert r["rank_loss"] == 20


def test_rank_of_a_rounded_low_rank_product():
    """A rank-60 product rounded to float32 has 20 singular values ~1e-8 sigma_max: WeightWatcher and
    method="svd" count them (rank 80), method="eigh" cannot resolve them and reports 60 (see norms.py)."""
    g = np.random.default_rng(0)
    W = (heavy_tailed(200, 60, 3.0, 15).astype(np.float64) @ g.standard_normal((60, 80)) / 8).astype(np.float32)
    w = weightwatcher_details([W], mp_fit=False, randomize=False).iloc[0]
    svd = analyze({"w": torch.from_numpy(W)}, method="svd", mp_fit=False, randomize=False)["w"]
    eigh = analyze({"w": torch.from_numpy(W)}, method="eigh", mp_fit=False, randomize=False)["w"]
    assert w["matrix_rank"] == svd["matrix_rank"].item() == 80 and svd["rank_loss"].item() == w["rank_loss"] == 0
    assert _rel(svd["entropy"].item(), w["entropy"]) < 1e-9
    assert eigh["matrix_rank"].item() == 60 and eigh["rank_loss"].item() == 20
    for k in ("alpha", "xmin", "D", "detX_val", "log_norm"):  # the ESD-level metrics do not care
        assert _rel(eigh[k].item(), w[k]) < 1e-9 and _rel(svd[k].item(), w[k]) < 1e-9, k
    assert eigh["num_pl_spikes"].item() == svd["num_pl_spikes"].item() == w["num_pl_spikes"]


@pytest.mark.parametrize("name", MP_SUBSET)
def test_mp_fit(name, ours, ww_mp):
    r, w = ours[name], ww_mp[name]
    assert r["num_spikes"] == w["num_spikes"]
    for k in ("sigma_mp", "mp_softrank", "bulk_max", "bulk_min", "W_scale"):
        assert _rel(r[k], w[k]) < 1e-6, k


def test_mp_fit_direct_on_spiked_and_square_esds():
    """WeightWatcher's mp_fit method called on eigenvalues directly (no layer machinery)."""
    import weightwatcher as ww

    watcher = ww.WeightWatcher()
    for N, M, mu, spikes in ((160, 160, 3.0, 0), (400, 100, 1e6, 4), (120, 40, 2.0, 0)):
        W = heavy_tailed(N, M, mu, N + M, spikes=spikes).astype(np.float64)
        ev = np.sort(sl.svd(W, compute_uv=False) ** 2)
        want = watcher.mp_fit(ev, N, M, 1, "x", 0, 0, False, False, "", "b", 0.5, True, ev)
        got = fit_mp(torch.from_numpy(ev)[None], N, M)
        names = ("num_spikes", "sigma_mp", "mp_softrank", "bulk_min", "bulk_max", "W_scale")
        for k, v in zip(names, want):
            assert _rel(got[k].item(), v) < 1e-9, (N, M, k)
        if spikes:
            assert want[0] >= spikes


def test_mp_plateau_is_a_tie_not_an_error():
    """The one zoo matrix whose MP fit differs (t2_40x9): two eigenvalues closer than the KDE bandwidth give the
    density an exactly flat top; WeightWatcher's peak is wherever its rounding puts the maximum, ours is the
    plateau's first point. Both are maxima to 1e-12."""
    W = dict(ZOO)["t2_40x9"].astype(np.float64)
    ev = np.sort(sl.svd(W, compute_uv=False) ** 2)
    x = ev * len(ev) / ev.sum()
    grid = torch.linspace(0, float(x.max()) + 0.5, 1000, dtype=torch.float64)[None]
    y = kde_linear(torch.from_numpy(x)[None], grid)[0]
    at_max = (y >= y.max() * (1 - 1e-12)).nonzero()[:, 0]
    assert len(at_max) >= 2


def test_randomized_metrics_reproduce_weightwatcher_shuffles():
    """Seed numpy, let WeightWatcher shuffle, replay its numpy shuffles here: rand_distance, max_rand_eval,
    ww_softrank and the shuffled-ESD MP fit (num_traps) agree to rounding."""
    mats = [heavy_tailed(64, 16, 3.0, 1), heavy_tailed(150, 120, 2.5, 2)]  # 16 evals -> 5 replicas; 120 -> 1
    d = weightwatcher_details(mats, mp_fit=False, randomize=True, detX=False, np_seed=123)
    np.random.seed(123)
    for i, W in enumerate(mats):
        ev = np.sort(sl.svd(W.astype(np.float64), compute_uv=False) ** 2)

        def shuffled_esd():
            w = W.flatten()
            np.random.shuffle(w)
            return np.sort(sl.svd(w.reshape(W.shape).astype(np.float64), compute_uv=False) ** 2)

        replicas = 5 if len(ev) < 100 else 1
        pooled = np.sort(np.concatenate([shuffled_esd() for _ in range(replicas)]))
        single = shuffled_esd()
        row = d.iloc[i]
        js = jensen_shannon_distance(torch.from_numpy(ev)[None], torch.from_numpy(single)[None]).item()
        assert _rel(js, row["rand_distance"]) < 1e-9
        assert _rel(pooled.max(), row["max_rand_eval"]) < 1e-12
        assert _rel(single.max() / ev.max(), row["ww_softrank"]) < 1e-12
        fit = fit_mp(torch.from_numpy(pooled)[None], max(W.shape), min(W.shape))
        assert fit["num_spikes"].item() == row["num_traps"]
        assert _rel(fit["sigma_mp"].item(), row["rand_sigma_mp"]) < 1e-9
        assert _rel(fit["bulk_max"].item(), row["rand_bulk_max"]) < 1e-9


def test_rand_distance_statistically_matches_numpy_shuffles():
    """Our seeded torch shuffles vs WeightWatcher's procedure (numpy.random.shuffle, scipy SVD): 24 draws each,
    the means agree within 4 standard errors."""
    W = heavy_tailed(160, 80, 2.0, 7, spikes=2)
    n = 24
    stack = torch.from_numpy(np.repeat(W[None], n, axis=0))
    ours = analyze({"w": stack}, seed=list(range(n)), mp_fit=False, detX=False, fit=False)["w"]["rand_distance"]
    ours = ours.numpy()
    assert len(set(np.round(ours, 12))) == n  # different seeds, different shuffles
    ev = torch.from_numpy(np.sort(sl.svd(W.astype(np.float64), compute_uv=False) ** 2))[None]
    rng = np.random.RandomState(5)
    ref = []
    for _ in range(n):
        w = W.flatten()
        rng.shuffle(w)
        sh = np.sort(sl.svd(w.reshape(W.shape).astype(np.float64), compute_uv=False) ** 2)
        ref.append(jensen_shannon_distance(ev, torch.from_numpy(sh)[None]).item())
    ref = np.array(ref)
    se = np.sqrt(ours.var(ddof=1) / n + ref.var(ddof=1) / n)
    assert abs(ours.mean() - ref.mean()) < 4 * se
