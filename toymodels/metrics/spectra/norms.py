"""Norm- and rank-type metrics of an ESD (WeightWatcher's ``apply_esd`` and ``apply_norm_metrics`` columns).

For the K pooled eigenvalues lambda of X (see ``esd.py`` for the normalisation):

    norm = sum lambda (squared Frobenius norm)      log_norm = log10 norm
    spectral_norm = lambda_max                      log_spectral_norm = log10 lambda_max
    alpha_weighted = alpha log10 lambda_max         log_alpha_norm = log10 sum lambda^alpha (via logsumexp)
    stable_rank = norm / lambda_max
    matrix_rank = #{sqrt(lambda) > tol},  entropy = -sum p ln p / ln(matrix_rank),  p = lambda / norm (+1e-10)
    lambda_max, sv_max = sqrt(lambda_max), sv_min = max over slices of the smallest singular value,
    rank_loss = sum over slices of (M - rank), weak_rank_loss = #{lambda < tolerance}

Rank tolerance: with ``method="svd"``, WeightWatcher's: sigma_max * N * eps(float64) on the singular values.
With ``method="eigh"`` the eigenvalues of W^T W carry an absolute error of order eps * lambda_max, so singular
values below ~1e-8 sigma_max cannot be told from zero; there the tolerance is lambda_max * max(N, M) * eps on
the eigenvalues (numpy.linalg.matrix_rank's rule applied to the Gram matrix). The two agree on matrices that are
full rank or have exactly-zero directions (every zoo matrix in tests/spectra, including one with 20 zero
columns), but not on a float32 matrix that is a rank-60 product rounded to float32: its 20 "zero" singular values
are ~1e-8 sigma_max, which WeightWatcher and ``svd`` count (rank 80) and ``eigh`` does not (rank 60), and the
entropy's log(rank) follows (tests/spectra/test_spectra_weightwatcher.py::test_rank_of_a_rounded_low_rank_product).
"""
from __future__ import annotations

import math

import torch

ENTROPY_EPS = 1e-10  # WeightWatcher's EPSILON in matrix_entropy
EPS64 = torch.finfo(torch.float64).eps


def _rank(ev: torch.Tensor, N: int, method: str) -> torch.Tensor:
    """Numerical rank from eigenvalues [..., k] of W^T W (any order) -> [...] int64."""
    top = ev.amax(dim=-1, keepdim=True)
    if method == "svd":
        sv = ev.sqrt()
        return (sv > top.sqrt() * N * EPS64).sum(dim=-1)
    return (ev > top * max(N, ev.shape[-1]) * EPS64).sum(dim=-1)


def esd_stats(slice_evals: torch.Tensor, evals: torch.Tensor, N: int, method: str,
              tolerance: float) -> dict[str, torch.Tensor]:
    """slice_evals: [E, S, M] per-slice; evals: [E, K] pooled ascending. Returns [E] tensors."""
    S, M = slice_evals.shape[1:]
    return {
        "num_evals": torch.full(evals.shape[:1], evals.shape[1], dtype=torch.int64, device=evals.device),
        "lambda_max": evals[:, -1],
        "sv_max": evals[:, -1].sqrt(),
        "sv_min": slice_evals[..., 0].clamp_min(0).sqrt().amax(dim=1),
        "rank_loss": (M - _rank(slice_evals, N, method)).sum(dim=1),
        "weak_rank_loss": (evals < tolerance).sum(dim=1),
    }


def norm_metrics(evals: torch.Tensor, N: int, method: str, alpha: torch.Tensor | None = None
                 ) -> dict[str, torch.Tensor]:
    """evals: [E, K] pooled ascending; alpha: [E] power-law exponents (optional). Returns [E] tensors."""
    norm = evals.sum(dim=1)
    lmax = evals[:, -1]
    rank = _rank(evals, N, method)
    p = evals / norm[:, None] + ENTROPY_EPS
    entropy = -(p * p.log()).sum(dim=1) / torch.log(rank.to(torch.float64) + ENTROPY_EPS)
    out = {
        "norm": norm,
        "log_norm": norm.log10(),
        "spectral_norm": lmax,
        "log_spectral_norm": lmax.log10(),
        "stable_rank": norm / lmax,
        "matrix_rank": rank,
        "entropy": entropy,
    }
    if alpha is not None:
        out["alpha_weighted"] = alpha * lmax.log10()
        # log10 sum lambda^alpha without overflow; lambda = 0 contributes 0 for alpha > 0
        a = alpha[:, None]
        terms = torch.where(evals > 0, a * evals.clamp_min(1e-300).log(),
                            torch.where(a == 0, torch.zeros_like(evals), torch.full_like(evals, -math.inf)))
        out["log_alpha_norm"] = torch.logsumexp(terms, dim=1) / math.log(10.0)
    return out
