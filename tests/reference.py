"""Independent reference training for the ensemble-equivalence tests: one member, a plain nn.Module from
toymodels.models.single, torch.optim, torch's LambdaLR for warmup, and the published formulas of the gradient
filters written out plainly here (dicts of tensors, a deque for the moving average)."""
from __future__ import annotations

from collections import deque

import torch
import torch.nn.functional as F

from toymodels.rng import generator
from toymodels.tasks import sample_batch
from toymodels.tasks.splits import corrupt_labels, member_splits, train_size
from trainers.families.classification import build_table
from trainers.families.classification import standalone


def group_of(kind: str, name: str) -> str:
    if kind == "transformer":
        return {"embed.W_E": "embedding", "pos_embed.W_pos": "embedding", "unembed.W_U": "unembedding"}.get(
            name, "default")
    if kind == "liu_toy":
        return "embedding" if name == "embedding" else "decoder"
    return "default"


class Reference:
    def __init__(self, cfg, members, e: int, ensemble_model):
        self.cfg, self.e = cfg, e
        col = lambda k: members.column(k)[e]  # noqa: E731
        table = build_table(cfg)
        n = train_size(len(table.pool), col("task.train_fraction"), col("task.train_size"))
        split_seed = members.stream_seeds("split")[e]
        self.split = member_splits(table.pool, table.test_pool, [n], [split_seed])
        labels = corrupt_labels(table.y, self.split, [int(col("task.label_noise"))], [members.stream_seeds("noise")[e]],
                                table.n_classes)[0]
        self.x, self.y, self.table = table.x, labels, table
        self.batch_seed = torch.tensor([members.stream_seeds("batch")[e]])
        self.model = standalone(cfg, ensemble_model, e)  # the member's initial weights, standalone
        dtype = next(self.model.parameters()).dtype
        if table.input_kind == "dense":
            self.x = self.x.to(dtype)
        o = cfg.optimizer
        groups = {}
        for name, p in self.model.named_parameters():
            groups.setdefault(group_of(cfg.model.name, name), []).append(p)
        param_groups = []
        for g, ps in groups.items():
            gl = members.group_column(g, "lr")[e]
            gw = members.group_column(g, "weight_decay")[e]
            param_groups.append({"params": ps, "lr": gl, "weight_decay": gw})
        if o.name == "sgd":
            self.opt = torch.optim.SGD(param_groups, lr=col("optimizer.lr"), momentum=col("optimizer.momentum"),
                                       nesterov=o.nesterov)
        else:
            cls = torch.optim.AdamW if o.name == "adamw" else torch.optim.Adam
            self.opt = cls(param_groups, betas=tuple(col("optimizer.betas")), eps=col("optimizer.eps"))
        W = col("optimizer.warmup_steps")
        self.sched = torch.optim.lr_scheduler.LambdaLR(self.opt, lambda s: min(s / W, 1) if W else 1.0)
        f = cfg.filters
        self.grokfast, self.alpha, self.lamb = f.grokfast, col("filters.grokfast_alpha"), col("filters.grokfast_lamb")
        self.window, self.ma_warmup, self.perpgrad = f.grokfast_window, f.grokfast_warmup, f.perpgrad
        self.filter_state = None
        self.constant_norm = f.constant_norm
        self.norm0 = self.total_norm() if f.constant_norm else None
        if cfg.loss.name == "mse":
            if cfg.loss.template_dim:
                g = generator(members.stream_seeds("templates")[e], "templates")
                self.targets = torch.randn(table.n_classes, cfg.loss.template_dim, generator=g).to(dtype)
            else:
                self.targets = torch.eye(table.n_classes, dtype=dtype)

    def total_norm(self):
        return torch.sqrt(sum(p.detach().double().square().sum() for p in self.model.parameters()))

    def outputs(self, x):
        if self.cfg.model.name == "transformer":
            tokens = torch.cat([x, torch.full((len(x), 1), self.table.n_symbols)], dim=1)
            return self.model(tokens)[:, -1]
        return self.model(x)

    def loss(self, out, y):
        name, f64 = self.cfg.loss.name, self.cfg.loss.float64
        if name == "cross_entropy":
            return F.cross_entropy(out.double() if f64 else out, y)
        if name == "stablemax":
            z = out.double() if f64 else out
            s = torch.where(z >= 0, z + 1, 1 / (1 - torch.clamp(z, max=0)))
            return -(torch.log(s.gather(1, y[:, None]).squeeze(1)) - torch.log(s.sum(1))).mean()
        target = self.targets[y]
        return ((out.double() - target.double()) if f64 else (out - target)).square().mean(dim=1).mean()

    def apply_filters(self):
        named = [(n, p) for n, p in self.model.named_parameters()]
        if self.grokfast == "ema":  # Lee et al.'s gradfilter_ema
            if self.filter_state is None:
                self.filter_state = {n: p.grad.detach().clone() for n, p in named}
            for n, p in named:
                self.filter_state[n] = self.filter_state[n] * self.alpha + p.grad.detach() * (1 - self.alpha)
                p.grad = p.grad + self.filter_state[n] * self.lamb
        elif self.grokfast == "ma":  # gradfilter_ma with filter_type mean
            if self.filter_state is None:
                self.filter_state = {n: deque(maxlen=self.window) for n, _ in named}
            for n, p in named:
                self.filter_state[n].append(p.grad.detach().clone())
                if not self.ma_warmup or len(self.filter_state[n]) == self.window:
                    avg = sum(self.filter_state[n]) / len(self.filter_state[n])
                    p.grad = p.grad + avg * self.lamb
        if self.perpgrad:  # per tensor: remove the component along w, restore |g|
            for _, p in named:
                w, g = p.detach().reshape(-1), p.grad.reshape(-1)
                g_perp = g - (w @ g) / (w @ w + 1e-30) * w
                p.grad = (g_perp * (g.norm() / (g_perp.norm() + 1e-30))).view_as(p)

    def step(self, s: int) -> torch.Tensor:
        idx, valid = sample_batch(self.split, self.batch_seed, s, self.cfg.train.batch_size)
        rows = idx[0][valid[0]]
        loss = self.loss(self.outputs(self.x[rows]), self.y[rows])
        self.opt.zero_grad()
        loss.backward()
        self.apply_filters()
        self.opt.step()
        self.sched.step()
        if self.constant_norm:
            with torch.no_grad():
                scale = self.norm0 / self.total_norm()
                for p in self.model.parameters():
                    p.mul_(scale.to(p.dtype))
        return loss.detach()
