"""A member that produces NaN/inf is frozen (parameters, optimiser and filter state) and flagged; every other
member's trajectory is bitwise identical to the same run without the fault."""
import pytest
import torch

from trainers.build import build_engine
from trainers.config import RunConfig
from trainers.members import expand, with_settings

BASE = {"model.name": "mlp", "model.width": 16, "model.depth": 3, "task.p": 11, "train.device": "cpu",
        "filters.grokfast": "ema", "optimizer.weight_decay": 0.5, "train.batch_size": 16}
MEMBERS = [{"seed": s, "optimizer.lr": lr} for s, lr in [(0, 1e-3), (1, 3e-3), (2, 2e-3), (3, 5e-3)]]
FAULTY, FAULT_STEP, STEPS = 2, 7, 25


def engine(extra=None):
    cfg = with_settings(RunConfig(), {**BASE, **(extra or {})})
    cfg.members = MEMBERS
    return build_engine(cfg, expand(cfg), torch.device("cpu"))


def snapshot(eng, e):
    opt_state = [v[e].clone() for p in eng.params for k, v in eng.optimizer.state[p].items()]
    f = eng.filters[0]
    filt = [t[e].clone() for t in f.ema] if hasattr(f, "ema") else [b[:, e].clone() for b in f.buffers]
    filt.append(f.count[e].clone())
    return [p[e].clone() for p in eng.params], opt_state, filt


def inject(eng, kind):
    W = eng.model.weights[1]
    if kind == "nan_param":
        with torch.no_grad():
            W[FAULTY, 0, 0] = float("nan")
    elif kind == "inf_loss":
        with torch.no_grad():
            eng.model.biases[2][FAULTY, 0] = float("inf")
    elif kind == "nan_grad":
        def hook(g):
            g = g.clone()
            g[FAULTY, 1, 1] = float("nan")
            return g
        return W.register_hook(hook)


@pytest.mark.parametrize("kind", ["nan_param", "inf_loss", "nan_grad"])
@pytest.mark.parametrize("extra", [{}, {"filters.perpgrad": True, "filters.constant_norm": True},
                                   {"optimizer.name": "sgd", "optimizer.momentum": 0.9},
                                   {"optimizer.name": "adam", "filters.grokfast": "ma"}])
def test_fault_freezes_one_member_only(kind, extra):
    clean, faulty = engine(extra), engine(extra)
    handle = None
    for s in range(STEPS):
        if s == FAULT_STEP:
            handle = inject(faulty, kind)
        clean.train_step(s)
        if s == FAULT_STEP:
            before = snapshot(faulty, FAULTY)
        faulty.train_step(s)
        if handle is not None:  # a NaN gradient only once
            handle.remove()
            handle = None
    assert faulty.diverged.tolist() == [e == FAULTY for e in range(4)]
    # the exact step it was frozen at (nan_param / inf_loss are seen at FAULT_STEP itself, a NaN gradient too)
    assert faulty.diverged_step.tolist() == [FAULT_STEP if e == FAULTY else -1 for e in range(4)]
    assert not clean.diverged.any()
    for e in range(4):
        if e == FAULTY:
            continue
        for a, b in zip(clean.params, faulty.params):
            assert torch.equal(a[e], b[e])  # bitwise
    after = snapshot(faulty, FAULTY)
    for xs, ys in zip(before, after):  # parameters, optimiser state and filter state all frozen
        for x, y in zip(xs, ys):
            assert torch.equal(x, y) or (torch.isnan(x) == torch.isnan(y)).all() and torch.equal(
                torch.nan_to_num(x), torch.nan_to_num(y))


def test_diverged_step_survives_a_checkpoint_and_old_checkpoints_load():
    eng = engine()
    inject(eng, "nan_param")
    eng.train_step(5)
    eng.train_step(6)
    state = eng.state_dict()
    assert state["diverged_step"].tolist() == [-1, -1, 5, -1]
    fresh = engine()
    fresh.load_state_dict(state)
    assert fresh.diverged_step.tolist() == [-1, -1, 5, -1] and fresh.diverged.tolist() == [False, False, True, False]
    old = {k: v for k, v in state.items() if k != "diverged_step"}  # written before the step was recorded
    fresh = engine()
    fresh.load_state_dict(old)
    assert fresh.diverged.tolist() == [False, False, True, False] and fresh.diverged_step.tolist() == [-1] * 4


def test_member_finite_flags_exactly_the_non_finite_members():
    """NaN, +inf and -inf in one entry of a member's slice flag that member; huge finite values of both signs
    (whose difference or sum would overflow) do not; a 1-d loss and a float64 tensor mix with float32 ones."""
    from toymodels.optim import member_finite

    big = torch.finfo(torch.float32).max
    W = torch.randn(6, 5, 4)
    W[1, 0, 0], W[1, 4, 3] = big, -big
    W[2, 3, 1], W[3, 0, 2], W[4, 2, 2] = float("nan"), float("inf"), -float("inf")
    loss = torch.ones(6, dtype=torch.float64)
    loss[5] = float("nan")
    ok = member_finite([loss, W, torch.randn(6, 3)])
    assert ok.tolist() == [True, True, False, False, False, False]
    assert member_finite([W[:2]]).tolist() == [True, True]
    # large tensors are reduced one by one, small ones joined per dtype: both ways flag the same members
    big_W = torch.randn(6, 80, 80)
    big_W[0, 79, 79] = float("nan")
    small64 = torch.randn(6, 7, dtype=torch.float64)
    small64[1, 6] = -float("inf")
    ok = member_finite([big_W, torch.randn(6, 2, 3), small64, torch.randn(6, 5)])
    assert ok.tolist() == [False, False, True, True, True, True]


def test_unused_parameter_gets_a_zero_gradient():
    """Eager steps reset gradients to None; a parameter the loss does not reach still gets a zero gradient before
    the guard and the optimiser see it, and the step runs."""
    eng = engine()
    extra = torch.nn.Parameter(torch.ones(len(MEMBERS), 3))
    eng.params.append(extra)
    eng.train_step(0)
    eng.train_step(1)
    assert extra.grad is not None and torch.count_nonzero(extra.grad) == 0
    assert not eng.diverged.any()
