"""The random-feature family (SCIENCE.md section 2): the linear model and random-feature models on the power-law
task, trained by gradient descent from zero on (1/P)|y - Z v|^2 + lambda |v|^2 (``toymodels.regression``), with
the train-test gap (GCV) and the theory overlay as callbacks.

Per member: N = model.width (random features; the linear model has N = M = task.dim), P = task.train_size,
lr = optimizer.lr (times M/N with model.per_mode_lr), lambda = optimizer.weight_decay / 2 (or its alias model.ridge =
lambda), sigma = task.noise_std, seeds of the
streams data / projection / noise / batch. Training is gradient descent (optimizer sgd; train.batch_size null =
full batch).
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

from ..callbacks.gap import TrainTestGap
from ..callbacks.theory_overlay import TheoryOverlay
from ..config import RunConfig
from ..members import MemberTable
from .base import Family
from .regression_checks import check_positive_lr, check_squared_loss_and_filters, check_task_and_sizes, l2_lambdas

F64 = torch.float64


def activation(cfg: RunConfig) -> str:
    """The features' activation: random_features' model.act (default linear); the linear model has none."""
    return (cfg.model.act or "linear") if cfg.model.name == "random_features" else "linear"


def projection_alpha(cfg: RunConfig) -> float | None:
    """random_features' projection spectrum exponent (None: isotropic; the linear model has no projection)."""
    return cfg.model.projection_alpha if cfg.model.name == "random_features" else None


def widths(cfg: RunConfig, members: MemberTable) -> list[int]:
    if cfg.model.name == "linear":
        return [int(cfg.task.dim)] * len(members)
    return [int(w) for w in members.column("model.width")]


def step_sizes(cfg: RunConfig, members: MemberTable) -> list[float]:
    """The lr each member actually steps with (optimizer.lr, times M/N with model.per_mode_lr)."""
    lr = [float(x) for x in members.column("optimizer.lr")]
    if cfg.model.name != "random_features" or not cfg.model.per_mode_lr:
        return lr
    return [x * cfg.task.dim / n for x, n in zip(lr, widths(cfg, members))]


def member_spec(cfg: RunConfig, members: MemberTable) -> MemberSpec:
    """Each member's settings as the theory curves take them (``toymodels.regression.theory``)."""
    col = lambda key: torch.tensor([float(x) for x in members.column(key)], dtype=F64)  # noqa: E731
    N = torch.tensor(widths(cfg, members), dtype=F64) if cfg.model.name == "random_features" else None
    return MemberSpec(N, col("task.train_size"), torch.tensor(step_sizes(cfg, members), dtype=F64),
                      col("task.noise_std"), torch.tensor(l2_lambdas(members), dtype=F64), col("optimizer.momentum"),
                      col("optimizer.warmup_steps"), activation(cfg), projection_alpha(cfg),
                      cfg.train.batch_size)


def _projections(cfg: RunConfig, members: MemberTable, N: list[int], dtype, device) -> torch.Tensor:
    """F [E, M, N_max]: member e's projection from its "projection" stream at its own width, zero-padded."""
    M, E = int(cfg.task.dim), len(members)
    F = torch.zeros(E, M, max(N), dtype=dtype, device=device)
    seeds = members.stream_seeds("projection")
    last = None
    for e in sorted(range(E), key=lambda i: (seeds[i], N[i])):  # equal (seed, N): drawn once
        if last is None or last[0] != (seeds[e], N[e]):
            last = ((seeds[e], N[e]), sample_projection(M, N[e], [seeds[e]], projection_alpha(cfg))[0])
        F[e, :, :N[e]] = last[1].to(device=device, dtype=dtype)
    return F


class RandomFeatures(Family):
    name = "random_features"
    tasks = ("powerlaw",)
    models = ("linear", "random_features")

    def validate(self, cfg: RunConfig, members: MemberTable):
        t, m, o = cfg.task, cfg.model, cfg.optimizer
        check_task_and_sizes(cfg, members)
        if cfg.probes.lazy_rich or cfg.sweep.phase.rule == "lazy_rich":
            raise ConfigError("probes.lazy_rich" if cfg.probes.lazy_rich else "sweep.phase.rule",
                              f"the lazy-rich measures apply to model two_layer (got {m.name})")
        l2_lambdas(members)
        check_positive_lr(members)
        for s in members.column("model.init_scale"):
            if s != 1:
                raise ConfigError("model.init_scale", f"regression models start from zero (the GD theory's start); "
                                                      f"leave it at 1 (got {s})")
        act, alpha = activation(cfg), projection_alpha(cfg)
        if act not in ACTIVATIONS:
            raise ConfigError("model.act", f"must be one of {', '.join(sorted(ACTIVATIONS))} for random_features "
                                           f"(got {act})")
        if alpha is not None and not alpha >= 0:
            raise ConfigError("model.projection_alpha", f"must be >= 0 or null (isotropic) (got {alpha})")
        if act != "linear" and not (t.test_size or 0) >= 1:
            raise ConfigError("task.test_size", f"nonlinear features ({act}) have no exact population loss: set a "
                                                f"held-out size >= 1")
        if o.name != "sgd":
            raise ConfigError("optimizer.name", f"regression models train by gradient descent: use sgd (got {o.name})")
        check_squared_loss_and_filters(cfg)
        for probe in ("representation", "spectra"):  # modular-arithmetic representations; weight matrices
            if getattr(cfg.probes, probe):
                raise ConfigError(f"probes.{probe}", "has nothing to measure in a regression model (a trained "
                                                     "readout vector)")

    def estimate_bytes(self, cfg: RunConfig, members: MemberTable) -> int:
        """Peak memory of one fit: features Z [E, P_max, N_max] (+ held-out rows), projections F [E, M, N_max],
        readout with gradient and momentum, the step's activations, and the float64 copies of the closed-form
        t -> infinity solve (one group of equal sizes at a time; bounded here by all members)."""
        E, M = len(members), int(cfg.task.dim)
        N = max(widths(cfg, members))
        P = max(int(p) for p in members.column("task.train_size"))
        b = 8 if cfg.train.precision == "64" else 4
        T = int(cfg.task.test_size or 0) if activation(cfg) != "linear" else 0
        resident = E * (P + T) * N * b + (E * M * N * b if cfg.model.name == "random_features" else 0) + 4 * E * N * b
        B = cfg.train.batch_size or 0
        step = E * (2 * B * N + 3 * P) * b
        r = min(P, N)
        solve = E * (P * N + 3 * r * r) * 8
        build = (P + T) * (M + N) * 8 * 2
        return resident + max(step, solve, build)

    def build_engine(self, cfg: RunConfig, members: MemberTable, device: torch.device) -> RegressionEngine:
        t, m, E = cfg.task, cfg.model, len(members)
        dtype = F64 if cfg.train.precision == "64" else torch.float32
        task = PowerLawTask(int(t.dim), float(t.alpha), float(t.r), 0.0)  # sigma is per member
        N = widths(cfg, members)
        act = activation(cfg)
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
        ridge = l2_lambdas(members)
        columns = {"M": [task.M] * E, "N": N, "P": P, "lr": [float(x) for x in members.column("optimizer.lr")],
                   "lr_eff": lr, "ridge": ridge, "noise_std": sigmas,
                   "batch": [cfg.train.batch_size or p for p in P]}
        engine = RegressionEngine(model, data, optimizer, torch.tensor(ridge, dtype=F64), cfg.train.batch_size,
                                  torch.tensor(members.stream_seeds("batch"), dtype=torch.int64), columns)
        engine.task, engine.spec = task, member_spec(cfg, members)
        return engine

    def callbacks(self, cfg: RunConfig, engine: RegressionEngine, run_dir: Path) -> list:
        """The train-test gap (with GCV) and the theory overlay."""
        return [TrainTestGap(run_dir, engine), TheoryOverlay(run_dir, engine)]
