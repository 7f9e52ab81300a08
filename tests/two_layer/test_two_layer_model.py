"""The two-layer ensemble model against its definitions: the parameterisation table (initial scales, output
multiplier, learning-rate multiplier, how the tangent kernel and one step's feature movement scale with width and
gamma0), centring, and the closed-form feature kernel / empirical NTK against autograd."""
import math

import pytest
import torch

from toymodels.metrics.lazy_rich import alignment, feature_kernel, relative_change, target_kernel, two_layer_ntk
from toymodels.models.two_layer import EnsembleTwoLayer, scalings

F64 = torch.float64


def model_of(widths, param="mup", gamma0=1.0, act="relu", D=20, C=1, q=None, kind="dense", seeds=None):
    m = EnsembleTwoLayer(len(widths), D, C, widths, act, param, gamma0, q, kind).double()
    return m.reset_parameters(seeds or list(range(len(widths))))


@pytest.mark.parametrize("param", ["ntk", "mup", "standard"])
def test_scalings_table(param):
    N, g, q = torch.tensor([16.0, 400.0]), torch.tensor([0.5, 3.0]), 7.0
    s = scalings(param, N.tolist(), g.tolist(), q)
    expect = {"ntk": (1, 1 / math.sqrt(q), 1, 1 / (g * N.sqrt()), g ** 2),
              "mup": (1, 1 / math.sqrt(q), 1, 1 / (g * N), g ** 2 * N),
              "standard": (1 / math.sqrt(q), 1, 1 / N.sqrt(), 1 / g, g ** 2)}[param]
    for got, want in zip((s.w_std, s.in_mult, s.a_std, s.out_mult, s.lr_mult), expect):
        assert torch.allclose(got, torch.as_tensor(want, dtype=F64).expand(2))


@pytest.mark.parametrize("param", ["ntk", "mup", "standard"])
def test_initial_scales_follow_the_true_width(param):
    """Preactivations are N(0, 1) at init in every parameterisation (x with E|x|^2 = D), the readout has the table's
    std at each member's TRUE width, and padded units are zero."""
    D, widths = 50, [300, 3000]
    m = model_of(widths, param, D=D)
    x = torch.randn(400, D, dtype=F64, generator=torch.Generator().manual_seed(0))
    h = m.preactivations(x)  # [E, B, N_max]
    for e, n in enumerate(widths):
        assert h[e, :, :n].var().item() == pytest.approx(1.0, rel=0.1)
        assert torch.all(h[e, :, n:] == 0) and torch.all(m.a[e, n:] == 0) and torch.all(m.W[e, :, n:] == 0)
        want = 1.0 if param != "standard" else 1 / math.sqrt(n)
        assert m.a[e, :n].std().item() == pytest.approx(want, rel=0.1)


def test_centred_output_starts_at_zero_and_raw_output_scale():
    """f - f0 = 0 at init; the raw output's std is O(1) in ntk, O(1/sqrt N) in mup (both at gamma0 = 1)."""
    x = torch.randn(500, 20, dtype=F64, generator=torch.Generator().manual_seed(1))
    for param, power in (("ntk", 0.0), ("mup", -0.5)):
        m = model_of([100, 1600], param, act="tanh")
        assert torch.all(m(x) == 0)
        sd = m.raw(x)[..., 0].std(1)  # [E]
        ratio = (sd[1] / sd[0]).item()
        assert ratio == pytest.approx(16 ** power, rel=0.35), (param, ratio)


def _ntk_scale(param, widths, gamma0=1.0):
    """Mean diagonal of lr_mult * NTK at init (the kernel one SGD step at lr = 1 applies in function space)."""
    m = model_of(widths, param, gamma0=gamma0, act="tanh")
    x = torch.randn(64, 20, dtype=F64, generator=torch.Generator().manual_seed(2))
    p = m.kernel_parts(x)
    K = two_layer_ntk(p["phi"], p["dphi"], p["a"], p["gram"], p["in_mult"], p["out_mult"])
    return torch.diagonal(K, dim1=1, dim2=2).mean(1) * m.lr_scale


@pytest.mark.parametrize("param", ["ntk", "mup", "standard"])
def test_effective_tangent_kernel_scaling_with_width(param):
    """lr_mult * NTK is O(1) in width for ntk and mup; in standard parameterisation it is A N + B (the readout's
    tangent kernel grows like N, the first layer's stays O(1)); independent of gamma0 in all three."""
    k = _ntk_scale(param, [256, 1024, 4096])
    if param == "standard":
        assert ((k[2] - k[1]) / (k[1] - k[0])).item() == pytest.approx(4.0, rel=0.15)
    else:
        assert (k[2] / k[0]).item() == pytest.approx(1.0, rel=0.1)
    k_g = _ntk_scale(param, [256, 1024, 4096], gamma0=[0.1] * 3)
    assert torch.allclose(k, k_g, rtol=1e-10)


@pytest.mark.parametrize("param, width_power", [("ntk", -0.5), ("mup", 0.0)])
def test_one_step_feature_movement_scales_as_the_table_says(param, width_power):
    """After one full-batch SGD step at lr = lr0 * multiplier, |W - W0| / |W0| ~ gamma0 N^width_power."""
    D, B = 20, 64
    widths, gammas = [64, 64, 1024], [0.5, 2.0, 0.5]
    m = model_of(widths, param, gamma0=gammas, act="tanh", D=D, seeds=[0, 0, 0])
    g = torch.Generator().manual_seed(3)
    x, y = torch.randn(B, D, dtype=F64, generator=g), torch.randn(B, dtype=F64, generator=g)
    loss = ((m(x)[..., 0] - y) ** 2).mean(1).sum()
    loss.backward()
    with torch.no_grad():
        m.W -= 0.1 * m.lr_scale[:, None, None] * m.W.grad
    move = relative_change(m.W, m.W0)
    assert (move[1] / move[0]).item() == pytest.approx(4.0, rel=0.05)  # linear in gamma0 (small steps)
    assert (move[2] / move[0]).item() == pytest.approx(16 ** width_power, rel=0.2)


def _autograd_ntk(m, x, e):
    """Member e's output-averaged parameter-space NTK by autograd (explicit Jacobian): [B, B]."""
    W, a = m.W[e].detach().clone().requires_grad_(), m.a[e].detach().clone().requires_grad_()
    n = m.widths[e]

    def f(W, a):
        Wt, at = W.clone(), a.clone()
        full_W, full_a = m.W.detach().clone(), m.a.detach().clone()
        full_W[e], full_a[e] = Wt, at
        return m.raw(x, full_W, full_a)[e]  # [B, C]

    J = torch.autograd.functional.jacobian(f, (W, a))  # ([B, C, D, N], [B, C, N, C])
    B, C = J[0].shape[:2]
    Jflat = torch.cat([J[0][..., :n].reshape(B, C, -1), J[1][:, :, :n].reshape(B, C, -1)], -1)  # [B, C, P]
    return torch.einsum("bcp,dcp->bd", Jflat, Jflat) / C


@pytest.mark.parametrize("act", ["relu", "tanh", "quadratic", "linear"])
@pytest.mark.parametrize("kind, C", [("dense", 1), ("dense", 3), ("pairs", 5)])
def test_closed_form_ntk_equals_autograd(act, kind, C):
    g = torch.Generator().manual_seed(4)
    if kind == "pairs":
        m = model_of([9, 4], "ntk", gamma0=[0.7, 2.0], act=act, D=2 * 5, C=C, kind="pairs")
        x = torch.randint(0, 5, (12, 2), generator=g)
    else:
        m = model_of([9, 4], "mup", gamma0=[0.7, 2.0], act=act, D=6, C=C)
        x = torch.randn(12, 6, dtype=F64, generator=g)
    with torch.no_grad():  # move away from the initial weights so the test is not about init only
        m.W.add_(0.3 * torch.randn(m.W.shape, dtype=F64, generator=g) * m.mask[:, None, :])
        m.a.add_(0.3 * torch.randn(m.a.shape, dtype=F64, generator=g) * m.mask[:, :, None])
    p = m.kernel_parts(x)
    K = two_layer_ntk(p["phi"], p["dphi"], p["a"], p["gram"], p["in_mult"], p["out_mult"])
    for e in range(2):
        assert torch.allclose(K[e], _autograd_ntk(m, x, e), rtol=1e-10, atol=1e-12)


def test_feature_kernel_and_alignment_definitions():
    g = torch.Generator().manual_seed(5)
    phi = torch.randn(2, 10, 7, dtype=F64, generator=g)
    phi[1, :, 5:] = 0  # a member of width 5 padded to 7
    K = feature_kernel(phi, torch.tensor([7.0, 5.0], dtype=F64))
    assert torch.allclose(K[1], phi[1, :, :5] @ phi[1, :, :5].T / 5)
    y = torch.randn(2, 10, dtype=F64, generator=g)
    T = target_kernel(y)
    assert torch.allclose(alignment(T, T), torch.ones(2, dtype=F64))  # a kernel is perfectly aligned with itself
    assert torch.allclose(alignment(3.0 * K, T), alignment(K, T))  # scale-free
    H = torch.eye(10, dtype=F64) - 1 / 10
    Kc, Tc = H @ K[0] @ H, H @ T[0] @ H
    want = (Kc * Tc).sum() / (Kc.norm() * Tc.norm())
    assert alignment(K, T)[0].item() == pytest.approx(want.item(), rel=1e-12)
    # centring ignores the constant mode: adding a constant to K changes nothing
    assert torch.allclose(alignment(K + 5.0, T), alignment(K, T))
