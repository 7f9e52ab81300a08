"""The wandb dashboard of a sweep: one run for the whole sweep (group = the sweep's name) with a Table of
members (settings, outcomes, phase), the phase diagram refreshed after every chunk, and per-member test-accuracy
curves; optionally one run per grid point (same group) so wandb's parallel-coordinates and scatter panels work.
Offline by default; ``wandb sync RUN_DIR/wandb/offline-run-*`` uploads later."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..config import RunConfig
from ..typed import config_to_dict
from ..reader import RunReader
from ..wandb_log import MAX_CURVES, init_run


def _wandb():
    import wandb  # present: init_run started a run

    return wandb


class SweepDashboard:
    def __init__(self, cfg: RunConfig, run_dir: Path):
        self.cfg, self.run_dir = cfg, Path(run_dir)
        self.run = init_run(cfg, self.run_dir, self.run_dir.name, group=cfg.wandb.group or cfg.name,
                            job_type="sweep", config=config_to_dict(cfg))
        self.wandb = _wandb() if self.run is not None else None

    def _table(self, rows: list[dict]):
        cols = list(rows[0])
        for r in rows:
            cols += [k for k in r if k not in cols]
        return self.wandb.Table(columns=cols, data=[[r.get(c) for c in cols] for r in rows])

    def update(self, rows: list[dict], figure: Path | None, chunks_done: int):
        if self.run is None or not rows:
            return
        log = {"members": self._table(rows), "chunks_done": chunks_done}
        if figure is not None:
            log["phase_diagram"] = self.wandb.Image(str(figure))
        self.run.log(log)

    def finish(self, rows: list[dict], grid: list[dict], grid_keys: list[str]):
        if self.run is None:
            return
        curves_x, curves_y, keys = None, [], []
        run = RunReader(self.run_dir)
        for r in rows[:MAX_CURVES]:
            metric = "test_acc" if run.has_history(r, "test_acc") else "test_loss"
            curves_x, test = run.member_history(r, metric)
            curves_y.append(test.tolist())
            keys.append(", ".join(f"{k}={r[k]}" for k in grid_keys) + f", seed={r['seed']}")
        if curves_x is not None:
            self.run.log({"test_acc_per_member": self.wandb.plot.line_series(
                xs=[int(s) for s in curves_x], ys=curves_y, keys=keys, title="test accuracy", xname="step")})
        self.run.log({"grid": self._table(grid)})
        self.run.finish()
        if self.cfg.sweep.wandb_per_point:
            self._per_point_runs(grid, grid_keys)

    def _per_point_runs(self, grid: list[dict], grid_keys: list[str]):
        """One small run per grid point: its settings as config, its aggregated outcomes as summary."""
        for g in grid:
            name = ", ".join(f"{k}={g[k]}" for k in grid_keys)
            run = init_run(self.cfg, self.run_dir, name, resumable=False, group=self.cfg.wandb.group or self.cfg.name,
                           job_type="grid-point", config={k: g[k] for k in grid_keys})
            summary = {k: v for k, v in g.items() if k not in grid_keys and v is not None}
            summary["phase_code"] = float(np.argmax([summary.get(f"n_{p}", 0) for p in
                                                     ("comprehension", "grokking", "memorization", "confusion")]))
            run.summary.update(summary)
            run.finish()
