"""The Python API for notebooks: start a fit or a sweep from Python, load any run directory, and work with its
results as pandas DataFrames and matplotlib Figures.

    import trainers as tl
    run = tl.fit("configs/grokking/quick.yaml", {"train.max_steps": 500, "seeds": [0, 1]})
    run.members                      # one row per member: settings and outcomes
    run.history("test_acc")          # index: step, one column per member
    sweep = tl.load("runs/quick-20261122-230119")
    sweep.grid; sweep.phase_diagram(); sweep.spectra()

Bad input raises ``toymodels.errors.ConfigError`` (the CLI's one-line messages, never printed and exited).
"""
from __future__ import annotations

import math
import tempfile
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import yaml

from toymodels.errors import ConfigError

from .cli import parse_run_config  # the CLI's parser: same keys, types and messages
from .config import RunConfig
from .fitting import run_fit
from .members import expand
from .reader import RunReader
from .rundir import new_run_dir, write_config
from .sweeps.plan import make_plan
from .sweeps.report import cell_curves, phase_diagram
from .sweeps.run import run_sweep
from .validate import validate


def _config(config: str | Path | dict, overrides: dict[str, Any] | None) -> RunConfig:
    """A validated-type RunConfig from a YAML path or a dict and dotted overrides, parsed as the CLI parses."""
    overrides = [f"--{key}={yaml.safe_dump(value, default_flow_style=True).strip().removesuffix('...').strip()}"
                 for key, value in (overrides or {}).items()]
    if not isinstance(config, dict):
        path = Path(config)
        if not path.is_file():
            raise ConfigError("config", f"{path} does not exist")
        return parse_run_config(["--config", str(path), *overrides])
    with tempfile.TemporaryDirectory() as tmp:  # the CLI's parser reads config files
        path = Path(tmp) / "config.yaml"
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        return parse_run_config(["--config", str(path), *overrides])


def fit(config: str | Path | dict, overrides: dict[str, Any] | None = None) -> "Run":
    """Train one ensemble (members x seeds) and return its run. ``config``: a YAML path or a dict (as in a YAML
    file); ``overrides``: dotted keys, e.g. {"optimizer.lr": 3e-3, "seeds": [0, 1]}."""
    cfg = _config(config, overrides)
    members = expand(cfg)
    validate(cfg, members)
    run_dir = new_run_dir(cfg.out_dir, cfg.name)
    write_config(run_dir, cfg)
    result = run_fit(cfg, members, run_dir)
    if result.interrupted:
        raise KeyboardInterrupt(f"interrupted: checkpoint saved; continue with  toylab fit --resume {run_dir}")
    return Run(run_dir)


def sweep(config: str | Path | dict, overrides: dict[str, Any] | None = None, backend: str = "local",
          address: str | None = None) -> "Run":
    """Run a sweep (``sweep.grid`` x seeds, planned into fits) and return it. ``backend``: "local" (in this
    process) or "ray" (``address``: an existing Ray cluster; None starts a local one)."""
    if backend not in ("local", "inprocess", "ray"):
        raise ConfigError("backend", f"must be local or ray (got {backend!r})")
    extra = {"sweep.backend": "ray" if backend == "ray" else "inprocess"}
    if address is not None:
        extra["sweep.address"] = address
    cfg = _config(config, {**(overrides or {}), **extra})
    plan = make_plan(cfg)
    run_dir = new_run_dir(cfg.out_dir, cfg.name)
    write_config(run_dir, cfg)
    plan.save(run_dir / "plan.json")
    result = run_sweep(cfg, run_dir, plan)
    if result.interrupted:
        raise KeyboardInterrupt(f"interrupted: continue with  toylab sweep --resume {run_dir}")
    return Run(run_dir)


def load(run_dir: str | Path) -> "Run":
    """A finished (or partly finished) fit or sweep from its run directory."""
    return Run(run_dir)


class Run:
    """A run directory, fit or sweep, as DataFrames and Figures."""

    def __init__(self, run_dir: str | Path):
        self._reader = RunReader(run_dir)
        self.dir: Path = self._reader.dir
        self.config: RunConfig = self._reader.config
        self.is_sweep: bool = self._reader.is_sweep

    def __repr__(self) -> str:
        kind = "sweep" if self.is_sweep else "fit"
        return f"Run({kind}, {self.dir})"

    @property
    def members(self) -> pd.DataFrame:
        """One row per member (members.csv): its settings and outcomes, typed (numbers, booleans, NaN if empty)."""
        path = self.dir / "members.csv"
        if not path.is_file():
            raise ConfigError("RUN_DIR", f"{self.dir} has no members.csv yet (no fit has finished)")
        return pd.read_csv(path).set_index("member", drop=False)

    def history_names(self) -> list[str]:
        """Every metric with a history: evaluation metrics, the probes' (spectra_..., repr_..., lazy_rich_...)."""
        return self._reader.history_names()

    def history(self, metric: str) -> pd.DataFrame:
        """``metric`` over training: index step, one column per member (members.csv's ``member``)."""
        if metric not in self.history_names():
            raise ConfigError("metric", f"{self.dir} has no history {metric!r}; it has "
                                        f"{', '.join(self.history_names()) or 'none'}")
        steps, values = self._reader.history(metric)  # [T], [E, T]
        members = [int(r["member"]) for r in self._reader.members()]
        df = pd.DataFrame(values.T, index=pd.Index(steps.astype(int), name="step"),
                          columns=pd.Index(members, name="member"))
        return df

    @property
    def grid(self) -> pd.DataFrame:
        """A sweep's grid points (grid.csv): majority phase over seeds, agreement, steps to generalise, ..."""
        if not self.is_sweep:
            raise ConfigError("RUN_DIR", f"{self.dir} is a fit, not a sweep: it has no grid")
        path = self.dir / "grid.csv"
        if not path.is_file():
            raise ConfigError("RUN_DIR", f"{self.dir} has no finished chunk yet (no grid.csv)")
        return pd.read_csv(path)

    def phase_diagram(self, x: str | None = None, y: str | None = None, where: list[str] | None = None):
        """A sweep's phase diagram over grid keys x and y (default: its first two) as a matplotlib Figure;
        ``where``: "key=value" for the grid keys held fixed."""
        if not self.is_sweep:
            raise ConfigError("RUN_DIR", f"{self.dir} is a fit, not a sweep: draw its curves instead")
        return phase_diagram(self.dir, x, y, where, as_figure=True)

    def curves(self, metric: str | None = None, members: list[int] | None = None, cells: list[str] | None = None):
        """Training curves as a matplotlib Figure: ``metric`` (default test_acc, else test_loss) of ``members``
        (default all, at most 20), or for a sweep the train/test accuracy of every seed of ``cells``
        ("key=value,key=value")."""
        if cells is not None:
            return cell_curves(self.dir, cells, as_figure=True)
        names = self.history_names()
        metric = metric or ("test_acc" if "test_acc" in names else "test_loss")
        df = self.history(metric)
        cols = list(df.columns if members is None else members)[:20]
        fig, ax = plt.subplots(figsize=(7, 4))
        x = np.maximum(df.index.to_numpy(), 1)
        for m in cols:
            ax.plot(x, df[m].to_numpy(), lw=1.2, label=f"member {m}")
        ax.set_xscale("log")
        if metric.endswith("_loss") and np.nanmin(df[cols].to_numpy(dtype=float), initial=math.inf) > 0:
            ax.set_yscale("log")
        ax.set_xlabel("step")
        ax.set_ylabel(metric.replace("_", " "))
        if len(cols) <= 10:
            ax.legend(fontsize=7)
        fig.tight_layout()
        return fig

    def spectra(self) -> pd.DataFrame:
        """The spectra probe's HTSR / SETOL metrics (probes.spectra): one row per (member, step, layer), columns
        with WeightWatcher's names (name = the layer, alpha, xmin, xmax, D, sigma, num_pl_spikes, alpha_weighted,
        log_norm, log_spectral_norm, stable_rank, detX_num, detX_delta, ...)."""
        names = [n for n in self.history_names() if n.startswith("spectra_") and "__" in n]
        if not names:
            raise ConfigError("RUN_DIR", f"{self.dir} has no spectra histories (set probes.spectra: true)")
        members = [int(r["member"]) for r in self._reader.members()]
        frames = {}
        for n in names:
            layer, metric = n[len("spectra_"):].split("__", 1)
            steps, values = self._reader.history(n)  # [T], [E, T]
            frames.setdefault(layer, {})[metric] = (steps, values)
        rows = []
        for layer, metrics in frames.items():
            steps = next(iter(metrics.values()))[0]
            for i, m in enumerate(members):
                for t, s in enumerate(steps):
                    row = {"member": m, "step": int(s), "name": layer}
                    row.update({k: float(v[i, t]) for k, (_, v) in metrics.items()})
                    rows.append(row)
        return pd.DataFrame(rows).sort_values(["member", "step", "name"], ignore_index=True)
