"""Regression fits (task powerlaw; models linear and random_features; two_layer on powerlaw or teacher): settings
checks, memory model, the engine built from the members table, and the callbacks every regression fit runs (train-test
gap, theory overlay; random features and the linear model only).

Per member: N = model.width (random features; the linear model has N = M = task.dim), P = task.train_size,
lr = optimizer.lr (times M/N with model.per_mode_lr), lambda = model.ridge, sigma = task.noise_std, seeds of the
streams data / projection / noise / batch. Training is gradient descent (optimizer sgd; train.batch_size null = full
batch) from zero on (1/P)|y - Z v|^2 + lambda |v|^2 (``toymodels.regression.engine``).

two_layer (``toymodels.regression.two_layer``): per member N = model.width, gamma0 = model.gamma0, P, lr (times the
parameterisation's multiplier: gamma0^2, times N for mup), sigma, seeds of init / data / noise / teacher / batch;
(S)GD on (1/P)|f - f0 - y|^2 from the parameterisation's random initialisation.
"""
from __future__ import annotations

from pathlib import Path

import torch

from toymodels.errors import ConfigError
from toymodels.models.random_features import EnsembleRandomFeatures
from toymodels.optim import EnsembleSGD
from toymodels.regression import MemberSpec, RegressionEngine, build_data
from toymodels.tasks.powerlaw import PowerLawTask, sample_projection
from toymodels.theory.gaussian_equivalence import ACTIVATIONS, ge_coefficients, preactivation_variance

from .config import RunConfig
from .members import MemberTable

F64 = torch.float64


def _fail(key: str, message: str):
    raise ConfigError(key, message)


def widths(cfg: RunConfig, members: MemberTable) -> list[int]:
    if cfg.model.name == "linear":
        return [int(cfg.task.dim)] * len(members)
    return [int(w) for w in members.column("model.width")]


def step_sizes(cfg: RunConfig, members: MemberTable) -> list[float]:
    """The lr each member actually steps with (optimizer.lr, times M/N with model.per_mode_lr)."""
    lr = [float(x) for x in members.column("optimizer.lr")]
    if not cfg.model.per_mode_lr:
        return lr
    return [x * cfg.task.dim / n for x, n in zip(lr, widths(cfg, members))]


def validate_regression(cfg: RunConfig, members: MemberTable, check_memory: bool = True):
    """Regression-specific checks (the generic ones already ran): one ConfigError naming the key."""
    t, m, o, f = cfg.task, cfg.model, cfg.optimizer, cfg.filters
    if m.name == "two_layer":
        validate_two_layer(cfg, members)
        if check_memory:
            check_memory_fits(cfg, members)
        return
    if t.name == "teacher":
        _fail("task.name", f"the teacher task trains model two_layer (got {m.name}); use task powerlaw")
    if m.name not in ("linear", "random_features"):
        _fail("model.name", f"{m.name} does not train on task {t.name} yet; use linear, random_features or two_layer")
    _check_task_and_sizes(cfg, members)
    if cfg.probes.lazy_rich or cfg.sweep.phase.rule == "lazy_rich":
        _fail("probes.lazy_rich" if cfg.probes.lazy_rich else "sweep.phase.rule",
              f"the lazy-rich measures apply to model two_layer (got {m.name})")
    for lam in members.column("model.ridge"):
        if not lam >= 0:
            _fail("model.ridge", f"lambda must be >= 0 (got {lam})")
    for lr in members.column("optimizer.lr"):
        if not lr > 0:
            _fail("optimizer.lr", f"must be > 0 (got {lr})")
    for s in members.column("model.init_scale"):
        if s != 1:
            _fail("model.init_scale", f"regression models start from zero (the GD theory's start); leave it at 1 "
                                      f"(got {s})")
    act = m.act or "linear"
    if m.name == "linear":
        if act != "linear":
            _fail("model.act", f"the linear model has no activation (got {m.act}); use random_features")
        if m.projection_alpha is not None or m.per_mode_lr:
            _fail("model.projection_alpha" if m.projection_alpha is not None else "model.per_mode_lr",
                  "applies to random_features only")
    elif act not in ACTIVATIONS:
        _fail("model.act", f"must be one of {', '.join(sorted(ACTIVATIONS))} for random_features (got {act})")
    if m.projection_alpha is not None and not m.projection_alpha >= 0:
        _fail("model.projection_alpha", f"must be >= 0 or null (isotropic) (got {m.projection_alpha})")
    if act != "linear" and not (t.test_size or 0) >= 1:
        _fail("task.test_size", f"nonlinear features ({act}) have no exact population loss: set a held-out size >= 1")
    if o.name != "sgd":
        _fail("optimizer.name", f"regression models train by gradient descent: use sgd (got {o.name})")
    for wd in members.column("optimizer.weight_decay"):
        if wd != 0:
            _fail("optimizer.weight_decay", f"use model.ridge (lambda of (1/P)|y - Z v|^2 + lambda |v|^2) instead "
                                            f"(got {wd})")
    if cfg.loss.name not in ("cross_entropy", "mse"):  # cross_entropy: the unset default; regression is squared loss
        _fail("loss.name", f"regression uses the squared loss; leave loss.name unset or mse (got {cfg.loss.name})")
    if f.grokfast != "none" or f.perpgrad or f.constant_norm:
        _fail("filters", "gradient filters and norm constraints are not part of the regression models")
    for probe in ("representation", "spectra"):  # modular-arithmetic representations; weight matrices
        if getattr(cfg.probes, probe):
            _fail(f"probes.{probe}", "has nothing to measure in a regression model (a trained readout vector)")
    if check_memory:
        check_memory_fits(cfg, members)


def _check_task_and_sizes(cfg: RunConfig, members: MemberTable):
    """Checks shared by every regression model: the task's exponents, P, sigma."""
    t = cfg.task
    if not t.dim >= 1:
        _fail("task.dim", f"M must be >= 1 (got {t.dim})")
    if t.name == "powerlaw":
        if not t.alpha > 1:
            _fail("task.alpha", f"must be > 1 (got {t.alpha}): sum_k eta_k = sum_k k^-alpha diverges as M grows, so "
                                "the input norm, the GD step limit and the scaling-law theory depend on M")
        if not t.r > 0:
            _fail("task.r", f"must be > 0 (got {t.r}): a = 1 + 2 alpha r must exceed 1, else the target power "
                            "sum_k k^-a diverges")
    for P in members.column("task.train_size"):
        if P is None or not P >= 1:
            _fail("task.train_size", f"P must be an integer >= 1 (got {P})")
    for s in members.column("task.noise_std"):
        if not s >= 0:
            _fail("task.noise_std", f"sigma must be >= 0 (got {s})")


def two_layer_gram(cfg: RunConfig) -> bool:
    """Does a two-layer regression fit train on sufficient statistics (linear activation, full batch, float64)?"""
    return (cfg.model.act or "relu") == "linear" and cfg.train.batch_size is None and cfg.train.precision == "64"


def two_layer_exact(cfg: RunConfig) -> bool:
    """Is the test loss an exact population loss (linear network and linear target)?"""
    act = cfg.model.act or "relu"
    return act == "linear" and (cfg.task.name == "powerlaw" or (cfg.task.teacher_act or act) == "linear")


def validate_two_layer(cfg: RunConfig, members: MemberTable):
    """two_layer on a regression task (powerlaw or teacher)."""
    from toymodels.tasks.teacher import TEACHER_ACTIVATIONS

    from .two_layer_checks import check_two_layer

    t, m, f = cfg.task, cfg.model, cfg.filters
    for key, value in (("model.projection_alpha", m.projection_alpha is not None), ("model.per_mode_lr", m.per_mode_lr)):
        if value:
            _fail("model.name", f"two_layer takes no random-feature settings: unset {key}")
    _check_task_and_sizes(cfg, members)
    act = check_two_layer(cfg, members)
    if t.name == "teacher":
        if not t.teacher_width >= 1:
            _fail("task.teacher_width", f"must be >= 1 (got {t.teacher_width})")
        if (t.teacher_act or act) not in TEACHER_ACTIVATIONS:
            _fail("task.teacher_act", f"must be one of {', '.join(TEACHER_ACTIVATIONS)} (got {t.teacher_act})")
    elif t.teacher_act is not None:
        _fail("task.teacher_act", "applies to the teacher task only")
    for lam in members.column("model.ridge"):
        if lam != 0:
            _fail("model.ridge", f"two_layer has no ridge term; use optimizer.weight_decay (got {lam})")
    for lr in members.column("optimizer.lr"):
        if not lr > 0:
            _fail("optimizer.lr", f"must be > 0 (got {lr})")
    if not two_layer_exact(cfg) and not (t.test_size or 0) >= 1:
        _fail("task.test_size", "a nonlinear network or target has no exact population loss: set a held-out size >= 1")
    if cfg.loss.name not in ("cross_entropy", "mse"):
        _fail("loss.name", f"regression uses the squared loss; leave loss.name unset or mse (got {cfg.loss.name})")
    if f.grokfast != "none" or f.perpgrad or f.constant_norm:
        _fail("filters", "gradient filters and norm constraints are not part of the regression models")
    if cfg.probes.spectra:
        _fail("probes.spectra", "applies to classification models; use probes.lazy_rich for two_layer")


# ---- memory ------------------------------------------------------------------------------------------------------
def estimate_bytes(cfg: RunConfig, members: MemberTable) -> int:
    """Peak memory of one regression fit: features Z [E, P_max, N_max] (+ held-out rows), projections F
    [E, M, N_max], readout with gradient and momentum, the step's activations, and the float64 copies of the
    closed-form t -> infinity solve (one group of equal sizes at a time; bounded here by all members)."""
    E, M = len(members), int(cfg.task.dim)
    N = max(widths(cfg, members))
    P = max(int(p) for p in members.column("task.train_size"))
    b = 8 if cfg.train.precision == "64" else 4
    if cfg.model.name == "two_layer":
        return _two_layer_bytes(cfg, E, M, N, P, b)
    act = (cfg.model.act or "linear") != "linear"
    T = int(cfg.task.test_size or 0) if act else 0
    resident = E * (P + T) * N * b + (E * M * N * b if cfg.model.name == "random_features" else 0) + 4 * E * N * b
    B = cfg.train.batch_size or 0
    step = E * (2 * B * N + 3 * P) * b
    r = min(P, N)
    solve = E * (P * N + 3 * r * r) * 8
    build = (P + T) * (M + N) * 8 * 2
    return resident + max(step, solve, build)


def _two_layer_bytes(cfg: RunConfig, E: int, M: int, N: int, P: int, b: int) -> int:
    """Two-layer fits: W, W0, gradient, momentum [E, M, N]; rows X [E, P, M] (gram mode: S [E, M, M]) and held-out
    rows; the step's activations [E, B, N] (a few copies for backward) or an evaluation's; the float64 set-up."""
    T = 0 if two_layer_exact(cfg) else int(cfg.task.test_size or 0)
    gram = two_layer_gram(cfg)
    params = 4 * E * (M + 1) * N * b
    data = E * M * M * b if gram else E * P * (M + 2) * b
    held = E * T * (M + 2) * b
    B = cfg.train.batch_size or P
    step = 0 if gram else 4 * E * B * N * b
    evaluate = 0 if gram else 2 * E * max(P, T) * N * b
    build = (P + T) * M * 8 * 2 + M * M * 8
    return params + data + held + max(step, evaluate, build)


def check_memory_fits(cfg: RunConfig, members: MemberTable):
    from .build import resolve_device
    from .validate import available_bytes

    device = resolve_device(cfg.train.device)
    need, have = estimate_bytes(cfg, members), available_bytes(device)
    if need > 0.9 * have:
        _fail("members", f"{len(members)} regression members need about {need / 2**30:.1f} GiB but "
                         f"{have / 2**30:.1f} GiB is free on {device}: use fewer members, smaller N/P/M "
                         f"(task.dim), or toylab sweep (which chunks)")


def members_per_fit(cfg: RunConfig, members: MemberTable) -> int:
    """The largest chunk of these members that fits in memory (for the sweep planner)."""
    from .build import resolve_device
    from .validate import available_bytes

    if cfg.sweep.max_members:
        return cfg.sweep.max_members
    one = estimate_bytes(cfg, MemberTable(cfg, members.overrides[:1]))
    # the largest sizes of the group bound every member's padded share
    big = max(members.overrides, key=lambda o: (o.get("task.train_size") or 0) * (o.get("model.width") or 1))
    per = estimate_bytes(cfg, MemberTable(cfg, [big] * 2)) - estimate_bytes(cfg, MemberTable(cfg, [big]))
    have = 0.8 * available_bytes(resolve_device(cfg.train.device)) - max(one - per, 0)
    return max(1, min(4096, int(have // max(per, 1))))


# ---- the engine --------------------------------------------------------------------------------------------------
def member_spec(cfg: RunConfig, members: MemberTable) -> MemberSpec:
    col = lambda key: torch.tensor([float(x) for x in members.column(key)], dtype=F64)  # noqa: E731
    N = torch.tensor(widths(cfg, members), dtype=F64) if cfg.model.name == "random_features" else None
    return MemberSpec(N, col("task.train_size"), torch.tensor(step_sizes(cfg, members), dtype=F64),
                      col("task.noise_std"), col("model.ridge"), col("optimizer.momentum"),
                      col("optimizer.warmup_steps"), cfg.model.act or "linear", cfg.model.projection_alpha,
                      cfg.train.batch_size)


def _projections(cfg: RunConfig, members: MemberTable, N: list[int], dtype, device) -> torch.Tensor:
    """F [E, M, N_max]: member e's projection from its "projection" stream at its own width, zero-padded."""
    M, E = int(cfg.task.dim), len(members)
    F = torch.zeros(E, M, max(N), dtype=dtype, device=device)
    seeds = members.stream_seeds("projection")
    last = None
    for e in sorted(range(E), key=lambda i: (seeds[i], N[i])):  # equal (seed, N): drawn once
        if last is None or last[0] != (seeds[e], N[e]):
            last = ((seeds[e], N[e]), sample_projection(M, N[e], [seeds[e]], cfg.model.projection_alpha)[0])
        F[e, :, :N[e]] = last[1].to(device=device, dtype=dtype)
    return F


def build_two_layer_engine(cfg: RunConfig, members: MemberTable, device: torch.device):
    """The two-layer regression engine: model initialised from each member's "init" stream at its true width, data
    from its data / noise / teacher streams, SGD at lr times the parameterisation's multiplier."""
    from toymodels.models.two_layer import EnsembleTwoLayer
    from toymodels.regression.two_layer import TwoLayerEngine, build_network_data
    from toymodels.tasks.teacher import TeacherTask

    t, m, E = cfg.task, cfg.model, len(members)
    dtype = F64 if cfg.train.precision == "64" else torch.float32
    act = m.act or "relu"
    if t.name == "powerlaw":
        task = PowerLawTask(int(t.dim), float(t.alpha), float(t.r), 0.0)  # sigma is per member
        q = float(task.eta.sum())
    else:
        task = TeacherTask(int(t.dim), int(t.teacher_width), t.teacher_act or act)
        q = task.in_sq_norm
    N = widths(cfg, members)
    gamma0 = [float(g) for g in members.column("model.gamma0")]
    model = EnsembleTwoLayer(E, int(t.dim), 1, N, act, m.parameterization, gamma0, q, "dense", m.center)
    model.reset_parameters(members.stream_seeds("init"), members.column("model.init_scale"))
    model = model.to(device=device, dtype=dtype)
    P = [int(p) for p in members.column("task.train_size")]
    sigmas = [float(s) for s in members.column("task.noise_std")]
    data = build_network_data(task, model, P, members.stream_seeds("data"), members.stream_seeds("noise"),
                              members.stream_seeds("teacher"), sigmas, t.test_size, two_layer_gram(cfg),
                              cfg.probes.rows)
    scale = model.lr_scale.tolist()
    groups = [{"params": [p], "name": g, "lr": [lr * s for lr, s in zip(members.group_column(g, "lr"), scale)],
               "weight_decay": members.group_column(g, "weight_decay")}
              for p, g in ((model.W, "hidden"), (model.a, "readout"))]
    lr_eff = list(groups[0]["lr"])  # (the optimiser turns the groups' lists into tensors)
    optimizer = EnsembleSGD(groups, E, momentum=members.column("optimizer.momentum"),
                            nesterov=cfg.optimizer.nesterov, warmup_steps=members.column("optimizer.warmup_steps"))
    columns = {"M": [int(t.dim)] * E, "N": N, "P": P, "lr": [float(x) for x in members.column("optimizer.lr")],
               "lr_eff": lr_eff, "gamma0": gamma0, "parameterization": [m.parameterization] * E,
               "act": [act] * E, "noise_std": sigmas, "batch": [cfg.train.batch_size or p for p in P]}
    return TwoLayerEngine(model, data, optimizer, cfg.train.batch_size,
                          torch.tensor(members.stream_seeds("batch"), dtype=torch.int64), columns)


def build_regression_engine(cfg: RunConfig, members: MemberTable, device: torch.device) -> RegressionEngine:
    t, m, E = cfg.task, cfg.model, len(members)
    if m.name == "two_layer":
        return build_two_layer_engine(cfg, members, device)
    dtype = F64 if cfg.train.precision == "64" else torch.float32
    task = PowerLawTask(int(t.dim), float(t.alpha), float(t.r), 0.0)  # sigma is per member
    N = widths(cfg, members)
    act = m.act or "linear"
    F = _projections(cfg, members, N, dtype, device) if m.name == "random_features" else None
    mu0 = float(ge_coefficients(act, preactivation_variance(task.eta))[0]) if act != "linear" else 0.0
    model = EnsembleRandomFeatures(E, task.M, F, N, act, mu0).to(device=device, dtype=dtype)
    P = [int(p) for p in members.column("task.train_size")]
    sigmas = [float(s) for s in members.column("task.noise_std")]
    data = build_data(task, model, P, members.stream_seeds("data"), members.stream_seeds("noise"), sigmas,
                      t.test_size if act != "linear" else None)
    lr = step_sizes(cfg, members)
    optimizer = EnsembleSGD([{"params": [model.v], "name": "default"}], E, lr=lr, weight_decay=0.0,
                            momentum=members.column("optimizer.momentum"), nesterov=cfg.optimizer.nesterov,
                            warmup_steps=members.column("optimizer.warmup_steps"))
    ridge = [float(x) for x in members.column("model.ridge")]
    columns = {"M": [task.M] * E, "N": N, "P": P, "lr": [float(x) for x in members.column("optimizer.lr")],
               "lr_eff": lr, "ridge": ridge, "noise_std": sigmas,
               "batch": [cfg.train.batch_size or p for p in P]}
    engine = RegressionEngine(model, data, optimizer, torch.tensor(ridge, dtype=F64), cfg.train.batch_size,
                              torch.tensor(members.stream_seeds("batch"), dtype=torch.int64), columns)
    engine.task, engine.spec = task, member_spec(cfg, members)
    return engine


def regression_callbacks(cfg: RunConfig, engine: RegressionEngine, run_dir: Path) -> list:
    """Callbacks of every regression fit: the train-test gap (with GCV) and the theory overlay."""
    from .callbacks.gap import TrainTestGap
    from .callbacks.theory_overlay import TheoryOverlay

    if cfg.model.name == "two_layer":  # no closed-form limit or GD theory for a trained first layer
        return []
    return [TrainTestGap(run_dir, engine), TheoryOverlay(run_dir, engine)]
