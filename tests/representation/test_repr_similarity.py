"""Weight norms, effective rank and linear CKA: known values, plain references, padding invariance."""
import numpy as np
import pytest
import torch

from toymodels.errors import ConfigError
from toymodels.metrics.representation import effective_rank, linear_cka, linear_cka_matrix, weight_norms
from toymodels.models.mlp import EnsembleMLP


def ref_erank(x):
    s = np.linalg.svd(np.asarray(x, dtype=np.float64), compute_uv=False)
    q = s / s.sum()
    q = q[q > 0]
    return float(np.exp(-(q * np.log(q)).sum()))


def ref_cka(x, y):
    """Kornblith et al.'s linear CKA via HSIC with the centring matrix, plainly."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    n = len(x)
    H = np.eye(n) - np.ones((n, n)) / n
    K, L = H @ x @ x.T @ H, H @ y @ y.T @ H
    return float((K * L).sum() / np.sqrt((K * K).sum() * (L * L).sum()))


def test_weight_norms_match_member_loop():
    m = EnsembleMLP(3, 6, 4, width=8, depth=3, widths=[8, 5, 3]).reset_parameters([0, 1, 2])
    got = weight_norms(m)
    for name, p in m.named_parameters():
        for e in range(3):
            assert got[name][e].item() == pytest.approx(p[e].double().norm().item(), rel=1e-12)
    for e in range(3):
        total = sum(p[e].double().square().sum().item() for p in m.parameters())
        assert got["total"][e].item() == pytest.approx(total ** 0.5, rel=1e-12)
    with pytest.raises(ConfigError):
        weight_norms({"a": torch.zeros(2, 3), "b": torch.zeros(3, 3)})


def test_effective_rank_known_values():
    g = torch.Generator().manual_seed(0)
    q, _ = torch.linalg.qr(torch.randn(20, 20, generator=g, dtype=torch.float64))
    x0 = torch.cat([3.0 * q[:, :4], torch.zeros(20, 2, dtype=torch.float64)], 1)  # 4 equal singular values
    x1 = 0.5 * q[:, 4:10]  # 6 equal singular values
    got = effective_rank(torch.stack([x0, x1]))
    assert torch.allclose(got, torch.tensor([4.0, 6.0], dtype=torch.float64), rtol=1e-10)
    rank1 = torch.randn(1, 20, 1, generator=g) @ torch.randn(1, 1, 7, generator=g)
    assert effective_rank(rank1).item() == pytest.approx(1.0, rel=1e-6)


def test_effective_rank_reference_and_padding():
    g = torch.Generator().manual_seed(1)
    E, B, H = 3, 30, 10
    widths = [10, 7, 4]
    mask = torch.arange(H)[None] < torch.tensor(widths)[:, None]
    x = torch.randn(E, B, H, generator=g, dtype=torch.float64) * torch.linspace(0.1, 2.0, H, dtype=torch.float64)
    garbage = torch.where(mask[:, None], x, 99.0)
    got = effective_rank(garbage, mask)
    for e, w in enumerate(widths):
        assert got[e].item() == pytest.approx(ref_erank(x[e, :, :w].numpy()), rel=1e-10)
    # row mask: only each member's rows count
    rows = torch.rand(E, B, generator=g) < 0.6
    got_rows = effective_rank(garbage, mask, row_mask=rows)
    for e, w in enumerate(widths):
        assert got_rows[e].item() == pytest.approx(ref_erank(x[e, rows[e], :w].numpy()), rel=1e-10)
    # centring
    got_c = effective_rank(garbage, mask, center=True)
    for e, w in enumerate(widths):
        xe = x[e, :, :w].numpy()
        assert got_c[e].item() == pytest.approx(ref_erank(xe - xe.mean(0)), rel=1e-10)


def test_cka_identities_and_reference():
    g = torch.Generator().manual_seed(2)
    E, B = 3, 25
    x = torch.randn(E, B, 6, generator=g, dtype=torch.float64)
    q = torch.linalg.qr(torch.randn(E, 6, 6, generator=g, dtype=torch.float64))[0]
    assert torch.allclose(linear_cka(x, 3.0 * x @ q + 1.0), torch.ones(E, dtype=torch.float64), rtol=1e-12)
    y = torch.randn(E, B, 9, generator=g, dtype=torch.float64) + x[..., :1]  # related through one unit
    got = linear_cka(x, y)
    for e in range(E):
        assert got[e].item() == pytest.approx(ref_cka(x[e].numpy(), y[e].numpy()), rel=1e-10)
    assert torch.all((got > 0) & (got < 1))
    # the Gram route (B < widths) gives the same numbers
    xs, ys = x[:, :4], y[:, :4]
    got_small = linear_cka(xs, ys)
    for e in range(E):
        assert got_small[e].item() == pytest.approx(ref_cka(xs[e].numpy(), ys[e].numpy()), rel=1e-10)


def test_cka_padding_does_not_change_results():
    g = torch.Generator().manual_seed(3)
    E, B, H = 3, 20, 8
    widths = [8, 5, 2]
    mask = torch.arange(H)[None] < torch.tensor(widths)[:, None]
    x = torch.randn(E, B, H, generator=g, dtype=torch.float64)
    y = torch.randn(E, B, H, generator=g, dtype=torch.float64) + x
    got = linear_cka(torch.where(mask[:, None], x, 5.0), y, x_mask=mask)
    for e, w in enumerate(widths):
        assert got[e].item() == pytest.approx(ref_cka(x[e, :, :w].numpy(), y[e].numpy()), rel=1e-10)
    mat = linear_cka_matrix(torch.where(mask[:, None], x, -3.0), mask)
    for e, we in enumerate(widths):
        for f, wf in enumerate(widths):
            assert mat[e, f].item() == pytest.approx(ref_cka(x[e, :, :we].numpy(), x[f, :, :wf].numpy()), rel=1e-10)


@pytest.mark.parametrize("B,H", [(6, 10), (40, 3)])  # Gram route and feature route
def test_cka_matrix_equals_pairwise(B, H):
    g = torch.Generator().manual_seed(4)
    E = 4
    x = torch.randn(E, B, H, generator=g, dtype=torch.float64) + torch.randn(1, B, H, generator=g,
                                                                              dtype=torch.float64)
    mat = linear_cka_matrix(x)
    assert torch.allclose(mat, mat.T, rtol=1e-12)
    assert torch.allclose(torch.diagonal(mat), torch.ones(E, dtype=torch.float64), rtol=1e-12)
    for e in range(E):
        for f in range(E):
            assert mat[e, f].item() == pytest.approx(ref_cka(x[e].numpy(), x[f].numpy()), rel=1e-10)
    y = torch.randn(2, B, H + 1, generator=g, dtype=torch.float64)
    cross = linear_cka_matrix(x, y=y)
    assert cross.shape == (E, 2)
    assert cross[1, 0].item() == pytest.approx(ref_cka(x[1].numpy(), y[0].numpy()), rel=1e-10)
