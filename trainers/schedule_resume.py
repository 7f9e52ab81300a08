"""Resuming with a larger ``train.max_steps`` changes the evaluation schedule, and with it the length of the
module's device-side histories. The checkpoint's rows are moved to the new schedule by step (steps no longer
scheduled, e.g. of a log schedule, are dropped; new steps start as NaN / not evaluated), so Lightning's strict
state-dict load sees the new shapes."""
from __future__ import annotations

import torch

from toymodels.errors import ConfigError


def remap_histories(state: dict, old: list[int] | None, new: list[int]) -> None:
    """In place on a checkpoint's ``state_dict``: ``history`` [metric, n_old, E] -> [metric, n_new, E] and
    ``evaluated`` [n_old] -> [n_new], matching rows by step. ``old`` None: a checkpoint that did not record its
    schedule, usable only when the lengths agree."""
    hist, done = state.get("history"), state.get("evaluated")
    if hist is None or done is None or (old is None and hist.shape[1] == len(new)) or old == list(new):
        return
    if old is None or len(old) != hist.shape[1]:
        raise ConfigError("train.max_steps", "this checkpoint was written before toylab recorded its evaluation "
                                             "schedule, so it can be resumed only with its own max_steps")
    where = {s: j for j, s in enumerate(new)}
    keep = [(i, where[s]) for i, s in enumerate(old) if s in where]
    src = torch.tensor([i for i, _ in keep], dtype=torch.long)
    dst = torch.tensor([j for _, j in keep], dtype=torch.long)
    h = torch.full((hist.shape[0], len(new), hist.shape[2]), float("nan"), dtype=hist.dtype, device=hist.device)
    h[:, dst.to(hist.device)] = hist[:, src.to(hist.device)]
    d = torch.zeros(len(new), dtype=done.dtype, device=done.device)
    d[dst.to(done.device)] = done[src.to(done.device)]
    state["history"], state["evaluated"] = h, d
