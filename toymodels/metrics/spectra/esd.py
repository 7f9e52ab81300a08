"""Empirical spectral densities (ESDs) of stacks of weight matrices, in float64.

Shapes. A *stack* is ``[E, S, N, M]``: E members, each with S matrices of N x M (N >= M) whose eigenvalues are
pooled into one ESD of K = S * M eigenvalues. S = 1 for an ordinary matrix; S = kh * kw for a Conv2D kernel cut
into one matrix per kernel position (WeightWatcher's "pooled" Conv2D ESD). ``as_stack`` turns ``[N, M]``,
``[E, N, M]`` and ``[E, S, N, M]`` into that form, transposing the last two axes where N < M.

The ESD of W is the eigenvalues of X = W^T W (the squared singular values), always computed in float64:
eigvalsh of W^T W in float32 squares the condition number and corrupts the small eigenvalues.

Normalisation: ``"ww"`` (WeightWatcher: X = W^T W, the default) or ``"setol"`` (the SETOL paper: X = W^T W / N).

Method: ``"eigh"`` (eigvalsh of the float64 Gram matrix W^T W, the default) or ``"svd"`` (float64 ``svdvals``,
squared). Measured with ``scripts/bench_spectra.py --esd-only --threads 1`` on the 2-core CPU (Student-t(2.5)
matrices): eigh took 0.9 / 5.2 / 35 / 85 / 184 ms for 256x128 / 512x256 / 1024x512 / 768x1024 / 1024x1024, svd
1.9 / 11 / 64 / 154 / 262 ms, scipy.linalg.svd (WeightWatcher's "accurate") 1.9 / 12 / 64 / 143 / 258 ms. Both
deviate from scipy by <= 5e-15 lambda_max; relative to the smallest eigenvalue the deviation was <= 4e-14 for
the rectangular matrices and, for the square 1024 x 1024 one (lambda_min / lambda_max = 1.6e-9), 1.2e-9 for eigh
and 3e-13 for svd. Only numerically-zero eigenvalues are affected, and ``matrix_rank`` / ``rank_loss`` use a
tolerance suited to each method (``norms.py``); every WeightWatcher comparison in tests/spectra passes with both.
"""
from __future__ import annotations

import math
from typing import Literal

import torch

from toymodels.errors import ConfigError

Normalize = Literal["ww", "setol"]
Method = Literal["eigh", "svd"]
NORMALIZE = ("ww", "setol")
METHODS = ("eigh", "svd")


def as_stack(W: torch.Tensor, key: str = "matrices") -> torch.Tensor:
    """[N, M] | [E, N, M] | [E, S, N, M] -> [E, S, N, M] with N >= M (a view or transpose, not a copy).

    Raises ConfigError for other ranks, non-floating dtypes and empty axes.
    """
    if not isinstance(W, torch.Tensor):
        raise ConfigError(key, f"expected a torch.Tensor, got {type(W).__name__}")
    if not W.is_floating_point():
        raise ConfigError(key, f"expected a real floating-point tensor, got dtype {W.dtype}")
    if W.dim() == 2:
        W = W[None, None]
    elif W.dim() == 3:
        W = W[:, None]
    elif W.dim() != 4:
        raise ConfigError(key, f"expected [N, M], [E, N, M] or [E, S, N, M], got shape {tuple(W.shape)}")
    if min(W.shape) == 0:
        raise ConfigError(key, f"empty axis in shape {tuple(W.shape)}")
    if W.shape[-2] < W.shape[-1]:
        W = W.transpose(-2, -1)
    return W


def conv2d_slices(weight: torch.Tensor, ww_conv2d_norm: bool = True) -> torch.Tensor:
    """A PyTorch Conv2d kernel [out, in, kh, kw] (or a stack [E, out, in, kh, kw]) -> [E, kh*kw, out, in].

    One matrix per kernel position (i, j), row-major, as WeightWatcher's pooled Conv2D ESD. With
    ``ww_conv2d_norm`` the slices are multiplied by sqrt(1/2), as WeightWatcher 0.7.7 does for Conv2D layers by
    default (its ``conv2d_norm=True`` scales by sqrt(conv2d_count / 2) with conv2d_count = 1): this halves every
    eigenvalue (alpha, D and the counts do not change; xmin, norms and bulk edges do). Kernels must be in
    PyTorch's layout. N and M are the slice's larger and smaller side. (WeightWatcher 0.7.7 swaps its N and M
    once per slice when out < in, so for an even number of kernel positions it reports Q = M / N < 1 and its MP
    fit uses that; we do not reproduce this.)
    """
    if weight.dim() == 4:
        weight = weight[None]
    if weight.dim() != 5:
        raise ConfigError("conv2d", f"expected [out, in, kh, kw] or [E, out, in, kh, kw], got {tuple(weight.shape)}")
    E, o, i, kh, kw = weight.shape
    slices = weight.permute(0, 3, 4, 1, 2).reshape(E, kh * kw, o, i)
    # WeightWatcher scales in float64 (float32 array times a numpy float64 scalar), and so do we
    return slices.to(torch.float64) * math.sqrt(0.5) if ww_conv2d_norm else slices


def strip_zero_padding(W: torch.Tensor) -> torch.Tensor:
    """Drop the all-zero rows and columns of one matrix [N, M] (padding of a narrower member; see DESIGN.md).

    An all-zero row leaves the eigenvalues of W^T W unchanged; an all-zero column adds a zero eigenvalue. Both
    change N, M and Q, hence the MP fit and detX. Returns a [N', M'] view-free copy (at least 1 x 1).
    """
    if W.dim() != 2:
        raise ConfigError("matrices", f"strip_zero_padding expects one [N, M] matrix, got {tuple(W.shape)}")
    rows = (W != 0).any(dim=1)
    cols = (W != 0).any(dim=0)
    if not bool(rows.any()):
        return W[:1, :1].clone()
    return W[rows][:, cols]


def check_options(normalize: str, method: str) -> None:
    if normalize not in NORMALIZE:
        raise ConfigError("normalize", f"must be one of {NORMALIZE}, got {normalize!r}")
    if method not in METHODS:
        raise ConfigError("method", f"must be one of {METHODS}, got {method!r}")


def eigenvalues(W: torch.Tensor, method: Method = "eigh") -> torch.Tensor:
    """Eigenvalues of W^T W for a stack [..., N, M] (N >= M): [..., M] float64, ascending, >= 0.

    Computed in float64 whatever W's dtype; non-finite matrices must be removed by the caller (LAPACK fails).
    """
    W = W.to(torch.float64)
    if method == "eigh":
        ev = torch.linalg.eigvalsh(W.mT @ W)  # [..., M] ascending
        return ev.clamp_min(0.0)
    if method == "svd":
        sv = torch.linalg.svdvals(W)  # [..., M] descending
        return (sv * sv).flip(-1)
    raise ConfigError("method", f"must be one of {METHODS}, got {method!r}")


def esd_stack(W: torch.Tensor, normalize: Normalize = "ww", method: Method = "eigh") -> torch.Tensor:
    """Per-slice ESDs of a stack. W: [E, S, N, M] (see ``as_stack``) -> [E, S, M] float64, ascending per slice.

    ``normalize="setol"`` divides by N (X = W^T W / N). Members with non-finite entries get NaN eigenvalues
    (they are replaced by zeros for the decomposition, so they cannot break their neighbours' results).
    """
    check_options(normalize, method)
    W = as_stack(W)
    finite = torch.isfinite(W).flatten(1).all(dim=1)  # [E]
    if not bool(finite.all()):
        W = torch.where(finite[:, None, None, None], W, torch.zeros((), dtype=W.dtype, device=W.device))
    ev = eigenvalues(W, method)  # [E, S, M]
    if normalize == "setol":
        ev = ev / W.shape[-2]
    return torch.where(finite[:, None, None], ev, torch.full((), math.nan, dtype=ev.dtype, device=ev.device))


def pooled(slice_evals: torch.Tensor) -> torch.Tensor:
    """[E, S, M] per-slice eigenvalues -> [E, S*M] pooled, ascending."""
    return slice_evals.flatten(1).sort(dim=1).values
