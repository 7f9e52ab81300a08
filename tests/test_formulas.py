"""StableMax, PerpGrad, Grokfast and the warmup rule against their formulas, on hand-made numbers."""
import math

import torch

from toymodels.losses import StableMaxHead, log_stablemax, stablemax_s
from toymodels.optim import EnsembleAdamW, EnsembleSGD, GrokfastEMA, GrokfastMA, PerpGrad


def test_stablemax_values():
    x = torch.tensor([-3.0, -0.5, 0.0, 2.0], dtype=torch.float64)
    s = stablemax_s(x)
    assert torch.allclose(s, torch.tensor([1 / 4, 1 / 1.5, 1.0, 3.0], dtype=torch.float64))
    p = log_stablemax(x).exp()
    assert torch.allclose(p, s / s.sum()) and math.isclose(p.sum().item(), 1.0)
    head = StableMaxHead(float64=True)
    out = x.view(1, 1, 4)
    loss = head.row_loss(out, torch.tensor([[3]]))
    assert math.isclose(loss.item(), -math.log(3.0 / (0.25 + 1 / 1.5 + 1 + 3)))
    big = torch.tensor([[[1e30, -1e30, 0.0]]], dtype=torch.float64)  # no overflow: s grows linearly
    assert torch.isfinite(StableMaxHead().row_loss(big, torch.tensor([[0]]))).all()


def test_perpgrad_is_orthogonal_and_keeps_norm():
    w = torch.randn(3, 4, 5, dtype=torch.float64, requires_grad=True)
    g = torch.randn(3, 4, 5, dtype=torch.float64)
    w.grad = g.clone()
    PerpGrad([w]).apply()
    for e in range(3):
        assert abs((w.grad[e] * w[e]).sum().item()) < 1e-12
        assert math.isclose(w.grad[e].norm().item(), g[e].norm().item(), rel_tol=1e-12)
        # the direction is g minus its projection on w
        perp = g[e] - (w[e] * g[e]).sum() / (w[e] * w[e]).sum() * w[e]
        assert torch.allclose(w.grad[e] / w.grad[e].norm(), perp / perp.norm())


def test_grokfast_ema_by_hand():
    w = torch.zeros(2, 1, dtype=torch.float64, requires_grad=True)
    f = GrokfastEMA([w], 2, alpha=[0.5, 0.9], lamb=[2.0, 1.0])
    grads = [torch.tensor([[1.0], [1.0]]), torch.tensor([[3.0], [3.0]])]
    w.grad = grads[0].double().clone()
    f.apply()
    assert w.grad.flatten().tolist() == [1 + 2 * 1, 1 + 1 * 1]  # ema starts at the first gradient
    w.grad = grads[1].double().clone()
    f.apply()
    ema = [0.5 * 1 + 0.5 * 3, 0.9 * 1 + 0.1 * 3]
    assert torch.allclose(w.grad.flatten(), torch.tensor([3 + 2 * ema[0], 3 + 1 * ema[1]], dtype=torch.float64))


def test_grokfast_ma_window_and_warmup():
    w = torch.zeros(1, 1, dtype=torch.float64, requires_grad=True)
    f = GrokfastMA([w], 1, window=3, lamb=5.0, warmup=True)
    out = []
    for g in [1.0, 2.0, 3.0, 4.0]:
        w.grad = torch.tensor([[g]], dtype=torch.float64)
        f.apply()
        out.append(w.grad.item())
    assert out == [1.0, 2.0, 3 + 5 * 2.0, 4 + 5 * 3.0]  # untouched until the window holds 3 gradients


def test_warmup_follows_lambdalr():
    """The k-th update uses lr * min((k - 1) / W, 1): SGD without momentum shows the applied step directly."""
    w = torch.zeros(1, 1, dtype=torch.float64, requires_grad=True)
    opt = EnsembleSGD([w], 1, lr=1.0, warmup_steps=4)
    moves = []
    for _ in range(6):
        w.grad = torch.ones(1, 1, dtype=torch.float64)
        before = w.item()
        opt.step()
        moves.append(before - w.item())
    assert moves == [0.0, 0.25, 0.5, 0.75, 1.0, 1.0]


def test_adamw_frozen_member_keeps_its_state():
    w = torch.ones(2, 3, dtype=torch.float64, requires_grad=True)
    opt = EnsembleAdamW([w], 2, lr=0.1, weight_decay=0.5)
    w.grad = torch.ones(2, 3, dtype=torch.float64)
    opt.step()
    state = {k: v.clone() for k, v in opt.state[w].items()}
    kept = w[1].clone()
    opt.set_active(torch.tensor([True, False]))
    w.grad = torch.full((2, 3), float("nan"), dtype=torch.float64)
    w.grad[0] = 2.0
    opt.step()
    assert torch.equal(w[1], kept) and opt.state[w]["step"].tolist() == [2, 1]
    for k, v in opt.state[w].items():
        assert torch.equal(v[1], state[k][1])
    assert torch.isfinite(w).all()
