"""Checks shared by the regression families (random features, two-layer and deep linear nets on regression tasks):
the task's exponents and sizes, the squared loss, no classification-only filters. One ConfigError naming the key."""
from __future__ import annotations

from toymodels.errors import ConfigError

from ..config import RunConfig
from ..members import MemberTable


def check_task_and_sizes(cfg: RunConfig, members: MemberTable):
    """The task's exponents, P and sigma."""
    t = cfg.task
    if not t.dim >= 1:
        raise ConfigError("task.dim", f"M must be >= 1 (got {t.dim})")
    if t.name == "powerlaw":
        if not t.alpha > 1:
            raise ConfigError("task.alpha", f"must be > 1 (got {t.alpha}): sum_k eta_k = sum_k k^-alpha diverges as "
                                            "M grows, so the input norm, the GD step limit and the scaling-law theory "
                                            "depend on M")
        if not t.r > 0:
            raise ConfigError("task.r", f"must be > 0 (got {t.r}): a = 1 + 2 alpha r must exceed 1, else the target "
                                        "power sum_k k^-a diverges")
    for P in members.column("task.train_size"):
        if P is None or not P >= 1:
            raise ConfigError("task.train_size", f"P must be an integer >= 1 (got {P})")
    for s in members.column("task.noise_std"):
        if not s >= 0:
            raise ConfigError("task.noise_std", f"sigma must be >= 0 (got {s})")


def check_positive_lr(members: MemberTable):
    for lr in members.column("optimizer.lr"):
        if not lr > 0:
            raise ConfigError("optimizer.lr", f"must be > 0 (got {lr})")


def check_squared_loss_and_filters(cfg: RunConfig):
    if cfg.loss.name not in ("cross_entropy", "mse"):  # cross_entropy: the unset default; regression is squared loss
        raise ConfigError("loss.name", f"regression uses the squared loss; leave loss.name unset or mse "
                                       f"(got {cfg.loss.name})")
    f = cfg.filters
    if f.grokfast != "none" or f.perpgrad or f.constant_norm:
        raise ConfigError("filters", "gradient filters and norm constraints are not part of the regression models")


def l2_lambdas(members: MemberTable) -> list[float]:
    """Each member's L2 penalty lambda of the objective ... + lambda |theta|^2. Its one name across families is
    ``optimizer.weight_decay`` (SGD's weight decay, the gradient of (weight_decay / 2) |theta|^2, so lambda =
    weight_decay / 2); ``model.ridge`` is kept as an alias that gives lambda itself (the theory's symbol).
    Setting both for one member is an error."""
    out = []
    for lam, wd in zip(members.column("model.ridge"), members.column("optimizer.weight_decay")):
        if lam and wd:
            raise ConfigError("model.ridge", f"the L2 penalty is set twice (model.ridge {lam}, optimizer.weight_decay "
                                             f"{wd}): use optimizer.weight_decay (lambda = weight_decay / 2) or its "
                                             f"alias model.ridge (lambda)")
        if not lam >= 0:
            raise ConfigError("model.ridge", f"lambda must be >= 0 (got {lam})")
        out.append(float(lam) if lam else float(wd) / 2)
    return out
