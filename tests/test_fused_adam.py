"""Eager CPU steps update Adam / AdamW through torch's fused kernel, one call per member (toymodels.optim.fused_cpu):
the same update as the batched one and as torch.optim.AdamW, frozen members untouched, the batched update kept where
the kernel would misread memory or cost more than it saves."""
import copy

import pytest
import torch

from toymodels.optim import EnsembleAdam, EnsembleAdamW, fused_cpu

E = 4
SHAPES = [(40, 60), (70, 30), (3000,)]  # 7500 elements per member: above the fused threshold


def _params(dtype, shapes=SHAPES):
    g = torch.Generator().manual_seed(0)
    return [torch.randn(E, *s, generator=g, dtype=dtype) for s in shapes]


def _train(cls, init, fused: bool, steps: int = 6, freeze_at: int = 3, dtype=torch.float64):
    """``steps`` updates with per-member lr, weight decay, betas, eps and warmup; member 1 frozen (NaN gradients)
    from step ``freeze_at``. Returns the parameters, the optimiser and how many fused member calls ran."""
    ps = [p.clone().requires_grad_() for p in init]
    opt = cls(ps, E, lr=[0.1, 0.01, 0.05, 0.2], weight_decay=[0.0, 0.1, 1.0, 3.0], betas=(0.9, 0.98),
              eps=[1e-8, 1e-6, 1e-8, 1e-7], warmup_steps=[0, 3, 0, 2])
    opt.fused = fused
    calls = []
    kernel = torch._fused_adamw_ if cls is EnsembleAdamW else torch._fused_adam_
    name = kernel.__name__
    g = torch.Generator().manual_seed(1)
    try:
        setattr(torch, name, lambda *a, **k: calls.append(len(a[0])) or kernel(*a, **k))
        for s in range(steps):
            for p in ps:
                p.grad = torch.randn(p.shape, generator=g, dtype=dtype)
            if s >= freeze_at:
                opt.set_active(torch.tensor([True, False, True, True]))
                ps[0].grad[1] = float("nan")
            opt.step()
    finally:
        setattr(torch, name, kernel)
    return ps, opt, calls


@pytest.mark.parametrize("cls", [EnsembleAdamW, EnsembleAdam])
@pytest.mark.parametrize("dtype, tol", [(torch.float64, 1e-15), (torch.float32, 3e-7)])
def test_fused_equals_the_batched_update(cls, dtype, tol):
    init = _params(dtype)
    (a, oa, calls), (b, ob, none) = _train(cls, init, True, dtype=dtype), _train(cls, init, False, dtype=dtype)
    assert calls == [len(SHAPES)] * E * 6 and none == []  # per step a call per member; the batched run made none
    for x, y in zip(a, b):
        assert (x - y).abs().max() <= tol * y.abs().max()
        for k in ("exp_avg", "exp_avg_sq"):
            sx, sy = oa.state[x][k], ob.state[y][k]
            assert (sx - sy).abs().max() <= tol * sy.abs().max()
        assert oa.state[x]["step"].tolist() == ob.state[y]["step"].tolist() == [6, 3, 6, 6]


def test_frozen_member_keeps_its_bits():
    init = _params(torch.float64)
    before, opt_before, _ = _train(EnsembleAdamW, init, True, steps=3)
    after, opt_after, _ = _train(EnsembleAdamW, init, True, steps=6)
    for p, q in zip(before, after):
        assert torch.equal(p[1], q[1]) and not torch.equal(p[0], q[0])
        for k in ("exp_avg", "exp_avg_sq"):
            assert torch.equal(opt_before.state[p][k][1], opt_after.state[q][k][1])


@pytest.mark.parametrize("cls, ref", [(EnsembleAdamW, torch.optim.AdamW), (EnsembleAdam, torch.optim.Adam)])
def test_fused_member_equals_torch_optim(cls, ref):
    """Each member's trajectory is torch.optim's (single-tensor implementation) with that member's settings."""
    init = _params(torch.float64)
    ps = [p.clone().requires_grad_() for p in init]
    lrs, wds = [0.1, 0.01, 0.05, 0.2], [0.0, 0.1, 1.0, 3.0]
    opt = cls(ps, E, lr=lrs, weight_decay=wds, betas=(0.9, 0.98))
    refs = [[p[e].detach().clone().requires_grad_() for p in init] for e in range(E)]
    ref_opts = [ref(r, lr=lrs[e], weight_decay=wds[e], betas=(0.9, 0.98), foreach=False) for e, r in enumerate(refs)]
    g = torch.Generator().manual_seed(2)
    for _ in range(5):
        for i, p in enumerate(ps):
            p.grad = torch.randn(p.shape, generator=g, dtype=torch.float64)
            for e in range(E):
                refs[e][i].grad = p.grad[e].clone()
        opt.step()
        for o in ref_opts:
            o.step()
    for i, p in enumerate(ps):
        for e in range(E):
            assert (p[e] - refs[e][i]).abs().max() < 1e-15


def test_strided_gradient_takes_the_batched_update():
    """The kernel walks raw memory: a transposed gradient must not reach it (it would read the wrong elements)."""
    init = _params(torch.float64, [(60, 80)])
    results = []
    for transposed in (True, False):
        w = init[0].clone().requires_grad_()
        opt = EnsembleAdamW([w], E, lr=0.1, weight_decay=0.1)
        g = torch.randn(E, 80, 60, generator=torch.Generator().manual_seed(3), dtype=torch.float64).mT
        w.grad = g if transposed else g.contiguous()
        assert fused_cpu.usable([w]) is not transposed
        opt.step()
        results.append(w.detach().clone())
    assert torch.equal(results[0], results[1]) or (results[0] - results[1]).abs().max() < 1e-15


def test_small_members_keep_the_batched_update():
    small = [torch.zeros(64, 8, 8, requires_grad=True)]
    small[0].grad = torch.zeros_like(small[0])
    large = [torch.zeros(4, 64, 64, requires_grad=True)]
    large[0].grad = torch.zeros_like(large[0])
    assert not fused_cpu.usable(small) and fused_cpu.usable(large)


def test_hyperparameters_changed_after_construction_are_used():
    """The kernel's per-member floats are read once, and again whenever a hyperparameter tensor changes."""
    init = _params(torch.float64)
    runs = []
    for fused in (True, False):
        ps = [p.clone().requires_grad_() for p in init]
        opt = EnsembleAdamW(ps, E, lr=0.1, weight_decay=0.1)
        opt.fused = fused
        for s in range(4):
            for p in ps:
                p.grad = torch.ones_like(p)
            if s == 1:
                opt.param_groups[0]["weight_decay"].mul_(10)  # in place
            if s == 2:
                opt.param_groups[0]["beta2"] = torch.full((E,), 0.9, dtype=torch.float64)  # replaced
            opt.step()
        runs.append(ps)
    for a, b in zip(*runs):
        assert (a - b).abs().max() < 1e-15


def test_loaded_state_is_the_state_updated():
    """load_state_dict replaces the state tensors: the fused calls must update the new ones, not the per-member
    views of the old ones kept from earlier steps."""
    init = _params(torch.float64)
    g = torch.Generator().manual_seed(4)
    grads = [[torch.randn(p.shape, generator=g, dtype=torch.float64) for p in init] for _ in range(9)]

    def run(ps, opt, steps):
        for gs in steps:
            for p, gr in zip(ps, gs):
                p.grad = gr.clone()
            opt.step()

    ps, qs = [p.clone().requires_grad_() for p in init], [p.clone().requires_grad_() for p in init]
    a, b = EnsembleAdamW(ps, E, lr=0.1, weight_decay=0.3), EnsembleAdamW(qs, E, lr=0.1, weight_decay=0.3)
    run(ps, a, grads[:3])  # a's per-member views now cached
    run(qs, b, grads[3:6])  # b elsewhere
    a.load_state_dict(copy.deepcopy(b.state_dict()))  # as from a checkpoint: tensors of its own
    with torch.no_grad():
        for p, q in zip(ps, qs):
            p.copy_(q)
    run(ps, a, grads[6:])
    run(qs, b, grads[6:])
    for p, q in zip(ps, qs):
        assert torch.equal(p, q)
        for k in ("exp_avg", "exp_avg_sq", "step"):
            assert torch.equal(a.state[p][k], b.state[q][k])


@pytest.mark.parametrize("same", [True, False])
def test_groups_with_equal_hyperparameters_share_a_call(same):
    """The transformer's embedding, attention/MLP and unembedding groups share their settings: one call per member
    takes all their tensors (a small group alone would stay batched); groups that differ get calls of their own."""
    init = _params(torch.float64, [(40, 110), (8, 8)])
    ps = [p.clone().requires_grad_() for p in init]
    groups = [{"params": [ps[0]]}, {"params": [ps[1]], "lr": 0.01 if same else 0.02}]
    opt = EnsembleAdamW(groups, E, lr=0.01, weight_decay=0.1)
    ref_ps = [p.clone().requires_grad_() for p in init]
    ref = EnsembleAdamW([{"params": [ref_ps[0]]}, {"params": [ref_ps[1]], "lr": 0.01 if same else 0.02}], E,
                        lr=0.01, weight_decay=0.1)
    ref.fused = False
    calls, kernel = [], torch._fused_adamw_
    try:
        torch._fused_adamw_ = lambda *a, **k: calls.append(len(a[0])) or kernel(*a, **k)
        for _ in range(3):
            for p, q in zip(ps, ref_ps):
                p.grad = torch.full_like(p, 0.5)
                q.grad = torch.full_like(q, 0.5)
            opt.step()
            ref.step()
    finally:
        torch._fused_adamw_ = kernel
    # joined: one call per member with both tensors; apart: the small group (64 elements) stays batched
    assert calls == ([2] * E * 3 if same else [1] * E * 3)
    for p, q in zip(ps, ref_ps):
        assert (p - q).abs().max() < 1e-15


def test_fused_step_reads_nothing_on_the_host(monkeypatch):
    """The fused update keeps the step free of host reads (as tests/test_compile.py checks for whole steps at sizes
    that keep the batched update): warmup, a frozen member and both groups' calls, with every read patched to fail."""
    from tests.test_compile import SYNCS, _no_sync

    init = _params(torch.float32, [(70, 70), (80, 60)])  # each group above the threshold
    ps = [p.clone().requires_grad_() for p in init]
    opt = EnsembleAdamW([{"params": ps[:1]}, {"params": ps[1:], "lr": 0.02}], E, lr=0.01, weight_decay=0.1,
                        warmup_steps=[0, 2, 0, 0])
    opt.set_active(torch.tensor([True, True, False, True]))
    calls, kernel = [], torch._fused_adamw_
    monkeypatch.setattr(torch, "_fused_adamw_", lambda *a, **k: calls.append(1) or kernel(*a, **k))
    with monkeypatch.context() as m:
        for owner, attr in SYNCS:
            m.setattr(owner, attr, _no_sync)
        for _ in range(3):
            for p in ps:
                p.grad = torch.ones_like(p)
            opt.step()
    assert len(calls) == 3 * 2 * E  # the kernel took every step: both groups, every member
    assert torch.equal(ps[0][2], init[0][2]) and not torch.equal(ps[0][0], init[0][0])
