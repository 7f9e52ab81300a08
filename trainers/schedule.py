"""When to evaluate and snapshot: linear or log-spaced step schedules (step = number of updates done)."""
from __future__ import annotations

import numpy as np


def log_steps(max_steps: int, points: int) -> list[int]:
    """About ``points`` log-spaced steps in [0, max_steps], always including 0, 1 and max_steps."""
    inner = np.unique(np.round(np.geomspace(1, max_steps, max(points - 1, 1))).astype(int))
    return sorted({0, max_steps, *inner.tolist()})


def eval_steps(max_steps: int, kind: str, every: int, points: int) -> list[int]:
    if kind == "log":
        return log_steps(max_steps, points)
    return sorted({*range(0, max_steps + 1, every), max_steps})


def probe_steps(max_steps: int, schedule: str, every: int, points: int) -> list[int]:
    """The probes' steps (probes.schedule): log-spaced (``points``) or every ``every`` steps."""
    return log_steps(max_steps, points) if schedule == "log" else eval_steps(max_steps, "linear", every, 0)
