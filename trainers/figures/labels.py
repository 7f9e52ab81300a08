"""Axis labels in words for dotted setting keys ("optimizer.weight_decay" -> "weight decay"), the key kept beside
them so a reader can still find the setting."""
from __future__ import annotations

WORDS = {
    "seed": "seed",
    "task.train_fraction": "training fraction",
    "task.train_size": "training-set size P",
    "task.label_noise": "label noise (wrong answers)",
    "task.noise_std": "label noise sigma",
    "task.p": "modulus p",
    "task.dim": "input dimension M",
    "model.width": "width",
    "model.init_scale": "initialisation scale",
    "model.gamma0": "richness gamma0",
    "model.depth": "depth",
    "model.ridge": "ridge lambda",
    "optimizer.lr": "learning rate",
    "optimizer.weight_decay": "weight decay",
    "optimizer.momentum": "momentum",
    "optimizer.warmup_steps": "warmup steps",
    "filters.grokfast_lamb": "Grokfast strength lambda",
    "filters.grokfast_alpha": "Grokfast EMA decay",
    "train.batch_size": "batch size",
}
_GROUP_HYPERS = {"lr": "learning rate", "weight_decay": "weight decay"}


def words(key: str) -> str:
    """The setting in words: "optimizer.groups.decoder.lr" -> "learning rate (decoder)"; unknown keys as they are."""
    if key in WORDS:
        return WORDS[key]
    parts = key.split(".")
    if len(parts) == 4 and parts[:2] == ["optimizer", "groups"] and parts[3] in _GROUP_HYPERS:
        return f"{_GROUP_HYPERS[parts[3]]} ({parts[2]})"
    return key


def axis_label(key: str) -> str:
    """An axis label: the words, then the dotted key in brackets (just the key when there are no words for it)."""
    w = words(key)
    return w if w == key else f"{w}  [{key}]"
