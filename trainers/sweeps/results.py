"""A sweep's results: every finished chunk's members merged into RUN_DIR/members.csv with their grid point,
seed, outcomes and phase, and RUN_DIR/grid.csv with one row per grid point (seeds aggregated).

The phase rule is ``sweep.phase.rule``: "grokking" (Liu et al., from the accuracy histories of classification fits;
regression fits get no phase) or "lazy_rich" (two_layer fits with probes.lazy_rich, from the final relative weight
movement and NTK-alignment gain in histories/lazy_rich_*.npy; ``toymodels.metrics.lazy_rich``)."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from toymodels.errors import ConfigError
from toymodels.metrics.lazy_rich import LAZY_RICH_PHASES, classify_lazy_rich, majority_phase
from toymodels.metrics.phases import PHASES, majority, phases_from_history

from ..config import RunConfig
from ..reader import chunk_dir, read_history, read_members
from .plan import Plan

def finished(run_dir: Path, plan: Plan) -> list[int]:
    return [c.index for c in plan.chunks if (chunk_dir(run_dir, c.index) / "DONE").exists()]


def _value(v: str):
    if v in ("", None):
        return None
    for cast in (int, float):
        try:
            return cast(v)
        except ValueError:
            pass
    return {"True": True, "False": False}.get(v, v)


def lazy_rich_outcomes(chunk: Path, local: list[dict], cfg: RunConfig) -> list[dict]:
    """Per member of a finished chunk: phase (lazy / rich / diverged), final relative weight movement of W and the
    NTK-target alignment gain (final - first probe), from its lazy-rich histories."""
    ph, h = cfg.sweep.phase, Path(chunk) / "histories"
    if not (h / "lazy_rich_weight_change_W.npy").exists():
        raise ConfigError("sweep.phase.rule", f"lazy_rich needs the lazy-rich probes (probes.lazy_rich: true); "
                                              f"{chunk} has none")
    move = np.load(h / "lazy_rich_weight_change_W.npy")[:, -1]
    align = np.load(h / "lazy_rich_ntk_alignment.npy")
    gain = align[:, -1] - align[:, 0]
    diverged = np.array([str(r.get("diverged")) == "True" for r in local])
    phase = classify_lazy_rich(move, diverged, ph.movement, gain, ph.alignment_gain)
    return [{"phase": str(phase[j]), "weight_change_W": float(move[j]), "ntk_alignment_gain": float(gain[j])}
            for j in range(len(local))]


def collect(run_dir: Path, plan: Plan, cfg: RunConfig) -> list[dict]:
    """One row per member of every finished chunk, in global member order, with s_train, s_test and phase (or, with
    the lazy_rich rule, phase, weight_change_W and ntk_alignment_gain)."""
    ph = cfg.sweep.phase
    rows = []
    for c in plan.chunks:
        d = chunk_dir(run_dir, c.index)
        if not (d / "DONE").exists():
            continue
        local = read_members(d)
        lazy_rich = lazy_rich_outcomes(d, local, cfg) if ph.rule == "lazy_rich" else None
        # regression fits have no grokking phases
        classification = lazy_rich is None and (d / "histories" / "train_acc.npy").exists()
        if classification:
            steps, train_acc = read_history(d, "train_acc")
            _, test_acc = read_history(d, "test_acc")
            budget = ph.budget if ph.budget is not None else int(steps[-1])
            phase, s_train, s_test = phases_from_history(steps, train_acc, test_acc, ph.threshold, ph.gap, budget)
        for j, g in enumerate(c.members):
            row = {"member": g, "chunk": c.index, "chunk_member": j}
            row.update({k: plan.members[g].get(k) for k in plan.grid_keys})
            row["seed"] = plan.members[g]["seed"]
            row.update({k: _value(v) for k, v in local[j].items()
                        if k not in ("member", "seed") and k not in plan.grid_keys})
            if classification:
                row.update({"s_train": int(s_train[j]) if s_train[j] >= 0 else None,
                            "s_test": int(s_test[j]) if s_test[j] >= 0 else None, "phase": str(phase[j])})
            if lazy_rich is not None:
                row.update(lazy_rich[j])
            rows.append(row)
    return sorted(rows, key=lambda r: r["member"])


REGRESSION_MEANS = ("final_train_loss", "final_test_loss", "best_test_loss", "limit_test_loss",
                    "theory_limit_test_loss")


def _lazy_rich_point(point: dict, rs: list[dict]) -> dict:
    """A lazy-rich grid point: majority phase, agreement, seed means of the movement, the gain and the losses."""
    phase, agree = majority_phase([r["phase"] for r in rs])
    row = {**point, "seeds": len(rs), "phase": phase, "agreement": round(agree, 4)}
    for k in ("weight_change_W", "ntk_alignment_gain", "final_train_loss", "final_test_loss", "final_test_acc"):
        vals = [r[k] for r in rs if isinstance(r.get(k), (int, float))]
        if vals:
            row[f"mean_{k}"] = float(np.nanmean(vals)) if np.isfinite(vals).any() else float("nan")
    row.update({f"n_{p}": sum(r["phase"] == p for r in rs) for p in LAZY_RICH_PHASES})
    return row


def aggregate(rows: list[dict], keys: list[str], rule: str = "grokking") -> list[dict]:
    """One row per grid point: majority phase of its seeds, their agreement, median steps to generalise (grokking
    rule) or mean weight movement and alignment gain (lazy_rich rule)."""
    points: dict[tuple, list[dict]] = {}
    for r in rows:
        points.setdefault(tuple(r[k] for k in keys), []).append(r)
    out = []
    for point, rs in points.items():
        if rule == "lazy_rich":
            out.append(_lazy_rich_point(dict(zip(keys, point)), rs))
            continue
        if "phase" not in rs[0]:  # regression: seed means of the losses
            row = {**dict(zip(keys, point)), "seeds": len(rs)}
            row.update({f"mean_{k}": float(np.mean([r[k] for r in rs])) for k in REGRESSION_MEANS if k in rs[0]})
            out.append(row)
            continue
        phase, agree = majority([r["phase"] for r in rs])
        reached = [r["s_test"] for r in rs if r["s_test"] is not None]
        row = dict(zip(keys, point))
        row.update({"seeds": len(rs), "phase": phase, "agreement": round(agree, 4),
                    "steps_to_generalise": float(np.median(reached)) if reached else None,
                    "final_test_acc": float(np.mean([r["final_test_acc"] for r in rs]))})
        row.update({f"n_{p}": sum(r["phase"] == p for r in rs) for p in PHASES})
        out.append(row)
    return out


def _write(path: Path, rows: list[dict]):
    if not rows:
        return
    fields = list(rows[0])
    for r in rows:
        fields += [k for k in r if k not in fields]
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        for r in rows:
            w.writerow({k: "" if r.get(k) is None else r.get(k) for k in fields})


def write_results(run_dir: Path, plan: Plan, cfg: RunConfig) -> tuple[list[dict], list[dict]]:
    rows = collect(run_dir, plan, cfg)
    grid = aggregate(rows, plan.grid_keys, cfg.sweep.phase.rule)
    _write(Path(run_dir) / "members.csv", rows)
    _write(Path(run_dir) / "grid.csv", grid)
    return rows, grid


def read_grid(run_dir: Path) -> list[dict]:
    with open(Path(run_dir) / "grid.csv") as f:
        return [{k: _value(v) for k, v in r.items()} for r in csv.DictReader(f)]


def read_sweep_members(run_dir: Path) -> list[dict]:
    with open(Path(run_dir) / "members.csv") as f:
        return [{k: _value(v) for k, v in r.items()} for r in csv.DictReader(f)]
