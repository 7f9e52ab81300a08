"""Spectra of a dataset's feature covariance (Levi & Oz 2023, "The underlying scaling laws and universal statistical
structure of complex datasets", arXiv:2306.14975): eigenvalues, the bulk's power-law exponent, the level-spacing
ratio, and how these settle with the number of samples.

* eigenvalues: of the sample covariance C = (X - mean)^T (X - mean) / n of X [n, d], descending; the rank r counts
  the eigenvalues above 1e-10 lambda_1 (at most min(n - 1, d)).
* bulk window: ranks k_lo..k_hi with k_lo = max(2, ceil(lo r)), k_hi = floor(hi r), (lo, hi) = (0.05, 0.5) by
  default: it drops the few top eigenvalues (the mean-brightness / class modes of real data, which no power law
  describes) and the lower half of the nonzero spectrum (the rank edge, where a finite sample bends the spectrum
  down). Against the sample count (``sample_curve``) the window is fixed: the one of the whole dataset, so every n
  measures the same ranks (a subset whose rank does not reach k_hi gives NaN).
* exponent s: least-squares slope of log lambda_k against log k over the window, lambda_k ~ k^-s (Levi & Oz write
  s = 1 + alpha; the power-law task's eta_k = k^-alpha gives s = alpha).
* level-spacing ratio (Oganesyan & Huse 2007): with spacings s_i = lambda_i - lambda_{i+1} of the levels in the
  window, r_i = min(s_i, s_{i+1}) / max(s_i, s_{i+1}); <r> is their mean. It needs no unfolding (the local density
  cancels in the ratio). Reference values: independent (Poisson) levels 2 ln 2 - 1 = 0.386, GOE 0.531 (Atas et al.
  2013; a real Wishart matrix's bulk has GOE local statistics).
* settling: for a statistic measured (averaged over draws) at increasing sample counts n_1 < ... < n_m, the settling
  count is the smallest n_j from which every later value stays within ``tol`` of the value at n_m (the largest
  sample); tol = 0.02 for <r> (one seventh of the Poisson-GOE gap) and 5% of |s(n_m)| for the exponent. It is a
  property of the list of counts (a value within tol by chance at one n_j and leaving later does not count); NaN
  when only the largest count qualifies (not settled within the samples at hand).
Shapes: X [n, d]; eigenvalues [min(n, d)] float64.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

POISSON_R = 2 * math.log(2) - 1  # 0.3863
GOE_R = 0.5307  # Atas, Bogomolny, Giraud, Roux 2013 (4 - 2 sqrt 3 = 0.536 is the 3x3 surmise)


def covariance_eigenvalues(X: np.ndarray) -> np.ndarray:
    """Eigenvalues of the sample covariance of X [n, d], descending [min(n, d)] float64 (via the singular values
    of the centred data, so n < d costs n^2 d)."""
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[0] < 2:
        raise ValueError(f"X must be [n >= 2, d] (got {X.shape})")
    Xc = X - X.mean(0)
    s = np.linalg.svd(Xc, compute_uv=False)  # [min(n, d)] descending
    return s ** 2 / X.shape[0]


def rank(eigs: np.ndarray, rel: float = 1e-10) -> int:
    """Number of eigenvalues above rel * lambda_1."""
    eigs = np.asarray(eigs)
    return int((eigs > rel * eigs[0]).sum()) if eigs.size and eigs[0] > 0 else 0


def bulk_window(eigs: np.ndarray, lo: float = 0.05, hi: float = 0.5) -> tuple[int, int]:
    """Ranks (k_lo, k_hi), 1-based and inclusive, of the bulk: max(2, ceil(lo r)) .. floor(hi r)."""
    r = rank(eigs)
    return max(2, math.ceil(lo * r)), int(math.floor(hi * r))


def _levels(eigs, window) -> np.ndarray:
    k_lo, k_hi = window
    return np.asarray(eigs, dtype=np.float64)[k_lo - 1:k_hi]


def powerlaw_exponent(eigs: np.ndarray, window: tuple[int, int] | None = None) -> float:
    """s in lambda_k ~ k^-s: log-log least-squares slope over the ranks of ``window`` (default ``bulk_window``);
    NaN with fewer than 5 levels."""
    window = window or bulk_window(eigs)
    lam = _levels(eigs, window)
    k = np.arange(window[0], window[0] + lam.size, dtype=np.float64)
    if lam.size < 5 or not (lam > 0).all():
        return math.nan
    return -float(np.polyfit(np.log(k), np.log(lam), 1)[0])


def spacing_ratios(levels: np.ndarray) -> np.ndarray:
    """r_i = min(s_i, s_{i+1}) / max(s_i, s_{i+1}) of the sorted levels' spacings [len - 2]."""
    s = np.abs(np.diff(np.sort(np.asarray(levels, dtype=np.float64))))
    a, b = s[:-1], s[1:]
    big = np.maximum(a, b)
    return np.minimum(a, b)[big > 0] / big[big > 0]


def mean_spacing_ratio(eigs: np.ndarray, window: tuple[int, int] | None = None) -> float:
    """<r> over the levels in ``window`` (default ``bulk_window``); NaN with fewer than 5 levels."""
    lam = _levels(eigs, window or bulk_window(eigs))
    return float(spacing_ratios(lam).mean()) if lam.size >= 5 else math.nan


def _nanmean(A: np.ndarray) -> np.ndarray:
    """Row means of A [m, draws] over the finite entries; NaN for a row without any."""
    ok = np.isfinite(A)
    return np.where(ok.any(1), np.where(ok, A, 0).sum(1) / np.maximum(ok.sum(1), 1), np.nan)


@dataclass
class SampleCurve:
    """Statistics against the number of samples: n [m]; exponent, r_mean [m, draws] (NaN where a subset's rank
    does not reach the window); the bulk window (ranks, of the whole dataset) and the settling counts."""

    n: np.ndarray
    exponent: np.ndarray
    r_mean: np.ndarray
    window: tuple[int, int]
    settle_exponent: float
    settle_r: float

    def mean(self, key: str) -> np.ndarray:
        return _nanmean(getattr(self, key))


def settling_count(n: np.ndarray, values: np.ndarray, tol: float) -> float:
    """Smallest n_j from which every later value is within tol of the last (largest-n) value; NaN if the last
    value is NaN or only the last count qualifies. n [m] increasing, values [m]."""
    values = np.asarray(values, dtype=np.float64)
    if not np.isfinite(values[-1]):
        return math.nan
    ok = np.abs(values - values[-1]) <= tol  # NaN compares False
    j = len(ok)
    while j > 0 and ok[j - 1]:
        j -= 1
    return float(n[j]) if j < len(ok) - 1 else math.nan


def sample_curve(X: np.ndarray, counts, draws: int = 5, seed: int = 0, lo: float = 0.05, hi: float = 0.5,
                 r_tol: float = 0.02, s_rel_tol: float = 0.05) -> SampleCurve:
    """Exponent and <r> over the whole dataset's bulk window, for random row subsets of X [n_total, d] of each size
    in ``counts`` (``draws`` subsets each, without replacement; one draw at n_total), and the settling counts
    (module docstring)."""
    X = np.asarray(X, dtype=np.float64)
    counts = np.array(sorted({int(c) for c in counts if 2 <= int(c) <= X.shape[0]}))
    window = bulk_window(covariance_eigenvalues(X), lo, hi)
    g = np.random.default_rng(seed)
    S = np.full((len(counts), draws), np.nan)
    R = np.full((len(counts), draws), np.nan)
    for i, n in enumerate(counts):
        for j in range(draws if n < X.shape[0] else 1):
            eigs = covariance_eigenvalues(X[g.choice(X.shape[0], n, replace=False)])
            if rank(eigs) >= window[1]:
                S[i, j], R[i, j] = powerlaw_exponent(eigs, window), mean_spacing_ratio(eigs, window)
    s_mean, r_mean = _nanmean(S), _nanmean(R)
    return SampleCurve(counts, S, R, window, settling_count(counts, s_mean, s_rel_tol * abs(s_mean[-1])),
                       settling_count(counts, r_mean, r_tol))


def relu_random_features(X: np.ndarray, width: int, seed: int = 0, act: str = "relu") -> np.ndarray:
    """phi(x W) with W [d, width] iid N(0, 1/d) on the centred inputs rescaled to unit mean variance per feature;
    phi = relu or tanh. Returns [n, width] float64."""
    X = np.asarray(X, dtype=np.float64)
    Xc = X - X.mean(0)
    Xc = Xc / math.sqrt(max(Xc.var(0).mean(), 1e-300))
    W = np.random.default_rng(seed).standard_normal((X.shape[1], width)) / math.sqrt(X.shape[1])
    U = Xc @ W  # [n, width]
    if act == "relu":
        return np.maximum(U, 0.0)
    if act == "tanh":
        return np.tanh(U)
    raise ValueError(f"act must be relu or tanh (got {act!r})")
