"""wandb through Lightning's WandbLogger: offline by default (most machines have no account or network); the
offline run sits in the run directory and ``wandb sync RUN_DIR/wandb/offline-run-*`` uploads it later.
wandb is optional at run time: without it (e.g. on a bare GPU image) runs log locally only."""
from __future__ import annotations

import os
import warnings
from pathlib import Path

from toymodels.errors import ConfigError

from .config import RunConfig

MAX_CURVES = 64  # per-member curves drawn in one panel; more members still appear in the table


def wandb_mode(cfg: RunConfig) -> str:
    """offline / online / disabled: WANDB_MODE from the environment wins over the config (as wandb's users expect;
    its "dryrun" is "offline")."""
    mode = os.environ.get("WANDB_MODE", "").strip().lower() or cfg.wandb.mode
    return {"dryrun": "offline", "run": "online"}.get(mode, mode)


def init_run(cfg: RunConfig, run_dir: Path, name: str, resumable: bool = True, **kw):
    """A wandb run (or None when disabled or wandb is absent): mode from ``wandb_mode``, files in WANDB_DIR when set
    (else the run directory), quiet unless ``wandb.verbose`` (wandb's warnings and errors still print), and -- when
    ``resumable`` -- the id kept in RUN_DIR/wandb_id.txt so a resumed run continues it. ``kw``: more wandb.init
    arguments (group, job_type, config)."""
    mode = wandb_mode(cfg)
    if mode == "disabled":
        return None
    if mode not in ("offline", "online"):
        raise ConfigError("WANDB_MODE", f"must be offline, online or disabled (got {mode!r})")
    try:
        import wandb
    except ImportError:
        warnings.warn("wandb is not installed: logging to the run directory only")
        return None
    id_file = Path(run_dir) / "wandb_id.txt"
    run_id = id_file.read_text().strip() if resumable and id_file.exists() else None
    quiet = not cfg.wandb.verbose
    settings = wandb.Settings(silent=quiet, quiet=quiet, console="off" if quiet else "auto")
    run = wandb.init(name=name, project=cfg.wandb.project, entity=cfg.wandb.entity, mode=mode, id=run_id,
                     dir=os.environ.get("WANDB_DIR") or str(run_dir), resume="allow" if resumable else None,
                     settings=settings, reinit="create_new", **kw)
    if resumable:
        id_file.write_text(run.id)
    return run


def make_logger(cfg: RunConfig, run_dir: Path, group: str | None = None):
    """Lightning's WandbLogger over a run that toylab starts (``init_run``), or None."""
    run = init_run(cfg, run_dir, run_dir.name, group=group or cfg.wandb.group or cfg.name)
    if run is None:
        return None
    from lightning.pytorch.loggers import WandbLogger

    return WandbLogger(experiment=run, save_dir=run.dir)


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
