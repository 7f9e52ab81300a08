"""The lab's correctness contract: member e of an ensemble follows the same trajectory as the same configuration
trained alone by independent reference code (tests/reference.py: a plain nn.Module, torch.optim, LambdaLR, the
filters' published formulas), in mixed ensembles where every member differs."""
import pytest
import torch

from tests.reference import Reference
from trainers.build import build_engine
from trainers.config import RunConfig
from trainers.members import expand, with_settings

SMALL = {
    "transformer": {"model.name": "transformer", "model.d_model": 16, "model.n_heads": 2, "model.d_head": 8,
                    "model.d_mlp": 24, "task.p": 7},
    "mlp": {"model.name": "mlp", "model.width": 12, "model.depth": 3, "task.p": 11},
    "liu_toy": {"model.name": "liu_toy", "model.width": 10, "model.depth": 3, "model.d_embed": 2,
                "task.operation": "liu_add", "task.p": 6},
}

# Four members that differ in everything a member may vary; the order is deliberately not sorted.
MIXED = [
    {"seed": 3, "optimizer.lr": 3e-3, "optimizer.weight_decay": 0.5, "model.init_scale": 1.5,
     "task.train_fraction": 0.6},
    {"seed": 0, "optimizer.lr": 1e-3, "optimizer.weight_decay": 1.0, "task.train_fraction": 0.4,
     "optimizer.betas": [0.8, 0.95], "optimizer.warmup_steps": 5},
    {"seed": 7, "optimizer.lr": 2e-3, "optimizer.weight_decay": 0.0, "model.init_scale": 0.7,
     "task.train_fraction": 0.5, "task.label_noise": 2},
    {"seed": 1, "optimizer.lr": 5e-3, "optimizer.weight_decay": 0.1, "task.train_fraction": 0.7,
     "streams.split": 11, "optimizer.eps": 1e-6},
]


def run_pair(overrides: dict, members: list[dict], steps: int, precision: str = "64"):
    cfg = with_settings(RunConfig(), {"train.precision": precision, "train.device": "cpu", **overrides})
    cfg.members = members
    table = expand(cfg)
    engine = build_engine(cfg, table, torch.device("cpu"))
    refs = [Reference(cfg, table, e, engine.model) for e in range(len(table))]
    for s in range(steps):
        losses = engine.train_step(s)
        ref_losses = torch.stack([r.step(s) for r in refs])
        # float32: a few ulps of a loss near 6 (the ensemble sums some products in another order than the
        # reference, e.g. the transformer's scores as r . (W_K q) rather than (r W_K) . q)
        tol = {"rtol": 1e-6, "atol": 1e-6} if precision == "32" else {"rtol": 0, "atol": 1e-9}
        assert torch.allclose(losses.double(), ref_losses.double(), **tol)
    worst = 0.0
    for e, ref in enumerate(refs):
        mine = engine.model.member_state(e)
        for name, value in ref.model.state_dict().items():
            worst = max(worst, (mine[name].double() - value.double()).abs().max().item())
    return worst, engine


@pytest.mark.parametrize("kind", ["transformer", "mlp", "liu_toy"])
@pytest.mark.parametrize("opt", ["adamw", "adam", "sgd"])
def test_mixed_ensemble_float64_200_steps(kind, opt):
    over = {**SMALL[kind], "optimizer.name": opt, "optimizer.momentum": 0.9 if opt == "sgd" else 0.0}
    members = [dict(m) for m in MIXED]
    if opt == "adam":
        # Adam with coupled L2 at weight decay 1 is chaotic here (rounding differences of 1e-16 grow ~10x per 20
        # steps in any two implementations); a milder L2 keeps the comparison about the optimiser, not the chaos.
        for m in members:
            m["optimizer.weight_decay"] *= 0.1
    if opt == "sgd":
        for m in members:
            m["optimizer.lr"] *= 20
            m.pop("optimizer.betas", None)
            m.pop("optimizer.eps", None)
    worst, _ = run_pair(over, members, steps=200)
    assert worst < 1e-10


@pytest.mark.parametrize("filters", [
    {"filters.grokfast": "ema", "filters.grokfast_alpha": 0.9, "filters.grokfast_lamb": 2.0},
    {"filters.grokfast": "ma", "filters.grokfast_window": 7, "filters.grokfast_lamb": 3.0},
    {"filters.grokfast": "ma", "filters.grokfast_window": 7, "filters.grokfast_warmup": False},
    {"filters.perpgrad": True},
    {"filters.constant_norm": True, "optimizer.weight_decay": 0.0},
    {"filters.grokfast": "ema", "filters.perpgrad": True},
])
def test_filters_match_published_formulas(filters):
    over = {**SMALL["mlp"], **filters}
    # PerpGrad renormalises the part of g orthogonal to w, which is ill-conditioned once g is nearly parallel to
    # w: at full learning rates rounding differences of 1e-16 grow past 1e-10 within 200 steps in any two
    # implementations. Smaller steps keep this a test of the formulas.
    members = [{k: v for k, v in m.items() if k != "optimizer.weight_decay" or "filters.constant_norm" not in filters}
               for m in MIXED]
    for m in members:
        m["optimizer.lr"] *= 0.3
    members[1]["filters.grokfast_lamb"] = 0.5  # per-member filter strength
    worst, _ = run_pair(over, members, steps=200)
    assert worst < 1e-10


@pytest.mark.parametrize("kind", ["transformer", "mlp"])
def test_minibatches(kind):
    worst, _ = run_pair({**SMALL[kind], "train.batch_size": 5}, MIXED, steps=200)
    assert worst < 1e-10


def test_liu_groups_and_mse_templates():
    over = {**SMALL["liu_toy"], "loss.name": "mse", "loss.template_dim": 5,
            "optimizer.groups": None}
    over.pop("optimizer.groups")
    members = [{**m, "optimizer.groups.embedding.lr": m["optimizer.lr"] * 3,
                "optimizer.groups.decoder.weight_decay": 0.0} for m in MIXED]
    worst, _ = run_pair(over, members, steps=200)
    assert worst < 1e-10


@pytest.mark.parametrize("loss", [{"loss.name": "stablemax"}, {"loss.name": "cross_entropy", "loss.float64": True},
                                  {"loss.name": "mse"}])
def test_losses(loss):
    worst, _ = run_pair({**SMALL["mlp"], "model.bias": False, **loss}, MIXED, steps=200)
    assert worst < 1e-10


def test_per_member_width_padding():
    members = [{**m, "model.width": w} for m, w in zip(MIXED, [12, 5, 9, 1])]
    worst, engine = run_pair(SMALL["mlp"], members, steps=200)
    assert worst < 1e-10
    W1 = engine.model.weights[1]  # padded hidden units stay exactly zero
    assert torch.all(W1[1, 5:] == 0) and torch.all(W1[1, :, 5:] == 0)


@pytest.mark.parametrize("kind", ["transformer", "mlp", "liu_toy"])
def test_float32_20_steps(kind):
    worst, _ = run_pair(SMALL[kind], MIXED, steps=20, precision="32")
    assert worst < 1e-5


def test_member_order_does_not_matter():
    """A permuted ensemble gives each member the same trajectory, bit for bit."""
    cfg = with_settings(RunConfig(), {**SMALL["transformer"], "train.precision": "64", "train.batch_size": 6})
    cfg.members = MIXED
    a = build_engine(cfg, expand(cfg), torch.device("cpu"))
    cfg.members = [MIXED[i] for i in (2, 0, 3, 1)]
    b = build_engine(cfg, expand(cfg), torch.device("cpu"))
    for s in range(30):
        a.train_step(s)
        b.train_step(s)
    for new, old in enumerate((2, 0, 3, 1)):
        for k, v in a.model.member_state(old).items():
            assert torch.allclose(v, b.model.member_state(new)[k], rtol=0, atol=1e-13)


GROMOV = {"model.name": "mlp", "model.width": 12, "model.depth": 2, "task.p": 11}  # the CPU's tiled pair kernel


@pytest.mark.parametrize("tile", [10**9, 12 * 5])  # one tile / a tile per member (its own rows)
@pytest.mark.parametrize("variant", [
    {"model.act": "quadratic", "model.bias": False},
    {"model.act": "relu", "model.bias": True},
    {"model.act": "tanh", "model.bias": True, "train.batch_size": 5},
    {"model.act": "quadratic", "model.bias": False, "loss.name": "mse"},
    {"model.act": "linear", "model.bias": True},  # the activation returns its input (z is h)
])
def test_two_layer_pair_mlp_tiles(variant, tile, monkeypatch):
    """Gromov's two-layer net trains on the CPU through tiles: with a softmax cross-entropy, loss and gradients in
    one eager pass (toymodels.models.pair_mlp_ce_eager), with another loss the tiled forward/backward of
    toymodels.models.pair_mlp and the head; members with fewer training rows skip their padding. Mixed widths
    included."""
    from toymodels.models import pair_mlp, pair_mlp_ce_eager

    plans, kernel_calls = [], []
    monkeypatch.setattr(pair_mlp, "TILE_ELEMENTS", tile)
    monkeypatch.setattr(pair_mlp, "tiles", lambda *a, f=pair_mlp.tiles: plans.append(f(*a)) or plans[-1])
    fused = variant.get("loss.name", "cross_entropy") == "cross_entropy"
    kernel = pair_mlp_ce_eager._PairCrossEntropy if fused else pair_mlp._TiledPairMLP
    forward = kernel.forward
    monkeypatch.setattr(kernel, "forward", staticmethod(lambda ctx, *a: kernel_calls.append(a[-1]) or forward(ctx, *a)))
    members = [{**m, "model.width": w} for m, w in zip(MIXED, [12, 5, 9, 12])]
    worst, engine = run_pair({**GROMOV, **variant}, members, steps=200)
    assert worst < 1e-10
    assert len(kernel_calls) == 200  # every training step took the kernel
    # full batch: one batch every step, its tiles' indices built once; minibatches: built per step
    assert len(plans) == (200 if "train.batch_size" in variant else 1)
    assert len({id(t) for t in kernel_calls}) == len(plans)
    assert {len(p) for p in plans} == ({4} if tile < 10**9 else {1})
    if "train.batch_size" not in variant:  # full batch: each tile computes only its member's own rows
        assert [r for _, _, r in plans[0]] == (engine.train_rows if tile < 10**9 else [max(engine.train_rows)])


@pytest.mark.parametrize("act, bias", [("quadratic", False), ("relu", True)])
def test_pair_mlp_shared_input_takes_the_kernel(act, bias, monkeypatch):
    """Evaluation feeds the whole table to every member (pairs [R, 2], shared): the tiled kernel's outputs and
    gradients equal autograd's path through the same float64 model; mixed widths included."""
    from toymodels.models import pair_mlp

    calls = []
    monkeypatch.setattr(pair_mlp, "tiles", lambda *a, f=pair_mlp.tiles: calls.append(a) or f(*a))
    torch.set_default_dtype(torch.float64)
    try:
        cfg = with_settings(RunConfig(), {**GROMOV, "model.act": act, "model.bias": bias, "train.device": "cpu"})
        cfg.members = [{**m, "model.width": w} for m, w in zip(MIXED, [12, 5, 9, 12])]
        engine = build_engine(cfg, expand(cfg), torch.device("cpu"))
    finally:
        torch.set_default_dtype(torch.float32)
    model = engine.model.double()
    x = engine.data.table.x  # [p^2, 2]
    tiled = model(x)
    assert len(calls) == 1 and calls[0][1] == x.shape[0]
    ref = model.hidden(x)[-1]
    assert tiled.shape == ref.shape == (len(cfg.members), x.shape[0], cfg.task.p)
    assert (tiled - ref).abs().max() < 1e-12
    grads = torch.autograd.grad(tiled.square().sum(), list(model.parameters()))
    ref_grads = torch.autograd.grad(ref.square().sum(), list(model.parameters()))
    assert max((a - b).abs().max().item() for a, b in zip(grads, ref_grads)) < 1e-10
