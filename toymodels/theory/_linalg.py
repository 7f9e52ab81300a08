"""Batched symmetric eigendecomposition / SVD that stay fast on a busy CPU.

torch's batched LAPACK path runs the batch in parallel *and* lets each call use threads; on a loaded 2-core box
this oversubscribes badly. Measured with torch 2.13 CPU, float64, 2 cores at load average ~4:
  A = torch.randn(576, 100, 100, dtype=torch.float64); A = A @ A.mT; torch.linalg.eigh(A)
took 0.7 s with torch.set_num_threads(1) and 18-41 s with 2 threads ([30, 256, 256]: 0.25-0.39 s vs 4.7-10 s);
a small batch ([4, 512, 512]) was 0.18 s vs 0.11 s. So batches of 8 or more run single-threaded here, and the
caller's thread setting is restored afterwards.
"""
from __future__ import annotations

from contextlib import contextmanager

import torch


@contextmanager
def _threads_for_batch(batch: int):
    n = torch.get_num_threads()
    if batch >= 8 and n > 1:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)


def eigh(K: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """torch.linalg.eigh of K [E, r, r] (eigenvalues ascending [E, r], eigenvectors [E, r, r])."""
    with _threads_for_batch(K.shape[0] if K.ndim > 2 else 1):
        return torch.linalg.eigh(K)


def svd(X: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Thin torch.linalg.svd of X [E, P, D]."""
    with _threads_for_batch(X.shape[0] if X.ndim > 2 else 1):
        return torch.linalg.svd(X, full_matrices=False)
