"""The members table: which settings each member of one ensemble fit uses.

A fit's members are ``members`` (a list of per-member overrides, dotted keys) times ``seeds``. Only settings
that leave every tensor shape unchanged may differ between members of one fit (``PER_MEMBER``); anything else
(p, the operation, model sizes, the optimiser type, ...) needs separate fits, which ``toylab sweep`` plans.
"""
from __future__ import annotations

import difflib
import fnmatch
import typing
from dataclasses import asdict, dataclass, fields, is_dataclass
from typing import Any

from toymodels.errors import ConfigError

from .config import CHOICES, GroupConfig, RunConfig, applicable_type, class_of, settings_of
from .config.flat import FlatRunConfig
from .typed import config_from_dict, config_to_dict, typed_value

PER_MEMBER = (
    "seed", "streams.*", "task.train_fraction", "task.train_size", "task.label_noise", "model.init_scale",
    "model.width", "optimizer.lr", "optimizer.weight_decay", "optimizer.betas", "optimizer.eps",
    "optimizer.momentum", "optimizer.warmup_steps", "optimizer.groups.*.lr", "optimizer.groups.*.weight_decay",
    "filters.grokfast_alpha", "filters.grokfast_lamb", "task.noise_std", "model.gamma0", "model.ridge",
)
_NOT_A_SETTING = {"members", "seeds"}
_SWEEP_ONLY = "sweep."


def _leaf_keys(cls, prefix: str = "") -> dict[str, Any]:
    """Dotted key -> field type, for every setting of a config dataclass (dict fields as ``name.*.field``)."""
    hints = typing.get_type_hints(cls)
    out = {}
    for f in fields(cls):
        t = hints[f.name]
        key = prefix + f.name
        if is_dataclass(t):
            out.update(_leaf_keys(t, key + "."))
        elif typing.get_origin(t) is dict and typing.get_args(t)[1] is GroupConfig:
            out.update(_leaf_keys(GroupConfig, key + ".*."))
        else:
            out[key] = t
    return out


# every settable key: the model's and task's are the union of their per-name classes' settings
SETTINGS = {k: t for k, t in _leaf_keys(FlatRunConfig).items()
            if k not in _NOT_A_SETTING and not k.startswith(_SWEEP_ONLY)}


def setting_type(key: str):
    """The declared type of a dotted setting (for model and task keys: in any of their classes), or a ConfigError
    naming the key (with a did-you-mean)."""
    for pattern, t in SETTINGS.items():
        if fnmatch.fnmatchcase(key, pattern):
            return t
    close = difflib.get_close_matches(key, [k.replace("*", "NAME") for k in SETTINGS], n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise ConfigError(key, f"no such setting{hint}")


def is_per_member(key: str) -> bool:
    return any(fnmatch.fnmatchcase(key, p) for p in PER_MEMBER)


def selected_names(cfg: RunConfig, overrides: dict[str, Any] | None = None) -> dict[str, str]:
    """The model's and task's names: ``model.name`` / ``task.name`` of ``overrides`` if set, else the config's."""
    return {s: (overrides or {}).get(f"{s}.name", getattr(cfg, s).name) for s in CHOICES}


def coerce(key: str, value: Any, names: dict[str, str] | None = None) -> Any:
    """``value`` as the declared type of setting ``key`` (numbers from YAML strings too), or a ConfigError. With
    ``names`` (``selected_names``), a model or task key is typed by the class of that name, and one that class does
    not have is a ConfigError; without (no config at hand), by the type the key has in any class."""
    t = setting_type(key)
    section, _, setting = key.partition(".")
    if names is not None and section in CHOICES:
        t = applicable_type(section, names[section], setting)
    if value is None and type(None) not in typing.get_args(t):
        raise ConfigError(key, "must be set")
    return typed_value(key, t, value)


def get_setting(cfg: RunConfig, key: str) -> Any:
    """The value of a dotted setting in ``cfg`` (a model or task key its class does not have: a ConfigError)."""
    obj: Any = cfg
    parts = key.split(".")
    if parts[0] in CHOICES and len(parts) == 2:
        applicable_type(parts[0], getattr(cfg, parts[0]).name, parts[1])
    for i, part in enumerate(parts):
        if isinstance(obj, dict):
            obj = obj.get(part, GroupConfig())
        else:
            obj = getattr(obj, part)
    return obj


def _switched(section: str, old, name: str) -> dict:
    """The settings of section ``section`` switched to the class named ``name``: the old class's settings that were
    changed from their defaults and that the new class also has carry over; the rest are the new class's defaults."""
    new, default = class_of(section, name), type(old)()
    shared = set(settings_of(new)) & set(settings_of(type(old)))
    data = asdict(old)
    return {"name": name, **{k: data[k] for k in settings_of(type(old))
                             if k in shared and getattr(old, k) != getattr(default, k)}}


def with_settings(cfg: RunConfig, overrides: dict[str, Any]) -> RunConfig:
    """A copy of ``cfg`` with dotted overrides applied (keys and values checked). An override of ``model.name`` or
    ``task.name`` switches that section's class first (``_switched``); every other override must be a setting of the
    selected class."""
    data = config_to_dict(cfg)
    for section in CHOICES:
        key = f"{section}.name"
        if key in overrides and coerce(key, overrides[key]) != data[section]["name"]:
            data[section] = _switched(section, getattr(cfg, section), coerce(key, overrides[key]))
    names = {s: data[s]["name"] for s in CHOICES}
    for key, value in overrides.items():
        value = coerce(key, value, names)
        node = data
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return config_from_dict(data)


@dataclass
class MemberTable:
    """The E members of one fit: a shared base config and each member's overrides."""

    base: RunConfig
    overrides: list[dict[str, Any]]

    def __len__(self) -> int:
        return len(self.overrides)

    def column(self, key: str) -> list:
        """Member values of setting ``key`` (the override, else the base config's value)."""
        default = get_setting(self.base, key)
        return [o[key] if key in o else default for o in self.overrides]

    def seeds(self) -> list[int]:
        return [int(s) for s in self.column("seed")]

    def stream_seeds(self, stream: str) -> list[int]:
        """Per-member seed of a random stream: ``streams.<stream>`` if set, else the member's seed."""
        return [int(s) if s is not None else seed for s, seed in zip(self.column(f"streams.{stream}"), self.seeds())]

    def group_column(self, group: str, hyper: str) -> list[float]:
        """Per-member hyperparameter of an optimiser parameter group (group override, else the optimiser's)."""
        own = self.column(f"optimizer.groups.{group}.{hyper}")
        top = self.column(f"optimizer.{hyper}")
        return [o if o is not None else t for o, t in zip(own, top)]

    @property
    def varied(self) -> list[str]:
        """Settings that some member overrides, ``seed`` first."""
        keys = sorted({k for o in self.overrides for k in o} - {"seed"})
        return ["seed"] + keys

    def record(self) -> list[dict[str, Any]]:
        """Each member's values of the varied settings (a row of members.csv)."""
        cols = {k: self.column(k) for k in self.varied}
        return [{k: cols[k][e] for k in cols} for e in range(len(self))]


def expand(cfg: RunConfig, allow_shared: bool = False) -> MemberTable:
    """Members of a fit: each entry of ``cfg.members`` (default one empty entry) times ``cfg.seeds``.

    With ``allow_shared`` False (a plain fit), a member may override only per-member settings.
    """
    if cfg.seeds is not None and len(cfg.seeds) == 0:  # an empty list is a mistake, not "the default"
        raise ConfigError("seeds", "must list at least one seed (omit it for one member seeded by `seed`)")
    entries = cfg.members or [{}]
    out = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise ConfigError(f"members[{i}]", "each member is a mapping of dotted settings to values")
        checked = {}
        for key, value in entry.items():
            if key in ("members", "seeds"):
                raise ConfigError(f"members[{i}].{key}", "cannot be set per member")
            value = coerce(key, value, selected_names(cfg, entry if allow_shared else None))
            if not allow_shared and not is_per_member(key):
                raise ConfigError(key, "changes tensor shapes or the model, so it cannot differ between the members "
                                       "of one fit; use toylab sweep")
            checked[key] = value
        if cfg.seeds:
            if "seed" in checked:
                raise ConfigError(f"members[{i}].seed", "set either seeds or a member's seed, not both")
            out.extend({**checked, "seed": int(s)} for s in cfg.seeds)
        else:
            out.append(checked)
    return MemberTable(cfg, out)
