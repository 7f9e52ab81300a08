"""The spectral metrics against their definitions (SCIENCE.md section 3), batching, seeding and input errors.
No WeightWatcher here (see test_spectra_weightwatcher.py for the agreement tests)."""
import math

import numpy as np
import pytest
import scipy.linalg as sl
import scipy.optimize
import scipy.stats
import torch

from toymodels.errors import ConfigError
from toymodels.metrics.spectra import (analyze, conv2d_slices, detx_metrics, eigenvalues, esd_stack, fit_mp,
                                       fit_power_law, format_table, jensen_shannon_distance, kde_linear,
                                       shuffle_stack, strip_zero_padding, summary, to_rows)
from toymodels.metrics.spectra.mp_fit import _arange_grid, _nelder_mead_1d
from toymodels.metrics.spectra.reference import heavy_tailed


def _svd_evals(W: np.ndarray) -> np.ndarray:
    return np.sort(sl.svd(np.asarray(W, dtype=np.float64), compute_uv=False) ** 2)


# ------------------------------------------------------------------------------------------------ ESD


@pytest.mark.parametrize("method", ["eigh", "svd"])
@pytest.mark.parametrize("shape", [(200, 80), (64, 64), (50, 300)])
def test_esd_is_float64_squared_singular_values(method, shape):
    W = heavy_tailed(*shape, 2.5, 1)
    got = esd_stack(torch.from_numpy(W), method=method)  # [1, 1, M]
    ref = _svd_evals(W)
    assert got.shape == (1, 1, min(shape)) and got.dtype == torch.float64
    assert np.all(np.diff(got[0, 0].numpy()) >= 0)
    assert np.abs(got[0, 0].numpy() - ref).max() / ref[-1] < 1e-12


def test_float64_keeps_small_eigenvalues_that_float32_gram_loses():
    """SCIENCE.md: eigvalsh of W^T W in float32 corrupts the small eigenvalues; our float32 input is upcast."""
    g = np.random.default_rng(0)
    U, _ = np.linalg.qr(g.standard_normal((120, 60)))
    V, _ = np.linalg.qr(g.standard_normal((60, 60)))
    s = np.logspace(-3, 1, 60)
    W = ((U * s) @ V.T).astype(np.float32)
    ref = _svd_evals(W)  # float64 SVD of the float32 matrix
    for method in ("eigh", "svd"):
        ours = eigenvalues(torch.from_numpy(W), method).numpy()
        assert abs(ours[0] - ref[0]) / ref[0] < 1e-4, method
    Wt = torch.from_numpy(W)
    f32 = torch.linalg.eigvalsh(Wt.T @ Wt).numpy()
    assert abs(f32[0] - ref[0]) / ref[0] > 0.1  # the float32 Gram route is off by > 10% at the bottom


def test_setol_normalisation_divides_by_N_and_keeps_scale_free_metrics():
    W = {"a": torch.from_numpy(heavy_tailed(300, 100, 2.5, 3)), "b": torch.from_numpy(heavy_tailed(90, 40, 3, 4))}
    ww = analyze(W, seed=1)
    se = analyze(W, seed=1, normalize="setol")
    for name, N in (("a", 300), ("b", 90)):
        for k in ("alpha", "D", "sigma", "stable_rank", "mp_softrank", "sigma_mp", "rand_distance", "entropy"):
            assert torch.allclose(ww[name][k], se[name][k], rtol=1e-9), k
        for k in ("num_pl_spikes", "detX_num", "num_spikes", "num_traps", "matrix_rank"):
            assert torch.equal(ww[name][k], se[name][k]), k
        for k in ("xmin", "xmax", "lambda_max", "detX_val", "bulk_max", "max_rand_eval"):
            assert torch.allclose(ww[name][k] / N, se[name][k], rtol=1e-9), k
        assert torch.allclose(ww[name]["log_norm"] - math.log10(N), se[name]["log_norm"], rtol=1e-9)


def test_conv2d_slices_are_kernel_positions():
    w = torch.randn(6, 4, 3, 2, dtype=torch.float64)
    sl_ = conv2d_slices(w)  # [1, 6, 6, 4]
    assert sl_.shape == (1, 6, 6, 4)
    for i in range(3):
        for j in range(2):
            assert torch.allclose(sl_[0, i * 2 + j], w[:, :, i, j] * math.sqrt(0.5))
    assert torch.equal(conv2d_slices(w, ww_conv2d_norm=False)[0, 5], w[:, :, 2, 1])
    ev = esd_stack(sl_)  # pooled count: kh * kw * M
    assert ev.shape == (1, 6, 4)


def test_strip_zero_padding():
    W = torch.zeros(7, 5)
    W[:4, :3] = torch.randn(4, 3)
    assert strip_zero_padding(W).shape == (4, 3)
    assert torch.equal(strip_zero_padding(W), W[:4, :3])


# ----------------------------------------------------------------------------------------- power law


def _wwfit_by_definition(ev: np.ndarray, thresh=1e-5):
    """SCIENCE.md / WeightWatcher 0.7.7's WWFit written out as a plain loop over candidate xmins."""
    x = np.sort(ev[ev > thresh])
    n = len(x)
    small = n < 20
    alphas, Ds = np.zeros(n - 1), np.ones(n - 1)
    for i in range(n - 1):
        t = n - i
        s = sum(math.log(v / x[i]) for v in x[i:])
        if small and (t < 8 or s <= 1e-12):
            continue
        a = 1 + ((t - 1) if small else t) / s
        alphas[i] = a
        if a > 1:
            Ds[i] = max(abs(1 - (x[i + k] / x[i]) ** (1 - a) - k / t) for k in range(t))
    sigmas = (alphas - 1) / np.sqrt(n - np.arange(n - 1))
    if small and not any(t >= 8 for t in range(n, 1, -1)):  # no tail of 8: the whole sample
        s = sum(math.log(v / x[0]) for v in x)
        if s > 1e-12:
            alphas[0] = 1 + (n - 1) / s
            Ds[0] = max(abs(1 - (x[k] / x[0]) ** (1 - alphas[0]) - k / n) for k in range(n))
    i = int(np.argmin(Ds))
    return dict(alpha=alphas[i], xmin=x[i], D=Ds[i], sigma=sigmas[i], num_pl_spikes=int((ev >= x[i]).sum()))


def test_power_law_fit_matches_its_definition():
    g = np.random.default_rng(11)
    for trial in range(60):
        n = int(g.choice([3, 5, 8, 12, 19, 20, 40, 150]))
        ev = np.sort(np.concatenate([np.zeros(trial % 3), g.pareto(g.uniform(0.7, 4), size=n) + 0.01]))
        ref = _wwfit_by_definition(ev)
        got = fit_power_law(torch.from_numpy(ev)[None])
        assert got["xmin"].item() == ref["xmin"]
        assert got["num_pl_spikes"].item() == ref["num_pl_spikes"]
        assert abs(got["alpha"].item() - ref["alpha"]) < 1e-10 * max(1, ref["alpha"])
        assert abs(got["D"].item() - ref["D"]) < 1e-12
        assert abs(got["sigma"].item() - ref["sigma"]) < 1e-10 * max(1, abs(ref["sigma"]))
        assert got["num_fit_evals"].item() == n and got["fit_small_n"].item() == (n < 20)


def test_power_law_fit_recovers_a_pareto_exponent():
    g = np.random.default_rng(3)
    for alpha in (1.8, 2.5, 4.0):
        sample = np.sort(g.pareto(alpha - 1, size=3000) + 1.0)  # density ~ x^-alpha for x >= 1
        got = fit_power_law(torch.from_numpy(sample)[None])
        assert abs(got["alpha"].item() - alpha) < 0.15, alpha
        assert got["sigma"].item() == pytest.approx((got["alpha"].item() - 1) / math.sqrt(
            got["num_pl_spikes"].item()), rel=1e-9)


def test_power_law_fit_is_batched_and_isolates_bad_members():
    g = np.random.default_rng(5)
    rows = [np.sort(np.concatenate([np.zeros(k), g.pareto(2.0, 60 - k) + 0.1])) for k in (0, 3, 7, 45, 50, 58)]
    batch = torch.from_numpy(np.stack(rows))
    batch_nan = batch.clone()
    batch_nan[2, 10] = math.nan
    together = fit_power_law(batch)
    with_nan = fit_power_law(batch_nan)
    for e in range(6):
        alone = fit_power_law(batch[e:e + 1])
        for k, v in together.items():
            assert torch.equal(v[e], alone[k][0]), (e, k)
            if e != 2:
                assert torch.equal(with_nan[k][e], v[e]), (e, k)
    assert math.isnan(with_nan["alpha"][2]) and not with_nan["fit_ok"][2] and with_nan["num_pl_spikes"][2] == -1
    assert together["num_fit_evals"].tolist() == [60, 57, 53, 15, 10, 2]
    # two eigenvalues above 1e-5: the small-sample fallback fits both (WeightWatcher's sigma = -1/sqrt(n) there)
    x0, x1 = rows[5][-2:]
    assert together["fit_ok"][5] and together["fit_small_n"][5]
    assert together["alpha"][5].item() == pytest.approx(1 + 1 / math.log(x1 / x0), rel=1e-12)
    assert together["sigma"][5].item() == pytest.approx(-1 / math.sqrt(2), rel=1e-12)


# ----------------------------------------------------------------------------------------------- detX


def _detx_by_products(ev: np.ndarray):
    x = ev * len(ev) / ev.sum()
    for idx in range(len(x) - 1, 0, -1):
        if np.prod(x[idx:]) < 1.0:
            return len(x) - idx, idx
    return len(x), 1


def test_detx_matches_the_product_definition():
    g = np.random.default_rng(2)
    for trial in range(40):
        ev = np.sort(np.concatenate([np.zeros(trial % 4), g.gamma(g.uniform(0.3, 3), size=int(g.integers(5, 200)))]))
        num, idx = _detx_by_products(ev)
        got = detx_metrics(torch.from_numpy(ev)[None])
        assert got["detX_num"].item() == num
        assert got["detX_val"].item() == pytest.approx(ev[idx], rel=1e-12)


def test_detx_uses_logs_where_products_overflow():
    """900 eigenvalues of 3 and 2100 of 1/7 (mean 1): 3^900 overflows and (1/7)^600 underflows float64, so
    the product route stops at the wrong tail; sums of logs find the right one."""
    ev = np.sort(np.concatenate([np.full(2100, 1 / 7), np.full(900, 3.0)]))
    x = ev * len(ev) / ev.sum()
    tail = np.array([math.fsum(np.log(x[p:])) for p in range(len(x))])
    want = max(p for p in range(1, len(x)) if tail[p] < 0)
    with np.errstate(over="ignore", under="ignore"):
        assert _detx_by_products(ev)[1] != want
    got = detx_metrics(torch.from_numpy(ev)[None], torch.tensor([10]), torch.tensor([ev[-10]]))
    assert got["detX_num"].item() == len(x) - want
    assert got["ERG_gap"].item() == len(x) - want - 10
    assert got["detX_delta"].item() == pytest.approx(ev[-10] - ev[want])


def test_detx_edge_cases():
    flat = detx_metrics(torch.ones(1, 10, dtype=torch.float64))
    assert flat["detX_num"].item() == 0
    no_tail = detx_metrics(torch.tensor([[0.0, 1.5, 1.5]], dtype=torch.float64))  # every tail product >= 1
    assert no_tail["detX_num"].item() == 3 and no_tail["detX_val"].item() == 1.5


# -------------------------------------------------------------------------------------------------- MP


def test_kde_and_sigma_grid_are_exact():
    g = np.random.default_rng(4)
    d = np.sort(g.gamma(2.0, 0.5, size=(3, 200)), axis=1)
    x = np.linspace(0, d.max() + 0.5, 1000)
    direct = np.clip(1 - np.abs(x[None, :, None] - d[:, None, :]) / 0.1, 0, None).sum(-1) / (200 * 0.1)
    got = kde_linear(torch.from_numpy(d), torch.from_numpy(np.repeat(x[None], 3, 0)))
    assert np.abs(got.numpy() - direct).max() < 1e-12
    s = torch.from_numpy(g.uniform(0.05, 20, 500))
    grid, length = _arange_grid(0.05 * s, 2.0 * s, 0.01 * s)
    for i in range(500):
        ref = np.arange(0.05 * s[i].item(), 2.0 * s[i].item(), 0.01 * s[i].item())
        assert length[i] == len(ref) and np.array_equal(grid[i, :len(ref)].numpy(), ref)


def test_nelder_mead_matches_scipy_fmin():
    centres = torch.tensor([0.3, 1.0, 2.5, 7.0], dtype=torch.float64)

    def f_torch(x):  # [E, P]; a plateau (constant penalty) left of 0.2 exercises the shrink steps
        c = centres[:, None]
        return torch.where(x < 0.2, torch.full_like(x, 5.0), (x - c) ** 2 + 0.1 * torch.cos(5 * x))

    for e, c in enumerate(centres.tolist()):
        def f_np(x):
            x = float(np.asarray(x).ravel()[0])
            return 5.0 if x < 0.2 else (x - c) ** 2 + 0.1 * math.cos(5 * x)

        for start in (0.1, c * 0.5 + 0.3):
            want = scipy.optimize.fmin(f_np, start, disp=False)[0]
            got = _nelder_mead_1d(f_torch, torch.full((4,), start, dtype=torch.float64),
                                  torch.ones(4, dtype=torch.bool))[e].item()
            assert got == want, (c, start)


def test_mp_fit_of_random_and_spiked_matrices():
    N, M = 1000, 250
    g = np.random.default_rng(8)
    W = g.standard_normal((N, M))
    spiked = W + sum(6.0 * np.outer(g.standard_normal(N), g.standard_normal(M)) / math.sqrt(M) for _ in range(4))
    fits = fit_mp(torch.from_numpy(np.stack([_svd_evals(W), _svd_evals(spiked)])), N, M)
    assert fits["sigma_mp"][0].item() == pytest.approx(1.0, abs=0.05)  # mean-1 rescaling: sigma = 1 for MP
    assert fits["num_spikes"][0].item() == 0
    edge = (1 + 1 / math.sqrt(N / M)) ** 2 / fits["W_scale"][0].item() ** 2
    assert fits["bulk_max"][0].item() == pytest.approx(edge, rel=0.1)
    assert fits["num_spikes"][1].item() == 4


# ------------------------------------------------------------------------------------------ randomised


def test_jensen_shannon_distance_definition():
    g = np.random.default_rng(6)
    p, q = g.gamma(1.0, size=50), g.gamma(2.0, size=50)
    m = (p + q) / 2
    want = math.sqrt((scipy.stats.entropy(p, m) + scipy.stats.entropy(q, m)) / 2)
    got = jensen_shannon_distance(torch.from_numpy(p)[None], torch.from_numpy(q)[None]).item()
    assert got == pytest.approx(want, rel=1e-12)
    assert jensen_shannon_distance(torch.from_numpy(p)[None], torch.from_numpy(p)[None]).item() == 0.0


def test_shuffles_permute_each_slice_and_depend_only_on_seed_and_stream():
    W = torch.randn(3, 2, 5, 4, dtype=torch.float64)
    sh = shuffle_stack(W, [1, 2, 3], ["s"] * 3, replicas=2)  # [E, R, S, N, M]
    assert sh.shape == (3, 2, 2, 5, 4)
    for e in range(3):
        for s in range(2):
            assert torch.equal(sh[e, 0, s].flatten().sort().values, W[e, s].flatten().sort().values)
    assert not torch.equal(sh[0, 0], sh[0, 1])  # replicas differ
    again = shuffle_stack(W[1:2], [2], ["s"], replicas=2)
    assert torch.equal(again[0], sh[1])  # member 1 alone: same shuffles
    assert not torch.equal(shuffle_stack(W[1:2], [2], ["t"], replicas=2)[0], sh[1])


def test_randomized_metrics_tell_correlations_from_heavy_entries():
    n = 8
    cases = {"gauss": heavy_tailed(160, 80, 1e6, 3), "gauss_spiked": heavy_tailed(160, 80, 1e6, 3, spikes=3),
             "t2": heavy_tailed(160, 80, 2.0, 7)}
    res = analyze({k: torch.from_numpy(np.repeat(v[None], n, 0)) for k, v in cases.items()}, seed=list(range(n)),
                  mp_fit=False, detX=False)
    rd = {k: res[k]["rand_distance"].mean().item() for k in cases}
    traps = {k: res[k]["num_traps"].float().mean().item() for k in cases}
    assert rd["gauss_spiked"] > 5 * rd["gauss"]  # spikes are correlations: shuffling removes them
    assert traps["gauss"] == 0 and traps["gauss_spiked"] == 0
    assert traps["t2"] > 5  # large entries stay spikes after shuffling: correlation traps


# -------------------------------------------------------------------------------------- analyze, batching


def test_members_do_not_depend_on_position_grouping_or_neighbours():
    A = torch.from_numpy(np.stack([heavy_tailed(120, 60, 2.5, s) for s in range(4)]))
    B = torch.from_numpy(heavy_tailed(60, 120, 3.0, 9))  # same shape after transposing: grouped with A
    both = analyze({"A": A, "B": B}, seed=3)
    alone_A = analyze({"A": A}, seed=3)["A"]
    alone_B = analyze({"B": B}, seed=3)["B"]
    one = analyze({"A": A[2:3]}, seed=3)["A"]
    for k in alone_A:
        assert torch.equal(both["A"][k], alone_A[k]), k
        assert torch.equal(both["B"][k], alone_B[k]), k
        assert torch.equal(one[k][0], alone_A[k][2]), k
    per_member = analyze({"A": A}, seed=[10, 11, 12, 13])["A"]
    single = analyze({"A": A[1:2]}, seed=[11])["A"]
    assert per_member["rand_distance"][1] == single["rand_distance"][0]


def test_lists_of_member_matrices_with_different_shapes():
    mats = [torch.from_numpy(heavy_tailed(100, 40 + 10 * e, 2.5, e)) for e in range(3)]
    res = analyze({"L": mats}, randomize=False)["L"]
    assert res["M"].tolist() == [40, 50, 60]
    for e in range(3):
        alone = analyze({"L": mats[e]}, randomize=False)["L"]
        for k in alone:
            assert torch.equal(res[k][e], alone[k][0]), k


def test_nonfinite_member_and_out_of_range_members():
    A = torch.from_numpy(np.stack([heavy_tailed(80, 40, 2.5, s) for s in range(3)]))
    bad = A.clone()
    bad[1, 3, 3] = math.inf
    clean, dirty = analyze({"A": A})["A"], analyze({"A": bad})["A"]
    for k, v in dirty.items():
        if k in ("N", "M", "Q", "rf", "num_evals"):
            continue
        assert torch.equal(v[[0, 2]], clean[k][[0, 2]]), k
        assert (math.isnan(v[1]) if v.is_floating_point() else v[1] in (-1, False)), k
    res = analyze({"tiny": torch.randn(10, 4), "mixed": [torch.randn(30, 5), torch.randn(30, 12)]})
    assert "tiny" not in res  # 4 eigenvalues < min_evals = 8, as WeightWatcher skips it
    assert math.isnan(res["mixed"]["alpha"][0]) and not math.isnan(res["mixed"]["alpha"][1])


def test_norm_metrics_definitions():
    W = heavy_tailed(150, 70, 2.5, 12).astype(np.float64)
    r = analyze({"w": torch.from_numpy(W)}, mp_fit=False, randomize=False)["w"]
    ev = _svd_evals(W)
    assert r["log_norm"].item() == pytest.approx(math.log10((W ** 2).sum()), rel=1e-12)
    assert r["log_spectral_norm"].item() == pytest.approx(math.log10(np.linalg.norm(W, 2) ** 2), rel=1e-10)
    assert r["stable_rank"].item() == pytest.approx(ev.sum() / ev[-1], rel=1e-10)
    a = r["alpha"].item()
    assert r["alpha_weighted"].item() == pytest.approx(a * math.log10(ev[-1]), rel=1e-10)
    assert r["log_alpha_norm"].item() == pytest.approx(math.log10((ev ** a).sum()), rel=1e-10)
    # no overflow where lambda^alpha does: lambda up to 1e4, alpha forced large
    big = torch.from_numpy(np.linspace(1.0, 1e4, 50))[None]
    from toymodels.metrics.spectra import norm_metrics
    out = norm_metrics(big, 100, "eigh", torch.tensor([120.0], dtype=torch.float64))
    assert out["log_alpha_norm"].item() == pytest.approx(120 * 4 + math.log10(
        sum((v / 1e4) ** 120 for v in np.linspace(1.0, 1e4, 50))), rel=1e-12)


def test_rows_summary_and_table():
    res = analyze({"a": torch.randn(2, 60, 30), "b": torch.randn(2, 40, 40)}, mp_fit=False, randomize=False)
    rows = to_rows(res)
    assert [(r["name"], r["member"]) for r in rows] == [("a", 0), ("a", 1), ("b", 0), ("b", 1)]
    assert rows[2]["layer_id"] == 1 and isinstance(rows[0]["alpha"], float) and rows[0]["N"] == 60
    s = summary(res)
    assert torch.allclose(s["alpha"], (res["a"]["alpha"] + res["b"]["alpha"]) / 2)
    assert "mp_softrank" not in s
    text = format_table(rows)
    assert len(text.splitlines()) == 5 and "alpha" in text.splitlines()[0]


@pytest.mark.parametrize("bad, kwargs", [
    (torch.randn(5), {}),
    (torch.randn(2, 2, 2, 5, 4), {}),
    (torch.ones(5, 4, dtype=torch.int64), {}),
    (torch.randn(20, 10), {"normalize": "frobenius"}),
    (torch.randn(20, 10), {"method": "qr"}),
    (torch.randn(3, 20, 10), {"seed": [1, 2]}),
    ([], {}),
])
def test_bad_input_raises_config_error(bad, kwargs):
    with pytest.raises(ConfigError):
        analyze({"w": bad}, **kwargs)
    with pytest.raises(ConfigError):
        analyze([torch.randn(5, 5)])


@pytest.mark.gpu
def test_cuda_matches_cpu():
    mats = {"a": torch.from_numpy(np.stack([heavy_tailed(300, 120, 2.5, s) for s in range(3)])),
            "b": torch.from_numpy(heavy_tailed(64, 16, 3.0, 5))}
    cpu = analyze(mats, seed=2)
    gpu = analyze({k: v.cuda() for k, v in mats.items()}, seed=2)
    for name in mats:
        for k, v in cpu[name].items():
            g = gpu[name][k].cpu()
            if v.is_floating_point():
                assert torch.allclose(g, v, rtol=1e-6, equal_nan=True), (name, k)
            else:
                assert torch.equal(g, v), (name, k)
