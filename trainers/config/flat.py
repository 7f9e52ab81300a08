"""The command line's schema: ``RunConfig`` with ``model`` and ``task`` flattened to one dataclass each holding the
union of their per-name classes' settings, generated from those classes (never a hand-kept list). jsonargparse
parses ``--config`` files and ``--key value`` arguments against it (``--help``, unknown keys, badly typed values),
keeping only what the user gave; pydantic then builds the class the ``name`` selects and rejects a setting that
class does not have (``trainers.typed.config_from_dict``).

Why not jsonargparse's own union handling: with dataclass unions (jsonargparse 4.53) ``--model.name mlp
--model.d_model 64`` returned a transformer without an error, and a mapping given for a union field failed."""
from __future__ import annotations

import copy
import dataclasses
import typing
from typing import Literal

from .choices import CHOICES, DEFAULT_NAMES
from .run import RunConfig


def _default(f: dataclasses.Field):
    return f.default if f.default is not dataclasses.MISSING else f.default_factory()


def _flat_section(section: str) -> type:
    """One dataclass with every setting of the section's classes; each setting's help names the classes it
    applies to. A setting two classes type differently is an error (the flat schema could not check it)."""
    classes = CHOICES[section]
    default_cls = classes[DEFAULT_NAMES[section]]
    found: dict[str, list] = {}  # setting -> [type, default, names]
    for name, cls in classes.items():
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            if f.name == "name":
                continue
            if f.name in found and found[f.name][0] != hints[f.name]:
                raise TypeError(f"{section}.{f.name} has two types: {found[f.name][0]} and {hints[f.name]}")
            entry = found.setdefault(f.name, [hints[f.name], _default(f), []])
            entry[2].append(name)
            if cls is default_cls:
                entry[1] = _default(f)
    names = tuple(classes)
    fields = [("name", Literal[names], dataclasses.field(default=DEFAULT_NAMES[section]))]
    fields += [(k, t, dataclasses.field(default_factory=lambda d=d: copy.deepcopy(d)))
               for k, (t, d, _) in found.items()]
    flat = dataclasses.make_dataclass(section, fields)
    doc = [f"{section} settings: ``name`` selects the {section} (trainers/config/families); each other setting "
           f"applies to the {section}s it names", "", "Args:", f"    name: the {section}: {', '.join(names)}"]
    doc += [f"    {k}: applies to {', '.join(n)}" for k, (_, _, n) in found.items()]
    flat.__doc__ = "\n".join(doc) + "\n"
    return flat


def flat_run_config() -> type:
    """``RunConfig`` with its ``model`` and ``task`` sections flattened (``_flat_section``)."""
    hints = typing.get_type_hints(RunConfig)
    fields = []
    for f in dataclasses.fields(RunConfig):
        if f.name in CHOICES:
            flat = _flat_section(f.name)
            fields.append((f.name, flat, dataclasses.field(default_factory=flat)))
        else:
            fields.append((f.name, hints[f.name],
                           dataclasses.field(default=f.default, default_factory=f.default_factory)))
    flat = dataclasses.make_dataclass("RunConfig", fields)
    flat.__doc__ = RunConfig.__doc__
    return flat


FlatRunConfig = flat_run_config()
