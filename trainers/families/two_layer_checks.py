"""The checks every two_layer fit shares, on a regression task (the two_layer family) or a classification table (the
classification family): one ConfigError naming the key."""
from __future__ import annotations

from toymodels.errors import ConfigError
from toymodels.models.two_layer import ACTIVATIONS

from ..config import RunConfig
from ..members import MemberTable


def check_two_layer(cfg: RunConfig, members: MemberTable) -> str:
    """Activation, gamma0 (the base value and every member's), SGD, the lazy-rich probe settings; returns the
    activation name."""
    m = cfg.model
    act = m.act or "relu"
    if act not in ACTIVATIONS:
        raise ConfigError("model.act", f"must be one of {', '.join(ACTIVATIONS)} for two_layer (got {act})")
    for g in [m.gamma0, *members.column("model.gamma0")]:  # the base value too, even where members override it
        if not g > 0:
            raise ConfigError("model.gamma0", f"must be > 0 (got {g})")
    if cfg.optimizer.name != "sgd":
        raise ConfigError("optimizer.name", f"two_layer's parameterisations scale SGD's learning rate (gamma0^2, "
                                            f"N for mup); use sgd (got {cfg.optimizer.name})")
    if cfg.probes.representation:
        raise ConfigError("probes.representation", "measures transformers and MLPs; use probes.lazy_rich for "
                                                   "two_layer")
    if cfg.probes.lazy_rich and not cfg.probes.rows >= 2:
        raise ConfigError("probes.rows", f"the kernel alignments need >= 2 probe rows (got {cfg.probes.rows})")
    if cfg.sweep.phase.rule == "lazy_rich" and not cfg.probes.lazy_rich:
        raise ConfigError("sweep.phase.rule", "lazy_rich classifies by the lazy-rich measures: set "
                                              "probes.lazy_rich: true")
    return act
