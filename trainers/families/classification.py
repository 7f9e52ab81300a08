"""The classification family: modular-arithmetic tables (any operation) and image tasks (digits, MNIST) with Nanda's
transformer, MLPs, Liu's toy or two-layer nets; cross-entropy, StableMax or MSE heads; AdamW / Adam / SGD with
Grokfast and PerpGrad filters and the Omnigrok constant-norm constraint. Engine: ``toymodels.engines.
ClassificationEngine``. Probes: representation (RQI, Fourier, CKA, ...), spectra, and lazy-rich for two_layer."""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from toymodels.engines import ClassificationEngine
from toymodels.errors import ConfigError
from toymodels.losses import build_head
from toymodels.metrics.representation.probe import RepresentationProbe
from toymodels.models import single
from toymodels.models.mlp import EnsembleLiuToy, EnsembleMLP
from toymodels.models.transformer import EnsembleTransformer
from toymodels.models.two_layer import EnsembleTwoLayer
from toymodels.optim import (ConstantNorm, EnsembleAdam, EnsembleAdamW, EnsembleSGD, GrokfastEMA, GrokfastMA,
                             PerpGrad)
from toymodels.tasks import TaskTable, ensemble_data, image_table, symbolic_table
from toymodels.tasks.operations import canonical

from ..config import RunConfig
from ..members import MemberTable
from . import probes
from .base import Family
from .two_layer_checks import check_two_layer


def build_table(cfg: RunConfig) -> TaskTable:
    if cfg.task.name == "modular":
        return symbolic_table(cfg.task.operation, cfg.task.p)
    return image_table(cfg.task.name, cfg.task.data_path if cfg.task.name == "mnist" else None)


def output_dim(cfg: RunConfig, table: TaskTable) -> int:
    """Model outputs: the classes, one logit more for "=" (transformer), or the template dimension (mse)."""
    if cfg.loss.name == "mse" and cfg.loss.template_dim is not None:
        return cfg.loss.template_dim
    return table.n_classes


def build_model(cfg: RunConfig, members: MemberTable, table: TaskTable):
    m, E = cfg.model, len(members)
    n_out = output_dim(cfg, table)
    if m.name == "transformer":
        if table.input_kind != "pairs":
            raise ConfigError("model.name", "the transformer takes operand pairs; use mlp for image tasks")
        return EnsembleTransformer(E, table.n_symbols, n_out, m.d_model, m.n_heads, m.d_head, m.d_mlp,
                                   m.act or "relu", logit_for_equals=m.logit_for_equals and cfg.loss.name != "mse")
    widths = [int(w) for w in members.column("model.width")]
    pairs = table.input_kind == "pairs"
    in_dim = 2 * table.n_symbols if pairs else table.input_dim
    if m.name == "two_layer":  # one-hot operand pairs or images, f - f0 by default
        q = 2.0 if pairs else float(table.x.double().pow(2).sum(1).mean())  # E|x|^2 over the table
        return EnsembleTwoLayer(E, in_dim, n_out, widths, m.act or "relu", m.parameterization,
                                [float(g) for g in members.column("model.gamma0")], q, table.input_kind, m.center)
    if m.name == "mlp":
        return EnsembleMLP(E, in_dim, n_out, m.width, m.depth, m.act or "relu", m.bias, table.input_kind, widths)
    return EnsembleLiuToy(E, table.n_symbols, n_out, m.d_embed, m.width, m.depth, m.act or "tanh", widths)


def build_optimizer(cfg: RunConfig, members: MemberTable, model):
    o, E = cfg.optimizer, len(members)
    by_group: dict[str, list] = {}
    for name, p in model.named_parameters():
        by_group.setdefault(model.group_of(name), []).append(p)
    # [E] per-member lr multiplier of a parameterisation (two_layer's gamma0^2, N for mup); 1 for the others
    scale = model.lr_scale.tolist() if isinstance(model, EnsembleTwoLayer) else [1.0] * E
    groups = [{"params": params, "name": g, "lr": [x * s for x, s in zip(members.group_column(g, "lr"), scale)],
               "weight_decay": members.group_column(g, "weight_decay")} for g, params in by_group.items()]
    common = dict(lr=members.column("optimizer.lr"), weight_decay=members.column("optimizer.weight_decay"),
                  warmup_steps=members.column("optimizer.warmup_steps"))
    if o.name == "sgd":
        return EnsembleSGD(groups, E, momentum=members.column("optimizer.momentum"), nesterov=o.nesterov, **common)
    betas = members.column("optimizer.betas")
    cls = EnsembleAdamW if o.name == "adamw" else EnsembleAdam
    return cls(groups, E, betas=([b[0] for b in betas], [b[1] for b in betas]),
               eps=members.column("optimizer.eps"), **common)


def table_probe_rows(engine: ClassificationEngine, rows: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A fixed random subset of ``rows`` table rows, the same for every member: (x [R, ...], one-hot targets
    [E, R, C]) for the lazy-rich measures."""
    data = engine.data
    g = torch.Generator().manual_seed(0)
    idx = torch.randperm(data.table.rows, generator=g)[:min(rows, data.table.rows)].sort().values
    idx = idx.to(data.labels.device)
    labels = data.labels[:, idx]  # [E, R]
    return data.table.x[idx], F.one_hot(labels, data.table.n_classes).to(engine.model.W.dtype)


def standalone(cfg: RunConfig, model, e: int) -> torch.nn.Module:
    """Member ``e`` of an ensemble transformer, MLP or Liu toy as the standalone model of
    ``toymodels.models.single`` (same weights, standalone names)."""
    m = cfg.model
    if m.name == "transformer":
        net = single.Transformer(model.d_vocab, model.d_vocab_out, m.d_model, m.n_heads, m.d_head, m.d_mlp,
                                 model.act)
    else:
        mlp = model.decoder if m.name == "liu_toy" else model
        w = int(mlp.widths[e])
        sizes = [mlp.in_dim] + [w] * (mlp.depth - 1) + [mlp.n_out]
        if m.name == "liu_toy":
            net = single.LiuToy(model.n_symbols, model.d_embed, sizes, mlp.act)
        else:
            net = single.MLP(sizes, mlp.act, mlp.bias, n_symbols=mlp.in_dim // 2 if mlp.input_kind == "pairs" else 0)
    net = net.to(next(model.parameters()).dtype)
    net.load_state_dict(model.member_state(e), strict=True)
    return net


class Classification(Family):
    name = "classification"
    tasks = ("modular", "digits", "mnist")
    models = ("transformer", "mlp", "liu_toy", "two_layer")
    regression = False

    def validate(self, cfg: RunConfig, members: MemberTable):
        t, m = cfg.task, cfg.model
        if t.name == "modular":
            canonical(t.operation)
            if not (isinstance(t.p, int) and t.p >= 2):
                raise ConfigError("task.p", f"must be an integer >= 2 (got {t.p})")
        for f, s in zip(members.column("task.train_fraction"), members.column("task.train_size")):
            if s is None and not (f is not None and 0 < f <= 1):
                raise ConfigError("task.train_fraction", f"must be in (0, 1] (got {f})")
        if m.name == "two_layer":
            check_two_layer(cfg, members)
            if cfg.probes.spectra and len(set(members.column("model.width"))) > 1:
                raise ConfigError("probes.spectra", "two_layer members of different widths: run one width per fit")
        elif cfg.probes.lazy_rich or cfg.sweep.phase.rule == "lazy_rich":
            raise ConfigError("probes.lazy_rich" if cfg.probes.lazy_rich else "sweep.phase.rule",
                              f"the lazy-rich measures apply to model two_layer (got {m.name})")

    def estimate_bytes(self, cfg: RunConfig, members: MemberTable) -> int:
        """Rough peak memory of one fit: parameters with gradients, optimiser and filter state, and activations of
        the training batch (kept for backward) or an evaluation chunk, whichever is larger."""
        E, m = len(members), cfg.model
        table = build_table(cfg)
        n_rows = table.rows
        n_train = max(int(table.pool.numel() * (f or 1)) if s is None else s
                      for f, s in zip(members.column("task.train_fraction"), members.column("task.train_size")))
        with torch.device("meta"):  # a meta-device model gives parameter counts without memory
            model = build_model(cfg, members, table)
        n_params = sum(p.numel() for p in model.parameters())  # includes E
        bytes_per = 8 if cfg.train.precision == "64" else 4
        state = 3 if cfg.optimizer.name != "sgd" else 2  # grad + Adam moments / momentum
        state += {"none": 0, "ema": 1, "ma": cfg.filters.grokfast_window}[cfg.filters.grokfast]
        if m.name == "transformer":
            # residual, q/k/v of three positions, attention, MLP pre/post, logits (+ their softmax)
            per_row = 3 * m.d_model + 9 * m.n_heads * m.d_head + 3 * m.n_heads + 2 * m.d_mlp + 2 * model.W_U.shape[-1]
        else:
            depth = 2 if m.name == "two_layer" else m.depth  # weight layers
            per_row = (depth + 1) * m.width * 2 + 64
        rows = cfg.train.batch_size or n_train
        act = E * max(rows * per_row * 2, min(n_rows, cfg.train.eval_chunk_rows or n_rows) * per_row)
        return (n_params * (1 + state) + act) * bytes_per

    def build_engine(self, cfg: RunConfig, members: MemberTable, device: torch.device) -> ClassificationEngine:
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
        return ClassificationEngine(data, model, head, optimizer, filters, constraint, cfg.train.batch_size,
                                    batch_seeds, cfg.train.eval_chunk_rows)

    def callbacks(self, cfg: RunConfig, engine: ClassificationEngine, run_dir: Path) -> list:
        pc, out = cfg.probes, []
        if pc.representation:
            modular = cfg.task.name == "modular"  # image tables have no operation or modulus (p = 0: no Fourier)
            probe = RepresentationProbe(engine.data, cfg.task.operation if modular else cfg.task.name,
                                        cfg.task.p if modular else 0, pc.rows, pc.rqi_delta,
                                        logits=cfg.loss.name != "mse")
            out.append(probes.representation(cfg, probe, run_dir))
        if pc.spectra:
            out.append(probes.spectra(cfg, run_dir))
        if pc.lazy_rich:  # two_layer (validated): histories only, as before members.csv had no such columns here
            out.append(probes.lazy_rich(cfg, *table_probe_rows(engine, pc.rows), run_dir, None))
        return out

    def standalone(self, cfg: RunConfig, members: MemberTable, state_dict: dict, member: int) -> torch.nn.Module:
        if cfg.model.name == "two_layer":
            return super().standalone(cfg, members, state_dict, member)
        model = build_model(cfg, members, build_table(cfg))
        if cfg.train.precision == "64":
            model = model.double()
        model.load_state_dict(state_dict, strict=False)
        return standalone(cfg, model, member)

    def sweep_figure(self, cfg: RunConfig) -> str | None:
        return "lazy_rich" if cfg.sweep.phase.rule == "lazy_rich" else "phase_diagram"
