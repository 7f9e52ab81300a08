"""The representation measures give the same numbers on CUDA as on CPU (skipped without CUDA)."""
import numpy as np
import pytest
import torch

import toymodels.metrics.representation as R

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")]


def both(fn, *args, **kwargs):
    """fn on CPU tensors and on the same tensors moved to CUDA (results brought back)."""
    cuda = [a.cuda() if isinstance(a, torch.Tensor) else a for a in args]
    kcuda = {k: v.cuda() if isinstance(v, torch.Tensor) else v for k, v in kwargs.items()}
    return fn(*args, **kwargs), fn(*cuda, **kcuda)


def close(a, b):
    if isinstance(a, dict):
        return all(close(a[k], b[k]) for k in a)
    if isinstance(a, tuple):
        return all(close(x, y) for x, y in zip(a, b))
    b = b.cpu()
    if a.dtype in (torch.bool, torch.int64):
        return torch.equal(a, b)
    return torch.allclose(a, b, rtol=1e-9, atol=1e-12, equal_nan=True)


def test_cuda_matches_cpu():
    torch.backends.cuda.matmul.allow_tf32 = False
    g = torch.Generator().manual_seed(0)
    p, E = 11, 3
    emb = torch.arange(p, dtype=torch.float64)[None, :, None] + 0.1 * torch.randn(E, p, 2, generator=g,
                                                                                   dtype=torch.float64)
    R_ = p * (p + 1) // 2
    train = torch.rand(E, R_, generator=g) < 0.5
    for fn, args in [(R.rqi, (emb,)), (R.effective_loss, (emb, train)), (R.effective_loss, (emb,)),
                     (R.predicted_test_accuracy, (emb, train)), (R.ideal_test_accuracy, (train, p))]:
        assert close(*both(fn, *args))
    a, b = np.meshgrid(np.arange(p), np.arange(p), indexing="ij")
    acts = torch.relu(torch.randn(E, p * p, 16, generator=g, dtype=torch.float64))
    W_out = torch.randn(E, 16, 8, generator=g, dtype=torch.float64)
    W_U = torch.randn(E, 8, p + 1, generator=g, dtype=torch.float64)
    logits = acts @ W_out @ W_U
    labels = torch.from_numpy((a + b).ravel() % p)
    kf_cpu, kf_cuda = both(R.key_frequencies, acts, p)
    assert close(kf_cpu, kf_cuda)
    rows = torch.rand(E, p * p, generator=g) < 0.3
    assert close(*both(R.fourier_ablation_losses, acts, W_out, W_U, logits, labels, kf_cpu.mask, rows, p))
    assert close(*both(R.embedding_fourier_norms, emb, p, per_frequency=True))
    assert close(*both(R.gini, acts[:, :, 0]))
    assert close(*both(R.softmax_collapse_fraction, logits.float() * 30))
    h = torch.randn(E, 40, 12, generator=g, dtype=torch.float64)
    mask = torch.arange(12)[None] < torch.tensor([12, 9, 4])[:, None]
    assert close(*both(R.effective_rank, h, mask))
    assert close(*both(R.linear_cka, h, h ** 2, mask, mask))
    assert close(*both(R.linear_cka_matrix, h, mask))
    sol = R.gromov_solution(p, n_members=2)
    assert close(*both(R.gromov_agreement, sol.W_in, sol.W_out))
