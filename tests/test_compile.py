"""Every family's training step compiles as whole graphs (torch.compile fullgraph=True raises at a graph break) and
never synchronises with the host (a step that calls .item(), .cpu(), .tolist(), nonzero or bool() on a tensor fails
here). Tiny sizes; dynamo with the eager backend (the graph capture, not code generation) keeps this file fast."""
import pytest
import torch

from tests.scaling.helpers import config, engine_of
from trainers.build import build_engine
from trainers.config import RunConfig
from trainers.members import expand, with_settings

TINY = {"task.p": 7, "train.device": "cpu"}
SIZES = {"transformer": {"model.d_model": 8, "model.d_mlp": 16, "model.n_heads": 2, "model.d_head": 4}}  # else width 8


def tiny(model: str) -> dict:
    return {**TINY, "model.name": model, **SIZES.get(model, {"model.width": 8})}


def classification(model: str, members: list[dict] | None = None, **extra):
    def build():
        cfg = with_settings(RunConfig(), {**tiny(model), **extra})
        if members:
            cfg.members = members
        else:
            cfg.seeds = [0, 1, 2]
        return build_engine(cfg, expand(cfg), torch.device("cpu"))
    return build


ENGINES = {
    "transformer": classification("transformer"),
    "mlp_minibatch_filters": classification("mlp", **{"train.batch_size": 8, "filters.grokfast": "ema",
                                                      "filters.perpgrad": True, "filters.constant_norm": True}),
    "mlp_quadratic_sgd": classification("mlp", **{"model.depth": 2, "model.act": "quadratic", "model.bias": False,
                                                  "optimizer.name": "sgd", "optimizer.momentum": 0.9}),
    "mlp_pair_relu_bias_widths": classification("mlp", **{"model.depth": 2, "model.act": "relu",
                                                           "task.train_fraction": 0.5},
                                                members=[{"seed": 0, "model.width": 8, "task.train_fraction": 0.3},
                                                         {"seed": 1, "model.width": 5}, {"seed": 2}]),
    "liu_toy": classification("liu_toy", **{"filters.grokfast": "ma", "filters.grokfast_window": 3}),
    "two_layer_classification": classification("two_layer"),
    "random_features": lambda: engine_of(config(train={"batch_size": 16})),
    "linear": lambda: engine_of(config(model={"name": "linear"})),
    "two_layer_regression": lambda: engine_of(config(task={"test_size": 32}, train={"batch_size": 16},
                                                     model={"name": "two_layer", "act": "relu", "width": 8})),
    "deep_linear_rows": lambda: engine_of(config(task={"name": "linear_teacher", "dim": 6, "out_dim": 4,
                                                       "singular_values": [3.0, 1.0], "train_size": 32},
                                                 model={"name": "deep_linear", "depth": 3, "width": 8,
                                                        "init_scale": 0.1}, train={"batch_size": 8})),
    "deep_linear_population": lambda: engine_of(config(task={"name": "linear_teacher", "dim": 6, "out_dim": 4,
                                                             "singular_values": [3.0, 1.0], "train_size": None},
                                                       model={"name": "deep_linear", "depth": 2, "width": 8,
                                                              "init_scale": 0.01})),
}


@pytest.mark.parametrize("name", list(ENGINES))
def test_step_compiles_as_whole_graphs(name):
    eager, compiled = ENGINES[name](), ENGINES[name]().compile(backend="eager")
    for step in range(3):
        torch.testing.assert_close(compiled.train_step(step), eager.train_step(step), rtol=1e-6, atol=1e-7)
    for p, q in zip(compiled.model.parameters(), eager.model.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-6, atol=1e-7)
    assert compiled.optimizer.state[compiled.params[0]]["step"].tolist() == [3] * compiled.n_members


def _no_sync(*args, **kwargs):
    raise AssertionError("host synchronisation inside the training step")


SYNCS = [(torch.Tensor, name) for name in ("item", "cpu", "tolist", "nonzero", "__bool__", "__int__", "__float__")] \
    + [(torch, "nonzero")]


@pytest.mark.parametrize("name", list(ENGINES))
def test_step_has_no_host_sync(name, monkeypatch):
    engine = ENGINES[name]()
    with monkeypatch.context() as m:
        for owner, attr in SYNCS:
            m.setattr(owner, attr, _no_sync)
        for step in range(2):
            engine.train_step(step)
    assert torch.isfinite(engine.train_step(2)).all()  # the patches are gone: the same calls work outside


def test_the_patches_catch_a_sync(monkeypatch):
    """The check above can fail: a step that reads a loss on the host is caught."""
    engine = ENGINES["linear"]()
    with monkeypatch.context() as m:
        for owner, attr in SYNCS:
            m.setattr(owner, attr, _no_sync)
        with pytest.raises(AssertionError, match="host synchronisation"):
            engine.train_step(0).sum().item()
        with pytest.raises(AssertionError, match="host synchronisation"):
            torch.nonzero(engine.diverged)


def test_compiled_step_under_lightning():
    """Lightning's optimiser wrapper (its closure stays eager) drives the compiled update like the plain loop."""
    import lightning as L

    from trainers.module import EnsembleModule

    loop, fitted = ENGINES["transformer"]().compile(backend="eager"), ENGINES["transformer"]().compile(backend="eager")
    for step in range(4):
        loop.train_step(step)
    trainer = L.Trainer(accelerator="cpu", devices=1, max_steps=4, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(EnsembleModule(fitted, [0, 4], [0.9]))
    for p, q in zip(fitted.model.parameters(), loop.model.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-6, atol=1e-7)


def test_config_turns_compilation_on(monkeypatch):
    from trainers.fitting import configure_engine

    calls = []
    monkeypatch.setattr("toymodels.engines.base.EnsembleEngine.compile", lambda self, **kw: calls.append(kw) or self)
    cfg = with_settings(RunConfig(), {**tiny("mlp"), "train.compile": True, "train.cuda_graphs": True})
    cfg.seeds = [0]
    configure_engine(build_engine(cfg, expand(cfg), torch.device("cpu")), cfg, torch.device("cpu"))
    assert calls == [{"mode": None}]  # CUDA graphs are for CUDA devices only
    configure_engine(build_engine(cfg, expand(cfg), torch.device("cpu")), cfg, torch.device("cuda"))
    assert calls[-1] == {"mode": "reduce-overhead"}


@pytest.mark.parametrize("variant", [
    {"model.act": "quadratic", "model.bias": False},
    {"model.act": "tanh", "model.bias": True, "train.batch_size": 8},
])
def test_compiled_pair_mlp_fuses_its_loss(variant, monkeypatch):
    """Under compilation Gromov's two-layer net and its cross-entropy take one fused pass (pair_mlp_ce: loss and
    gradients per tile); inductor's code for it (not only the captured graph) trains like the eager step, in
    float64 to 1e-10, members with their own widths and training fractions included."""
    from toymodels.models import pair_mlp_ce

    traced = []
    monkeypatch.setattr(pair_mlp_ce, "tiles", lambda *a, f=pair_mlp_ce.tiles: traced.append(a) or f(*a))
    members = [{"seed": 0, "model.width": 8, "task.train_fraction": 0.3}, {"seed": 1, "model.width": 5},
               {"seed": 2}]
    build = classification("mlp", members, **{"model.depth": 2, "task.train_fraction": 0.5, "train.precision": "64",
                                              **variant})
    eager, compiled = build(), build().compile()
    assert compiled.model.weights[0].dtype == torch.float64
    for step in range(4):
        torch.testing.assert_close(compiled.train_step(step), eager.train_step(step), rtol=0, atol=1e-10)
    for p, q in zip(compiled.model.parameters(), eager.model.parameters()):
        torch.testing.assert_close(p, q, rtol=0, atol=1e-10)
    assert traced  # the compiled step took the fused pass
    assert all(t[0] == 3 for t in traced)  # E = 3: every member in the pass


@pytest.mark.parametrize("loss", ["stablemax", "mse"])
def test_fused_pass_only_for_softmax_cross_entropy(loss, monkeypatch):
    """Other heads keep the model-then-head path under compilation (and still match the eager step)."""
    from toymodels.models import pair_mlp_ce

    traced = []
    monkeypatch.setattr(pair_mlp_ce, "tiles", lambda *a, f=pair_mlp_ce.tiles: traced.append(a) or f(*a))
    build = classification("mlp", **{"model.depth": 2, "model.act": "quadratic", "loss.name": loss})
    eager, compiled = build(), build().compile(backend="eager")
    for step in range(2):
        torch.testing.assert_close(compiled.train_step(step), eager.train_step(step), rtol=1e-6, atol=1e-7)
    assert traced == []


def test_compile_without_a_cpu_compiler_is_one_clear_error(monkeypatch):
    """train.compile on the CPU with no C++ compiler for inductor: a ConfigError before training, not inductor's
    traceback at the first step."""
    from torch._inductor import cpp_builder

    from toymodels.errors import ConfigError
    from trainers.fitting import configure_engine

    cfg = with_settings(RunConfig(), {**tiny("mlp"), "train.compile": True})
    cfg.seeds = [0]
    engine = build_engine(cfg, expand(cfg), torch.device("cpu"))
    configure_engine(engine, cfg, torch.device("cpu"))  # this machine has one: no error

    def missing():
        raise cpp_builder.exc.InvalidCxxCompiler()

    monkeypatch.setattr(cpp_builder, "get_cpp_compiler", missing)
    with pytest.raises(ConfigError, match="train.compile.*C\\+\\+ compiler"):
        configure_engine(build_engine(cfg, expand(cfg), torch.device("cpu")), cfg, torch.device("cpu"))
