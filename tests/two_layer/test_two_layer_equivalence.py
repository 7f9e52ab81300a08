"""The ensemble contract for two-layer networks: member e of a mixed ensemble (different true widths padded to the
widest, gamma0, lr, seeds, P, momentum) follows the trajectory of an independent plain-PyTorch network (nn.Linear
layers, explicit one-hot inputs, torch.optim.SGD at lr * the parameterisation's multiplier) trained alone in float64;
a padded member equals the same member alone; the gram mode equals the rows mode."""
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from tests.scaling.helpers import config, engine_of
from toymodels.tasks.powerlaw import PowerLawTask, sample_dataset
from toymodels.tasks.teacher import TeacherTask
from trainers.build import build_engine
from trainers.config import RunConfig
from trainers.members import expand, with_settings

F64 = torch.float64
ACT = {"relu": torch.relu, "tanh": torch.tanh, "quadratic": torch.square, "linear": lambda u: u}

MIXED = [{"seed": 3, "model.width": 5, "model.gamma0": 0.5, "optimizer.lr": 0.3, "task.train_size": 30},
         {"seed": 0, "model.gamma0": 4.0, "optimizer.lr": 0.05, "optimizer.momentum": 0.9},
         {"seed": 1, "model.width": 17, "model.gamma0": 1.0, "task.train_size": 41, "streams.data": 9}]


class Reference(nn.Module):
    """One member written plainly: f(x) = c * readout(act(m * hidden(x))) minus the same at the initial weights."""

    def __init__(self, W, a, W0, a0, act, m, c, center=True):
        super().__init__()
        self.hidden = nn.Linear(W.shape[0], W.shape[1], bias=False).double()
        self.readout = nn.Linear(a.shape[0], a.shape[1], bias=False).double()
        with torch.no_grad():
            self.hidden.weight.copy_(W.T)
            self.readout.weight.copy_(a.T)
        self.W0, self.a0, self.act, self.m, self.c, self.center = W0.T, a0.T, ACT[act], m, c, center

    def forward(self, x):
        out = self.c * self.readout(self.act(self.m * self.hidden(x)))
        if self.center:
            out = out - self.c * (self.act(self.m * x @ self.W0.T) @ self.a0.T)
        return out


def _reference(engine, e, act, mult):
    m = engine.model
    s = m.member_state(e)
    ref = Reference(s["W"], s["a"], s["W0"], s["a0"], act, m.in_mult[e].item(), m.out_mult[e].item())
    lr = engine.optimizer.param_groups[0]["lr"][e].item()
    mom = engine.optimizer.param_groups[0]["momentum"][e].item()
    assert lr == pytest.approx(mult[e])
    return ref, torch.optim.SGD(ref.parameters(), lr=lr, momentum=mom)


@pytest.mark.parametrize("param", ["ntk", "mup", "standard"])
@pytest.mark.parametrize("task, act", [("powerlaw", "relu"), ("teacher", "tanh"), ("powerlaw", "linear")])
def test_member_equals_plain_pytorch_sgd_float64(param, task, act):
    D = 12
    own = {"teacher_width": 3, "teacher_act": "relu"} if task == "teacher" else {"alpha": 1.5, "r": 0.4}
    cfg = config(task={"name": task, "dim": D, "train_size": 24, "test_size": 7, "noise_std": 0.2, **own},
                 model={"name": "two_layer", "width": 11, "act": act, "parameterization": param},
                 optimizer={"lr": 0.1}, members=MIXED)
    eng = engine_of(cfg)
    assert eng.mode == ("gram" if act == "linear" else "rows")
    assert max(eng.model.widths) == 17 and eng.model.W.shape[2] == 17  # members 0 and 1 are padded
    g, N = [m.get("model.gamma0", 1.0) for m in MIXED], [m.get("model.width", 11) for m in MIXED]
    base = {"ntk": [x ** 2 for x in g], "mup": [x ** 2 * n for x, n in zip(g, N)], "standard": [x ** 2 for x in g]}
    mult = [b * m.get("optimizer.lr", 0.1) for b, m in zip(base[param], MIXED)]
    refs = [_reference(eng, e, act, mult) for e in range(3)]
    data = []
    for m in MIXED:  # each member's rows, regenerated from its seeds by the task's own samplers
        P, seed = m.get("task.train_size", 24), m.get("streams.data", m["seed"])
        if task == "powerlaw":
            X, y = sample_dataset(PowerLawTask(D, 1.5, 0.4, 0.2), P, [seed], noise_seeds=[m["seed"]])
        else:
            t = TeacherTask(D, 3, "relu")
            X = t.inputs(P, seed)[None]
            from toymodels.tasks.powerlaw import sample_noise
            y = (t.clean_labels(X[0], *t.teacher(m["seed"])) + sample_noise(P, [m["seed"]], 0.2)[0])[None]
        data.append((X[0], y[0]))
    for step in range(40):
        losses = eng.train_step(step)
        for e, ((ref, opt), (X, y)) in enumerate(zip(refs, data)):
            opt.zero_grad()
            loss = ((ref(X)[:, 0] - y) ** 2).mean()
            loss.backward()
            opt.step()
            assert losses[e].item() == pytest.approx(loss.item(), rel=1e-9, abs=1e-12), (step, e)
    for e, (ref, _) in enumerate(refs):
        s = eng.model.member_state(e)
        assert torch.allclose(s["W"], ref.hidden.weight.T, rtol=1e-8, atol=1e-11)
        assert torch.allclose(s["a"], ref.readout.weight.T, rtol=1e-8, atol=1e-11)
        n = eng.model.widths[e]
        assert torch.all(eng.model.W[e, :, n:] == 0) and torch.all(eng.model.a[e, n:] == 0)  # padding inert


@pytest.mark.parametrize("batch", [None, 5])
def test_padded_member_equals_member_alone(batch):
    """Member 0 (width 5) in an ensemble padded to width 17 has exactly the trajectory it has alone at width 5."""
    cfg = config(task={"dim": 10, "train_size": 24, "test_size": 9}, train={"batch_size": batch},
                 model={"name": "two_layer", "width": 11, "act": "relu", "parameterization": "ntk"}, members=MIXED)
    ens, alone = engine_of(cfg), engine_of({**cfg, "members": [MIXED[0]]})
    assert alone.model.W.shape[2] == 5
    for step in range(30):
        a, b = ens.train_step(step), alone.train_step(step)
        assert a[0].item() == pytest.approx(b[0].item(), rel=1e-12, abs=1e-15)
    sa, sb = ens.model.member_state(0), alone.model.member_state(0)
    assert all(torch.allclose(sa[k], sb[k], rtol=1e-12, atol=1e-14) for k in sa)
    ea, eb = ens.evaluate(), alone.evaluate()
    assert all(ea[k][0].item() == pytest.approx(eb[k][0].item(), rel=1e-12) for k in ea)


def test_gram_mode_equals_rows_mode(monkeypatch):
    """Linear activation, full batch, float64: the sufficient-statistics step is the rows step."""
    cfg = config(task={"dim": 16, "train_size": 40, "alpha": 1.5, "r": 0.3, "noise_std": 0.1},
                 model={"name": "two_layer", "width": 8, "act": "linear", "parameterization": "mup"},
                 optimizer={"lr": 0.2}, members=MIXED)
    gram = engine_of(cfg)
    monkeypatch.setattr("trainers.families.two_layer.two_layer_gram", lambda c: False)
    rows = engine_of(cfg)
    assert (gram.mode, rows.mode) == ("gram", "rows")
    for step in range(60):
        lg, lr_ = gram.train_step(step), rows.train_step(step)
        assert torch.allclose(lg, lr_, rtol=1e-9, atol=1e-13)
    mg, mr = gram.evaluate(), rows.evaluate()
    assert all(torch.allclose(mg[k], mr[k], rtol=1e-9) for k in mg)
    assert torch.allclose(gram.model.W, rows.model.W, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("loss", ["cross_entropy", "mse"])
def test_modular_member_equals_plain_pytorch(loss):
    """two_layer on one-hot operand pairs (classification engine): each member equals an nn.Linear network on the
    explicit concatenated one-hot vectors, trained by torch.optim.SGD on its own training rows."""
    p = 7
    cfg = with_settings(RunConfig(), {"task.p": p, "task.train_fraction": 0.5, "model.name": "two_layer",
                                      "model.act": "quadratic", "model.parameterization": "mup", "model.width": 9,
                                      "loss.name": loss, "optimizer.name": "sgd", "optimizer.lr": 0.5,
                                      "train.precision": "64", "train.device": "cpu"})
    cfg.members = [{"seed": 2, "model.width": 4, "model.gamma0": 0.3}, {"seed": 5, "optimizer.lr": 0.1},
                   {"seed": 1, "model.gamma0": 3.0, "task.train_fraction": 0.7}]
    table = expand(cfg)
    eng = build_engine(cfg, table, torch.device("cpu"))
    x = torch.cat([F.one_hot(eng.data.table.x[:, 0], p), F.one_hot(eng.data.table.x[:, 1], p)], 1).double()
    refs = []
    for e in range(3):
        s, m = eng.model.member_state(e), eng.model
        ref = Reference(s["W"], s["a"], s["W0"], s["a0"], "quadratic", m.in_mult[e].item(), m.out_mult[e].item())
        g0, n = [0.3, 1.0, 3.0][e], [4, 9, 9][e]
        lr = [0.5, 0.1, 0.5][e] * g0 ** 2 * n
        refs.append((ref, torch.optim.SGD(ref.parameters(), lr=lr)))
    for step in range(30):
        losses = eng.train_step(step)
        for e, (ref, opt) in enumerate(refs):
            rows = eng.data.split.train_idx[e][eng.data.split.train_valid[e]]
            out, y = ref(x[rows]), eng.data.labels[e, rows]
            opt.zero_grad()
            if loss == "cross_entropy":
                value = F.cross_entropy(out, y)
            else:
                value = ((out - F.one_hot(y, p).double()) ** 2).mean(1).mean()
            value.backward()
            opt.step()
            assert losses[e].item() == pytest.approx(value.item(), rel=1e-9), (step, e)
    for e, (ref, _) in enumerate(refs):
        assert torch.allclose(eng.model.member_state(e)["W"], ref.hidden.weight.T, rtol=1e-8, atol=1e-11)
    assert math.isfinite(losses.sum().item())
