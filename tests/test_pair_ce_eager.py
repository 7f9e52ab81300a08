"""The eager CPU step's one pass over Gromov's net and its softmax cross-entropy (toymodels.models.pair_mlp_ce_eager)
gives the losses and gradients of the model followed by the loss head, for any upstream gradient, and keeps a NaN on
a row outside a member's batch out of its loss."""
import pytest
import torch

from tests.test_equivalence import GROMOV, MIXED
from toymodels.losses import member_mean
from toymodels.models.pair_mlp import PairTiles
from toymodels.models.pair_mlp_ce_eager import pair_cross_entropy_tiles
from trainers.build import build_engine
from trainers.config import RunConfig
from trainers.members import expand, with_settings


def _engine(act: str, bias: bool, **extra):
    cfg = with_settings(RunConfig(), {**GROMOV, "model.act": act, "model.bias": bias, "train.device": "cpu",
                                      "train.precision": "64", **extra})
    cfg.members = [{**m, "model.width": w} for m, w in zip(MIXED, [12, 5, 9, 12])]  # mixed widths: a unit mask
    return build_engine(cfg, expand(cfg), torch.device("cpu"))


@pytest.mark.parametrize("act, bias, extra", [("quadratic", False, {}), ("relu", True, {}),
                                              ("tanh", True, {"train.batch_size": 5})])
def test_one_pass_equals_model_and_head(act, bias, extra):
    engine = _engine(act, bias, **extra)
    model, head = engine.model, engine.head
    x, y, valid = engine.batch(3)
    c = torch.tensor([1.0, -0.5, 2.0, 0.25], dtype=torch.float64)  # upstream gradient of each member's loss
    fused = model.fused_mean_loss(x, y, valid, engine.train_rows, head)
    assert fused is not None  # the eager CPU path takes the one pass
    grads = torch.autograd.grad((fused * c).sum(), list(model.parameters()))
    ref = member_mean(head.row_loss(model.hidden(x)[-1], y), valid)
    ref_grads = torch.autograd.grad((ref * c).sum(), list(model.parameters()))
    assert (fused - ref).abs().max() < 1e-13
    for g, r in zip(grads, ref_grads):
        assert g.shape == r.shape and g.is_contiguous()
        assert (g - r).abs().max() < 1e-12


def test_nan_outside_a_members_batch_stays_out_of_its_loss():
    """Member 0's padding rows use a symbol whose first-layer row is NaN; its own rows never do: its loss stays
    finite and equals the loss over its rows alone, while member 1 uses that row and its loss is NaN."""
    E, p, H, C = 2, 5, 4, 3
    g = torch.Generator().manual_seed(0)
    W0, W1 = torch.randn(E, 2 * p, H, generator=g, dtype=torch.float64), torch.randn(E, H, C, generator=g,
                                                                                   dtype=torch.float64)
    W0[:, 4] = float("nan")  # first operand 4
    a = torch.tensor([[0, 1, 2, 4, 4], [4, 1, 2, 3, 0]])
    b = torch.tensor([[1, 2, 3, 0, 0], [0, 1, 2, 3, 4]]) + p
    y = torch.tensor([[0, 1, 2, 0, 0], [2, 1, 0, 1, 2]])
    valid = torch.tensor([[True, True, True, False, False], [True] * 5])
    rows = [3, 5]
    loss = pair_cross_entropy_tiles(W0, None, W1, None, y, valid, "quadratic", None, PairTiles(a, b, 2 * p, H, rows))
    logits = ((W0[0, a[0, :3]] + W0[0, b[0, :3]]) ** 2) @ W1[0]  # member 0's own rows
    expected = torch.nn.functional.cross_entropy(logits, y[0, :3])
    assert torch.isfinite(loss[0]) and abs(loss[0] - expected) < 1e-14
    assert torch.isnan(loss[1])
