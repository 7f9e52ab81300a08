"""wandb through Lightning's WandbLogger: offline by default (most machines have no account or network); the
offline run sits in the run directory and ``wandb sync RUN_DIR/wandb/offline-run-*`` uploads it later.
wandb is optional at run time: without it (e.g. on a bare GPU image) runs log locally only."""
from __future__ import annotations

import warnings
from pathlib import Path

from .config import RunConfig

MAX_CURVES = 64  # per-member curves drawn in one panel; more members still appear in the table


def make_logger(cfg: RunConfig, run_dir: Path, group: str | None = None):
    if cfg.wandb.mode == "disabled":
        return None
    try:
        import wandb  # noqa: F401
        from lightning.pytorch.loggers import WandbLogger
    except ImportError:
        warnings.warn("wandb is not installed: logging to the run directory only")
        return None
    id_file = run_dir / "wandb_id.txt"
    run_id = id_file.read_text().strip() if id_file.exists() else None
    logger = WandbLogger(name=run_dir.name, project=cfg.wandb.project, entity=cfg.wandb.entity,
                         group=group or cfg.wandb.group or cfg.name, save_dir=str(run_dir),
                         offline=cfg.wandb.mode == "offline", id=run_id, resume="allow")
    id_file.write_text(logger.experiment.id)  # starts the (offline) run now, so its id can be kept for resume
    return logger


def log_members(logger, rows: list[dict], steps, test_acc, metric: str = "test_acc"):
    """A Table of members (settings and outcomes) and per-member curves of ``metric`` (test accuracy, or test loss
    for regression), given as test_acc [E, T]."""
    if logger is None:
        return
    import wandb

    columns = list(rows[0])
    table = wandb.Table(columns=columns, data=[[r[c] if not isinstance(r[c], (list, tuple)) else str(r[c])
                                                for c in columns] for r in rows])
    n = min(len(rows), MAX_CURVES)
    curves = wandb.plot.line_series(xs=[int(s) for s in steps], ys=[test_acc[e].tolist() for e in range(n)],
                                    keys=[f"member {e}" for e in range(n)], title=f"{metric} per member",
                                    xname="step")
    logger.experiment.log({"members": table, f"{metric}_per_member": curves})
