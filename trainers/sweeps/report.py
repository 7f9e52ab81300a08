"""Figures of a sweep from its run directory alone: the phase diagram and curves of chosen cells."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from toymodels.errors import ConfigError

from ..config import RunConfig
from ..figures.phase_diagram import draw_curves, draw_phase_diagram, select
from ..members import coerce
from ..reader import RunReader, read_run_config
from .grid import is_log_axis
from .plan import Plan
from .results import read_grid, read_sweep_members


def open_sweep(run_dir: Path) -> tuple[RunConfig, Plan]:
    run_dir = Path(run_dir)
    if not (run_dir / "plan.json").is_file() or not (run_dir / "config.yaml").is_file():
        raise ConfigError("RUN_DIR", f"{run_dir} is not a sweep run directory (no plan.json / config.yaml)")
    return read_run_config(run_dir), Plan.load(run_dir / "plan.json")


def _parse_where(items: list[str] | None) -> dict:
    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError("--where", f"expected KEY=VALUE, got {item!r}")
        out[key] = coerce(key, value)
    return out


def phase_diagram(run_dir: Path, x: str | None = None, y: str | None = None, where: list[str] | None = None,
                  out: Path | None = None, as_figure: bool = False):
    """Draw RUN_DIR's phase diagram over x and y (default: the grid's first two keys) to PNG and SVG files (their
    paths returned), or return the matplotlib Figure unsaved (``as_figure``)."""
    cfg, plan = open_sweep(run_dir)
    if not (Path(run_dir) / "grid.csv").is_file():
        raise ConfigError("RUN_DIR", f"{run_dir} has no finished chunk yet (no grid.csv)")
    keys = plan.grid_keys
    x = x or keys[0]
    y = y if y is not None else (keys[1] if len(keys) > 1 and keys[1] != x else None)
    rows = select(read_grid(run_dir), keys, x, y, _parse_where(where))
    ph = cfg.sweep.phase
    budget = ph.budget if ph.budget is not None else cfg.train.max_steps
    n_seeds = rows[0]["seeds"]
    title = f"{cfg.name}: {len(rows)} grid points x {n_seeds} seed{'s' if n_seeds != 1 else ''}\n"
    style = {}
    if ph.rule == "lazy_rich":
        from toymodels.metrics.lazy_rich import LAZY_RICH_PHASES

        gain = f" and NTK alignment gain >= {ph.alignment_gain:g}" if ph.alignment_gain is not None else ""
        title += f"rich: |W - W0|/|W0| >= {ph.movement:g}{gain} after {cfg.train.max_steps} steps"
        style = dict(phases=LAZY_RICH_PHASES, label=_movement_label,
                     legend_title="phase (cell: mean |W - W0|/|W0|)")
    else:
        title += f"threshold acc {ph.threshold:g}, gap G = {ph.gap}, budget B = {budget}"
    grid = cfg.sweep.grid
    slug = lambda k: k.replace(".", "-")  # noqa: E731  (dots would read as file suffixes)
    out = None if as_figure else Path(out) if out else \
        Path(run_dir) / "figures" / f"phase__{slug(x)}__{slug(y) if y else 'strip'}"
    return draw_phase_diagram(rows, x, y, is_log_axis(grid.get(x)), bool(y) and is_log_axis(grid.get(y)), title,
                              out, **style)


def _movement_label(row: dict) -> str:
    v = row.get("mean_weight_change_W")
    return "" if not isinstance(v, (int, float)) or v != v else f"{v:.2g}"


def cell_curves(run_dir: Path, cells: list[str], out: Path | None = None, as_figure: bool = False):
    """Train/test accuracy of every seed of each cell; a cell is "key=value,key=value" over the grid keys. Saved
    as a PNG (its path returned), or the Figure returned unsaved (``as_figure``)."""
    cfg, plan = open_sweep(run_dir)
    members = read_sweep_members(run_dir)
    curves = []
    for cell in cells:
        fixed = _parse_where(cell.split(","))
        rows = [m for m in members if all(str(m.get(k)) == str(v) or _num_eq(m.get(k), v) for k, v in fixed.items())]
        if not rows:
            raise ConfigError("--curves", f"no finished member matches {cell!r}")
        trains, tests, steps = [], [], None
        run = RunReader(run_dir)
        for m in rows:
            steps, tr = run.member_history(m, "train_acc")
            _, te = run.member_history(m, "test_acc")
            trains.append(tr)
            tests.append(te)
        curves.append((cell, steps, np.stack(trains), np.stack(tests)))
    out = None if as_figure else Path(out) if out else Path(run_dir) / "figures" / "curves"
    return draw_curves(curves, cfg.sweep.phase.threshold, out)


def _num_eq(a, b) -> bool:
    try:
        return abs(float(a) - float(b)) <= 1e-9 * max(1.0, abs(float(b)))
    except (TypeError, ValueError):
        return False


def spearman_report(run_dir: Path) -> list[str]:
    """Rank correlation of the median steps to generalise with each grid key, holding the other keys fixed:
    Spearman's rho within every slice of the other keys that has >= 2 generalising grid points, and the mean
    over slices weighted by their size."""
    from toymodels.metrics.phases import spearman

    _, plan = open_sweep(run_dir)
    grid = read_grid(run_dir)
    lines = []
    for region, phases in (("generalised", ("grokking", "comprehension")), ("grokking", ("grokking",))):
        rows = [g for g in grid if g["phase"] in phases and g["steps_to_generalise"] is not None]
        for k in plan.grid_keys:
            slices: dict[tuple, list[dict]] = {}
            for g in rows:
                slices.setdefault(tuple(g[o] for o in plan.grid_keys if o != k), []).append(g)
            rhos = []
            for rs in slices.values():
                if len(rs) < 2:
                    continue
                x, y = [float(g[k]) for g in rs], [g["steps_to_generalise"] for g in rs]
                rho = spearman(x, y)
                if rho == rho:
                    rhos.append((rho, len(rs)))
            if rhos:
                mean = sum(r * n for r, n in rhos) / sum(n for _, n in rhos)
                lines.append(f"spearman(steps_to_generalise, {k} | other keys fixed) over the {region} region: "
                             f"{mean:+.3f} (mean of {len(rhos)} slices: {', '.join(f'{r:+.2f}' for r, _ in rhos)})")
    return lines
