"""Run a sweep: every pending chunk through a backend, results merged and the phase diagram redrawn after each,
progress (chunks done/total, ETA, members per phase so far) on stderr."""
from __future__ import annotations

import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from toymodels.errors import ConfigError
from toymodels.metrics.lazy_rich import LAZY_RICH_PHASES
from toymodels.metrics.phases import PHASES

from ..config import RunConfig
from ..families import family_of
from ..figures.lazy_rich import lazy_rich_maps
from .backends import ChunkInterrupted, make_backend
from .dashboard import SweepDashboard
from .plan import Plan
from .report import phase_diagram
from .results import finished, write_results


@dataclass
class SweepResult:
    run_dir: Path
    interrupted: bool
    figure: Path | None


def _fmt_time(seconds: float) -> str:
    m, s = divmod(int(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s"


class Progress:
    def __init__(self, plan: Plan, done: int, phases: tuple[str, ...] = PHASES, parallel: bool = False):
        self.phases, self.parallel = phases, parallel  # parallel: fits run side by side (Ray)
        self.total, self.done0, self.done = len(plan.chunks), done, done
        self.start = time.time()

    def chunk_done(self, rows: list[dict]):
        self.done += 1
        elapsed = time.time() - self.start
        rate = elapsed / max(self.done - self.done0, 1)
        eta = rate * (self.total - self.done)  # fits one after another; side by side, the rest finish sooner
        counts = Counter(r.get("phase") for r in rows)
        phases = ", ".join(f"{p} {counts.get(p, 0)}" for p in self.phases) if None not in counts else "no phases"
        print(f"[sweep] chunks {self.done}/{self.total} | {len(rows)} members done | elapsed {_fmt_time(elapsed)}, "
              f"ETA {'<= ' if self.parallel else ''}{_fmt_time(eta)} | {phases}", file=sys.stderr, flush=True)


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
    progress = Progress(plan, len(done), LAZY_RICH_PHASES if cfg.sweep.phase.rule == "lazy_rich" else PHASES,
                        parallel=cfg.sweep.backend == "ray")
    dashboard = SweepDashboard(cfg, run_dir)
    figure = None
    try:
        for _ in make_backend(cfg).run(run_dir, cfg, pending):
            rows, _ = write_results(run_dir, plan, cfg)
            figure = _figure(run_dir, cfg)
            progress.chunk_done(rows)
            dashboard.update(rows, figure, progress.done)
    except (ChunkInterrupted, KeyboardInterrupt):
        write_results(run_dir, plan, cfg)
        return SweepResult(run_dir, True, figure)
    rows, grid = write_results(run_dir, plan, cfg)
    figure = _figure(run_dir, cfg) if figure is None else figure
    dashboard.finish(rows, grid, plan.grid_keys)
    (run_dir / "DONE").touch()
    return SweepResult(run_dir, False, figure)
