"""The two-layer family on regression tasks: f(x) = a . act(W x) in a lazy-to-rich parameterisation (richness
gamma0; ``toymodels.models.two_layer``) trained by (S)GD on (1/P)|f - f0 - y|^2 from its random initialisation, on
power-law Gaussian data or a two-layer teacher (``toymodels.regression.two_layer``). Per member: N = model.width,
gamma0 = model.gamma0, P, lr (times the parameterisation's multiplier: gamma0^2, times N for mup), sigma, seeds of
the init / data / noise / teacher / batch streams. On classification tables two_layer belongs to the classification
family (same model, the classification engine)."""
from __future__ import annotations

from pathlib import Path

import torch

from toymodels.errors import ConfigError
from toymodels.models.two_layer import EnsembleTwoLayer
from toymodels.optim import EnsembleSGD
from toymodels.regression.two_layer import TwoLayerEngine, build_network_data
from toymodels.tasks.powerlaw import PowerLawTask
from toymodels.tasks.teacher import TEACHER_ACTIVATIONS, TeacherTask

from ..config import RunConfig
from ..members import MemberTable
from . import probes
from .base import Family
from .regression_checks import check_positive_lr, check_squared_loss_and_filters, check_task_and_sizes, l2_lambdas
from .two_layer_checks import check_two_layer

F64 = torch.float64


def two_layer_gram(cfg: RunConfig) -> bool:
    """Does a fit train on sufficient statistics (linear activation, full batch, float64)?"""
    return (cfg.model.act or "relu") == "linear" and cfg.train.batch_size is None and cfg.train.precision == "64"


def two_layer_exact(cfg: RunConfig) -> bool:
    """Is the test loss an exact population loss (linear network and linear target)?"""
    act = cfg.model.act or "relu"
    return act == "linear" and (cfg.task.name == "powerlaw" or (cfg.task.teacher_act or act) == "linear")


class TwoLayer(Family):
    name = "two_layer"
    tasks = ("powerlaw", "teacher")
    models = ("two_layer",)

    def validate(self, cfg: RunConfig, members: MemberTable):
        t = cfg.task
        check_task_and_sizes(cfg, members)
        act = check_two_layer(cfg, members)
        if t.name == "teacher":
            if not t.teacher_width >= 1:
                raise ConfigError("task.teacher_width", f"must be >= 1 (got {t.teacher_width})")
            if (t.teacher_act or act) not in TEACHER_ACTIVATIONS:
                raise ConfigError("task.teacher_act", f"must be one of {', '.join(TEACHER_ACTIVATIONS)} "
                                                      f"(got {t.teacher_act})")
        l2_lambdas(members)
        check_positive_lr(members)
        if not two_layer_exact(cfg) and not (t.test_size or 0) >= 1:
            raise ConfigError("task.test_size", "a nonlinear network or target has no exact population loss: set a "
                                                "held-out size >= 1")
        check_squared_loss_and_filters(cfg)
        if cfg.probes.spectra:
            raise ConfigError("probes.spectra", "applies to classification models; use probes.lazy_rich for "
                                                "two_layer")

    def estimate_bytes(self, cfg: RunConfig, members: MemberTable) -> int:
        """W, W0, gradient, momentum [E, M, N]; rows X [E, P, M] (gram mode: S [E, M, M]) and held-out rows; the
        step's activations [E, B, N] (a few copies for backward) or an evaluation's; the float64 set-up."""
        E, M = len(members), int(cfg.task.dim)
        N = max(int(w) for w in members.column("model.width"))
        P = max(int(p) for p in members.column("task.train_size"))
        b = 8 if cfg.train.precision == "64" else 4
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

    def build_engine(self, cfg: RunConfig, members: MemberTable, device: torch.device) -> TwoLayerEngine:
        """The model initialised from each member's "init" stream at its true width, data from its data / noise /
        teacher streams, SGD at lr times the parameterisation's multiplier."""
        t, m, E = cfg.task, cfg.model, len(members)
        dtype = F64 if cfg.train.precision == "64" else torch.float32
        act = m.act or "relu"
        if t.name == "powerlaw":
            task = PowerLawTask(int(t.dim), float(t.alpha), float(t.r), 0.0)  # sigma is per member
            q = float(task.eta.sum())
        else:
            task = TeacherTask(int(t.dim), int(t.teacher_width), t.teacher_act or act)
            q = task.in_sq_norm
        N = [int(w) for w in members.column("model.width")]
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
        # the L2 penalty: optimizer.weight_decay, or 2 lambda from its alias model.ridge (groups may override it)
        wd = [2 * lam for lam in l2_lambdas(members)]
        groups = [{"params": [p], "name": g, "lr": [lr * s for lr, s in zip(members.group_column(g, "lr"), scale)],
                   "weight_decay": [w if o is None else o for w, o in
                                    zip(wd, members.column(f"optimizer.groups.{g}.weight_decay"))]}
                  for p, g in ((model.W, "hidden"), (model.a, "readout"))]
        lr_eff = list(groups[0]["lr"])  # (the optimiser turns the groups' lists into tensors)
        optimizer = EnsembleSGD(groups, E, momentum=members.column("optimizer.momentum"),
                                nesterov=cfg.optimizer.nesterov, warmup_steps=members.column("optimizer.warmup_steps"))
        columns = {"M": [int(t.dim)] * E, "N": N, "P": P, "lr": [float(x) for x in members.column("optimizer.lr")],
                   "lr_eff": lr_eff, "gamma0": gamma0, "parameterization": [m.parameterization] * E,
                   "act": [act] * E, "noise_std": sigmas, "batch": [cfg.train.batch_size or p for p in P]}
        return TwoLayerEngine(model, data, optimizer, cfg.train.batch_size,
                              torch.tensor(members.stream_seeds("batch"), dtype=torch.int64), columns)

    def callbacks(self, cfg: RunConfig, engine: TwoLayerEngine, run_dir: Path) -> list:
        """The lazy-rich probe on each member's first training rows (no closed-form theory for a trained first
        layer); its final measures become members.csv columns."""
        if not cfg.probes.lazy_rich:
            return []
        x, y = engine.probe_batch()  # [E, R, M], [E, R]
        rows = cfg.probes.rows
        return [probes.lazy_rich(cfg, x[:, :rows], y[:, :rows], run_dir, engine.extra_columns)]
