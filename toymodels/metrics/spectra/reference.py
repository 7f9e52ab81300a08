"""Test matrices and a driver for WeightWatcher 0.7.7 (an optional dependency, imported only when called).

Used by tests/spectra, scripts/compare_weightwatcher.py and scripts/bench_spectra.py to run WeightWatcher and
this package on the same matrices.
"""
from __future__ import annotations

import contextlib
import io
import logging
import warnings
from collections.abc import Sequence

import numpy as np
import torch


def heavy_tailed(N: int, M: int, mu: float, seed: int, spikes: int = 0) -> np.ndarray:
    """An N x M float32 matrix with Student-t(mu) entries / sqrt(N) (mu < 4: heavy-tailed ESD; mu large: MP-like),
    plus ``spikes`` rank-one signals (an ESD with outliers beyond the bulk)."""
    g = np.random.default_rng(seed)
    W = g.standard_t(mu, size=(N, M)) / np.sqrt(N)
    for k in range(spikes):
        u, v = g.standard_normal(N), g.standard_normal(M)
        W += (3.0 + k) * np.outer(u, v) / np.sqrt(N * M)
    return W.astype(np.float32)


def power_law_spectrum(N: int, M: int, alpha: float, seed: int) -> np.ndarray:
    """An N x M float32 matrix U diag(s) V^T whose squared singular values follow a Pareto law with density
    exponent ``alpha`` (eigenvalues lambda = s^2 with P(lambda) ~ lambda^-alpha above 1)."""
    g = np.random.default_rng(seed)
    lam = np.sort(g.pareto(alpha - 1.0, size=M) + 1.0)
    U, _ = np.linalg.qr(g.standard_normal((N, M)))
    V, _ = np.linalg.qr(g.standard_normal((M, M)))
    return ((U * np.sqrt(lam)) @ V.T / np.sqrt(N)).astype(np.float32)


def matrix_zoo(seed: int = 0, large: bool = False) -> list[tuple[str, np.ndarray]]:
    """Named float32 matrices: several shapes and aspect ratios (both orientations), near-random and heavy-tailed
    entries, spiked, power-law spectra (alpha 1.5-6), rank-deficient, and small ESDs (< 20 eigenvalues)."""
    s = seed * 1000
    zoo = [
        ("t2.5_300x200", heavy_tailed(300, 200, 2.5, s + 1)),
        ("t1.5_256x256", heavy_tailed(256, 256, 1.5, s + 2)),
        ("t4_100x400", heavy_tailed(100, 400, 4.0, s + 3)),  # wide: transposed
        ("t100_500x100", heavy_tailed(500, 100, 100.0, s + 4)),  # near-random
        ("gauss_spiked_400x150", heavy_tailed(400, 150, 1e6, s + 5, spikes=3)),
        ("pl2_300x120", power_law_spectrum(300, 120, 2.0, s + 6)),
        ("pl3.5_200x200", power_law_spectrum(200, 200, 3.5, s + 7)),
        ("pl1.5_250x60", power_law_spectrum(250, 60, 1.5, s + 8)),
        ("pl6_180x90", power_law_spectrum(180, 90, 6.0, s + 9)),
        ("t3_64x16", heavy_tailed(64, 16, 3.0, s + 10)),
        ("t3_50x12", heavy_tailed(50, 12, 3.0, s + 11)),  # small: 12 eigenvalues
        ("t2_40x9", heavy_tailed(40, 9, 2.0, s + 12)),  # small: 9 eigenvalues
        ("pl2.5_30x19", power_law_spectrum(30, 19, 2.5, s + 13)),  # small: 19 eigenvalues
        ("t6_128x32", heavy_tailed(128, 32, 6.0, s + 14)),  # a per-head-sized block
    ]
    low = heavy_tailed(200, 80, 3.0, s + 15)
    low[:, 60:] = 0.0  # rank-deficient: 20 zero eigenvalues
    zoo.append(("t3_rank60_200x80", low))
    if large:
        zoo += [
            ("t2.5_1024x512", heavy_tailed(1024, 512, 2.5, s + 16)),
            ("t3_768x768", heavy_tailed(768, 768, 3.0, s + 17)),
            ("pl2.2_1000x400", power_law_spectrum(1000, 400, 2.2, s + 18)),
        ]
    return zoo


def _cpu_precision_weightwatcher() -> None:
    """When CUDA is visible, WeightWatcher 0.7.7 reads PyTorch weights as float16 and uses a 6e-5 entropy epsilon
    (its "fast" GPU mode); restore its CPU behaviour (float32 weights, 1e-10) so that comparisons mean the same on
    every machine."""
    import weightwatcher.RMT_Util as rmt
    import weightwatcher.weightwatcher as wwmod

    if torch.cuda.is_available():
        wwmod.torch_T_to_np = lambda T: T.to("cpu").float().numpy()
        rmt.EPSILON = 1e-10


def weightwatcher_details(matrices: Sequence[np.ndarray | torch.Tensor], *, mp_fit: bool = True,
                          randomize: bool = True, detX: bool = True, min_evals: int = 1, np_seed: int | None = None,
                          conv2d: Sequence[bool] | None = None):
    """Run WeightWatcher 0.7.7's ``analyze`` (svd_method="accurate", pl_package="ww") on the matrices, as the
    bias-free Linear (or Conv2d, where ``conv2d[i]``) layers of one model. Returns its details DataFrame, one row
    per matrix in order. ``np_seed`` seeds numpy's global state first (WeightWatcher's shuffles use it)."""
    import weightwatcher as ww

    _cpu_precision_weightwatcher()
    logging.getLogger("weightwatcher").setLevel(logging.ERROR)
    layers = []
    for i, W in enumerate(matrices):
        W = torch.as_tensor(np.asarray(W, dtype=np.float32))
        if conv2d is not None and conv2d[i]:
            out_c, in_c, kh, kw = W.shape
            layer = torch.nn.Conv2d(in_c, out_c, (kh, kw), bias=False)
        else:
            layer = torch.nn.Linear(W.shape[1], W.shape[0], bias=False)
        with torch.no_grad():
            layer.weight.copy_(W)
        layers.append(layer)
    model = torch.nn.Sequential(*layers)
    if np_seed is not None:
        np.random.seed(np_seed)
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        watcher = ww.WeightWatcher(model=model)
        details = watcher.analyze(svd_method="accurate", pl_package="ww", mp_fit=mp_fit, randomize=randomize,
                                  detX=detX, min_evals=min_evals, plot=False)
    return details.reset_index(drop=True)
