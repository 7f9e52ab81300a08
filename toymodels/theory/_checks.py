"""Input checks shared by the theory modules: float64 tensors, and one ConfigError naming the bad setting."""
from __future__ import annotations

import torch

from ..errors import ConfigError

F64 = torch.float64


def as64(x) -> torch.Tensor:
    return x.to(F64) if isinstance(x, torch.Tensor) else torch.as_tensor(x, dtype=F64)


def _show(t: torch.Tensor, bad: torch.Tensor) -> str:
    return f"{t[bad].flatten()[0].item():g}"


def positive(x, key: str) -> torch.Tensor:
    t = as64(x)
    bad = ~(t > 0)
    if bool(bad.any()):
        raise ConfigError(key, f"must be > 0 (got {_show(t, bad)})")
    return t


def nonnegative(x, key: str) -> torch.Tensor:
    t = as64(x)
    bad = ~(t >= 0)
    if bool(bad.any()):
        raise ConfigError(key, f"must be >= 0 (got {_show(t, bad)})")
    return t


def spectrum(eta, key: str = "theory.eta") -> torch.Tensor:
    """A covariance spectrum [..., M]: float64, every eigenvalue > 0 (drop exact zeros before calling)."""
    t = as64(eta)
    if t.ndim == 0 or t.shape[-1] == 0:
        raise ConfigError(key, "must be a non-empty spectrum [..., M]")
    return positive(t, key)


def target(wbar, eta: torch.Tensor, key: str = "theory.wbar") -> torch.Tensor:
    t = as64(wbar)
    if t.shape[-1] != eta.shape[-1]:
        raise ConfigError(key, f"needs {eta.shape[-1]} entries (one per eigenvalue), got {t.shape[-1]}")
    if not bool(torch.isfinite(t).all()):
        raise ConfigError(key, "must be finite")
    return t
