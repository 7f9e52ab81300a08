"""The engine contract and the family registry: which family trains a config, that every engine implements the one
contract, that trainers/ never probes an engine for optional parts, the one activation table and the one name of
the L2 penalty."""
import re
from pathlib import Path

import pytest
import torch

from tests.scaling.helpers import config, engine_of, loss_curve
from toymodels.activations import activation, canonical_activation
from toymodels.engines import EnsembleEngine
from toymodels.errors import ConfigError
from toymodels.models.mlp import EnsembleMLP
from trainers.build import build_engine
from trainers.config import RunConfig
from trainers.families import FAMILIES, family_of
from trainers.members import expand, with_settings

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("task, model, family", [
    ("modular", "transformer", "classification"), ("digits", "mlp", "classification"),
    ("modular", "two_layer", "classification"), ("modular", "liu_toy", "classification"),
    ("powerlaw", "linear", "random_features"), ("powerlaw", "random_features", "random_features"),
    ("powerlaw", "two_layer", "two_layer"), ("teacher", "two_layer", "two_layer"),
])
def test_registry_picks_one_family(task, model, family):
    cfg = with_settings(RunConfig(), {"task.name": task, "model.name": model})
    assert family_of(cfg).name == family
    assert sum(f.accepts(cfg) for f in FAMILIES) == 1


@pytest.mark.parametrize("task, model, key, text", [
    ("powerlaw", "transformer", "model.name", "does not train on task powerlaw"),
    ("teacher", "random_features", "task.name", "the teacher task trains model two_layer"),
    ("modular", "linear", "task.name", "use task powerlaw"),
])
def test_registry_names_what_trains_a_task(task, model, key, text):
    cfg = with_settings(RunConfig(), {"task.name": task, "model.name": model})
    with pytest.raises(ConfigError) as err:
        family_of(cfg)
    assert err.value.key == key and text in str(err.value)


def test_every_engine_implements_the_contract():
    engines = [engine_of(config()), engine_of(config(model={"name": "linear"}))]
    run = with_settings(RunConfig(), {"task.p": 7, "model.name": "mlp", "model.width": 8, "train.device": "cpu"})
    engines.append(build_engine(run, expand(run), torch.device("cpu")))
    engines.append(engine_of(config(model={"name": "two_layer", "act": "linear", "width": 8})))
    for eng in engines:
        assert isinstance(eng, EnsembleEngine)
        out = eng.evaluate()
        assert set(out) == set(eng.metric_names)
        assert all(v.shape == (eng.n_members,) and v.dtype == torch.float64 for v in out.values())
        loss = eng.train_step(0)
        assert loss.shape == (eng.n_members,) and not eng.diverged.any()
        assert (eng.diverged_step == -1).all()
        state = eng.state_dict()
        eng.load_state_dict(state)


def test_trainers_never_probe_an_engine():
    """No getattr / hasattr on an engine anywhere in trainers/ (the contract says what an engine has)."""
    pattern = re.compile(r"(getattr|hasattr)\(\s*[\w.]*engine")
    hits = [f"{p.relative_to(ROOT)}:{i}" for p in (ROOT / "trainers").rglob("*.py")
            for i, line in enumerate(p.read_text().splitlines(), 1) if pattern.search(line)]
    assert not hits, hits


def test_one_activation_table():
    assert canonical_activation("identity") == "linear"
    x = torch.linspace(-2, 2, 9)
    assert torch.equal(activation("identity")(x), x)
    a = EnsembleMLP(2, 4, 3, 5, 2, act="identity")
    b = EnsembleMLP(2, 4, 3, 5, 2, act="linear")
    assert a.act == b.act == "linear"


def test_weight_decay_is_the_l2_penalty_and_ridge_its_alias():
    """lambda = weight_decay / 2 gives the same random-feature trajectory, bit for bit, as model.ridge = lambda."""
    a = engine_of(config(model={"ridge": 0.05}, seeds=[0, 1]))
    b = engine_of(config(optimizer={"weight_decay": 0.1}, seeds=[0, 1]))
    assert torch.equal(loss_curve(a, [0, 5, 20]), loss_curve(b, [0, 5, 20]))
    assert a.record_columns()["ridge"] == b.record_columns()["ridge"] == [0.05, 0.05]
    with pytest.raises(ConfigError, match="set twice"):
        engine_of(config(model={"ridge": 0.05}, optimizer={"weight_decay": 0.1}))
