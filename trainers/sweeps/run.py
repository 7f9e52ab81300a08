"""Run a sweep: every pending chunk through a backend, results merged and the phase diagram redrawn after each,
progress (steps and fits done over the sweep, members per phase so far, ETA from the step rate) on stderr."""
from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from toymodels.errors import ConfigError
from toymodels.metrics.lazy_rich import LAZY_RICH_PHASES
from toymodels.metrics.phases import PHASES

from ..config import RunConfig
from ..families import family_of
from ..figures.lazy_rich import lazy_rich_maps
from ..progress import SweepProgress
from .backends import ChunkInterrupted, make_backend
from .dashboard import SweepDashboard
from .plan import Plan, chunk_config
from .report import phase_diagram
from .results import finished, write_results


@dataclass
class SweepResult:
    run_dir: Path
    interrupted: bool
    figure: Path | None


def _figure(run_dir: Path, cfg: RunConfig) -> Path | None:
    kind = family_of(cfg).sweep_figure(cfg)  # None: no phases (scripts/scaling_laws.py draws regression sweeps)
    try:
        if kind == "lazy_rich":  # gamma0 x width by default, and the movement / alignment maps
            return lazy_rich_maps(run_dir)[0]
        if kind == "phase_diagram":
            return phase_diagram(run_dir)[0]
        return None
    except ConfigError:  # e.g. more than two grid keys and nothing fixed: draw it later with --where
        return None


def run_sweep(cfg: RunConfig, run_dir: Path, plan: Plan) -> SweepResult:
    run_dir = Path(run_dir)
    done = set(finished(run_dir, plan))
    pending = [c for c in plan.chunks if c.index not in done]
    n_members = sum(len(c.members) for c in pending)
    print(f"[sweep] {len(plan.members)} members in {len(plan.chunks)} fit(s); {len(pending)} to run "
          f"({n_members} members) with the {cfg.sweep.backend} backend", file=sys.stderr, flush=True)
    steps = {c.index: chunk_config(cfg, c).train.max_steps for c in plan.chunks}
    progress = SweepProgress(sum(steps.values()), sum(steps[i] for i in done), len(plan.chunks), len(done),
                             LAZY_RICH_PHASES if cfg.sweep.phase.rule == "lazy_rich" else PHASES,
                             parallel=cfg.sweep.backend == "ray")
    dashboard = SweepDashboard(cfg, run_dir)
    figure = None
    try:
        for index in make_backend(cfg, progress.callback).run(run_dir, cfg, pending):
            rows, _ = write_results(run_dir, plan, cfg)
            figure = _figure(run_dir, cfg)
            progress.chunk_done(rows, steps[index])
            dashboard.update(rows, figure, progress.done_fits)
    except (ChunkInterrupted, KeyboardInterrupt):
        write_results(run_dir, plan, cfg)
        return SweepResult(run_dir, True, figure)
    rows, grid = write_results(run_dir, plan, cfg)
    figure = _figure(run_dir, cfg) if figure is None else figure
    dashboard.finish(rows, grid, plan.grid_keys)
    (run_dir / "DONE").touch()
    return SweepResult(run_dir, False, figure)
