"""From a validated config and its members table to a plain-PyTorch ``EnsembleEngine`` on a device."""
from __future__ import annotations

import torch

from toymodels.engine import EnsembleEngine
from toymodels.losses import build_head
from toymodels.models.mlp import EnsembleLiuToy, EnsembleMLP
from toymodels.models.transformer import EnsembleTransformer
from toymodels.optim import (ConstantNorm, EnsembleAdam, EnsembleAdamW, EnsembleSGD, GrokfastEMA, GrokfastMA,
                             PerpGrad)
from toymodels.tasks import TaskTable, ensemble_data, image_table, symbolic_table

from .config import RunConfig
from .members import MemberTable


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        from toymodels.errors import ConfigError

        raise ConfigError("train.device", "cuda requested but no CUDA device is visible; use cpu or auto")
    return torch.device(name)


def build_table(cfg: RunConfig) -> TaskTable:
    if cfg.task.name == "modular":
        return symbolic_table(cfg.task.operation, cfg.task.p)
    return image_table(cfg.task.name, cfg.task.data_path)


def output_dim(cfg: RunConfig, table: TaskTable) -> int:
    """Model outputs: the classes, one logit more for "=" (transformer), or the template dimension (mse)."""
    if cfg.loss.name == "mse" and cfg.loss.template_dim is not None:
        return cfg.loss.template_dim
    return table.n_classes


def build_model(cfg: RunConfig, members: MemberTable, table: TaskTable):
    m, E = cfg.model, len(members)
    if m.name != "two_layer" and (cfg.probes.lazy_rich or cfg.sweep.phase.rule == "lazy_rich"):
        from toymodels.errors import ConfigError

        raise ConfigError("probes.lazy_rich" if cfg.probes.lazy_rich else "sweep.phase.rule",
                          f"the lazy-rich measures apply to model two_layer (got {m.name})")
    n_out = output_dim(cfg, table)
    if m.name == "transformer":
        if table.input_kind != "pairs":
            from toymodels.errors import ConfigError

            raise ConfigError("model.name", "the transformer takes operand pairs; use mlp for image tasks")
        return EnsembleTransformer(E, table.n_symbols, n_out, m.d_model, m.n_heads, m.d_head, m.d_mlp,
                                   m.act or "relu", logit_for_equals=m.logit_for_equals and cfg.loss.name != "mse")
    widths = [int(w) for w in members.column("model.width")]
    if m.name == "two_layer":
        return _two_layer(cfg, members, table, n_out, widths)
    if m.name == "mlp":
        in_dim = 2 * table.n_symbols if table.input_kind == "pairs" else table.input_dim
        return EnsembleMLP(E, in_dim, n_out, m.width, m.depth, m.act or "relu", m.bias, table.input_kind, widths)
    return EnsembleLiuToy(E, table.n_symbols, n_out, m.d_embed, m.width, m.depth, m.act or "tanh", widths)


def _two_layer(cfg: RunConfig, members: MemberTable, table: TaskTable, n_out: int, widths: list[int]):
    """two_layer on a classification table (one-hot operand pairs, or images), f - f0 by default."""
    from toymodels.errors import ConfigError
    from toymodels.models.two_layer import EnsembleTwoLayer

    from .two_layer_checks import check_two_layer

    m = cfg.model
    act = check_two_layer(cfg, members)
    if cfg.probes.spectra and len(set(widths)) > 1:
        raise ConfigError("probes.spectra", "two_layer members of different widths: run one width per fit")
    pairs = table.input_kind == "pairs"
    in_dim = 2 * table.n_symbols if pairs else table.input_dim
    q = 2.0 if pairs else float(table.x.double().pow(2).sum(1).mean())  # E|x|^2 over the table
    return EnsembleTwoLayer(len(members), in_dim, n_out, widths, act, m.parameterization,
                            [float(g) for g in members.column("model.gamma0")], q, table.input_kind, m.center)


def build_optimizer(cfg: RunConfig, members: MemberTable, model):
    o, E = cfg.optimizer, len(members)
    by_group: dict[str, list] = {}
    for name, p in model.named_parameters():
        by_group.setdefault(model.group_of(name), []).append(p)
    scale = getattr(model, "lr_scale", None)  # [E] per-member lr multiplier of a parameterisation (two_layer)
    groups = []
    for g, params in by_group.items():
        lr = members.group_column(g, "lr")
        if scale is not None:
            lr = [x * s for x, s in zip(lr, scale.tolist())]
        groups.append({"params": params, "name": g, "lr": lr,
                       "weight_decay": members.group_column(g, "weight_decay")})
    common = dict(lr=members.column("optimizer.lr"), weight_decay=members.column("optimizer.weight_decay"),
                  warmup_steps=members.column("optimizer.warmup_steps"))
    if o.name == "sgd":
        return EnsembleSGD(groups, E, momentum=members.column("optimizer.momentum"), nesterov=o.nesterov, **common)
    betas = members.column("optimizer.betas")
    cls = EnsembleAdamW if o.name == "adamw" else EnsembleAdam
    return cls(groups, E, betas=([b[0] for b in betas], [b[1] for b in betas]),
               eps=members.column("optimizer.eps"), **common)


REGRESSION_TASKS = ("powerlaw", "teacher")


def build_engine(cfg: RunConfig, members: MemberTable, device: torch.device):
    """Everything one fit trains, initialised from each member's own seeds and placed on ``device``."""
    if cfg.task.name in REGRESSION_TASKS:
        from .regression import build_regression_engine  # random features, two-layer nets: SCIENCE.md section 2

        return build_regression_engine(cfg, members, device)
    E = len(members)
    dtype = torch.float64 if cfg.train.precision == "64" else torch.float32
    table = build_table(cfg)
    data = ensemble_data(table, members.column("task.train_fraction"), members.column("task.train_size"),
                         members.stream_seeds("split"), [int(k) for k in members.column("task.label_noise")],
                         members.stream_seeds("noise"))
    if table.input_kind == "dense":
        data.table.x = data.table.x.to(dtype)
    data = data.to(device)
    model = build_model(cfg, members, table)
    model.reset_parameters(members.stream_seeds("init"), members.column("model.init_scale"))
    model = model.to(device=device, dtype=dtype)
    head = build_head(cfg.loss.name, table.n_classes, cfg.loss.float64, members.stream_seeds("templates"),
                      cfg.loss.template_dim).to(device=device, dtype=dtype)
    optimizer = build_optimizer(cfg, members, model)
    params = list(model.parameters())
    f = cfg.filters
    filters = []  # applied in this order: Grokfast sees raw gradients, PerpGrad projects the final direction
    if f.grokfast == "ema":
        filters.append(GrokfastEMA(params, E, members.column("filters.grokfast_alpha"),
                                   members.column("filters.grokfast_lamb")))
    elif f.grokfast == "ma":
        filters.append(GrokfastMA(params, E, f.grokfast_window, members.column("filters.grokfast_lamb"),
                                  f.grokfast_warmup))
    if f.perpgrad:
        filters.append(PerpGrad(params))
    constraint = ConstantNorm(params) if f.constant_norm else None
    batch_seeds = torch.tensor(members.stream_seeds("batch"), dtype=torch.int64)
    return EnsembleEngine(data, model, head, optimizer, filters, constraint, cfg.train.batch_size, batch_seeds,
                          cfg.train.eval_chunk_rows)
