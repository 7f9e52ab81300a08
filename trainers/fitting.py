"""Run one ensemble fit under Lightning and write its run directory."""
from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.callbacks import ProgressBar

from .allocator import keep_freed_memory
from .callbacks import AtomicCheckpoint, GracefulInterrupt, Snapshots
from .callbacks.checkpoint import SafeCheckpointIO
from .config import RunConfig
from .device import configure_precision, require_cpu_compiler, resolve_device
from .families import family_of
from .members import MemberTable
from .module import EnsembleModule
from .progress import fit_progress
from .reader import read_history
from .rundir import member_outcomes, write_histories, write_members
from .schedule import eval_steps, log_steps
from .wandb_log import log_members, make_logger

for _name in ("lightning.pytorch", "lightning.fabric"):  # Lightning sets INFO at import; its banners are noise here
    logging.getLogger(_name).setLevel(logging.WARNING)
for pattern in (".*does not have many workers.*", ".*resuming from a checkpoint that ended.*",
                ".*is an IterableDataset.*", ".*Found .* module.* in eval mode.*", ".*LeafSpec.*",
                ".*`isinstance\\(treespec, LeafSpec\\)`.*", ".*Total length of `.*` across ranks.*"):
    warnings.filterwarnings("ignore", message=pattern)


@dataclass
class FitResult:
    run_dir: Path
    module: EnsembleModule
    interrupted: bool


def configure_engine(engine, cfg: RunConfig, device: torch.device):
    """The train settings that act on a built engine: bf16 autocast, torch.compile, CUDA graphs (CUDA only)."""
    tr = cfg.train
    if tr.precision == "bf16":
        engine.autocast_dtype = torch.bfloat16
    graphs = tr.cuda_graphs and device.type == "cuda"
    if tr.compile or graphs:
        require_cpu_compiler(device)
        engine.compile(mode="reduce-overhead" if graphs else None)
    return engine


def run_fit(cfg: RunConfig, members: MemberTable, run_dir: Path, resume: bool = False,
            callbacks: list[L.Callback] | None = None) -> FitResult:
    """Train ``members`` as one ensemble and write ``run_dir``; ``resume`` continues from its last checkpoint.
    ``callbacks`` run before toylab's own (checkpointing, interruption, progress)."""
    device = resolve_device(cfg.train.device)
    configure_precision(cfg, device)
    if device.type == "cpu":
        keep_freed_memory()  # no page faults on every step's activations (scripts/bench_allocator.py: 1.6x)
    if cfg.train.threads:
        torch.set_num_threads(cfg.train.threads)
    family = family_of(cfg)
    engine = configure_engine(family.build_engine(cfg, members, device), cfg, device)
    tr = cfg.train
    schedule = eval_steps(tr.max_steps, tr.eval_schedule, tr.eval_every, tr.eval_points)
    module = EnsembleModule(engine, schedule, tr.thresholds, tr.loss_thresholds, tr.stop_test_loss)
    ckpt = run_dir / "checkpoints" / "last.ckpt"
    ckpt.parent.mkdir(parents=True, exist_ok=True)
    callbacks = family.callbacks(cfg, engine, run_dir) + list(callbacks or []) + \
        [GracefulInterrupt(ckpt), AtomicCheckpoint(ckpt, tr.checkpoint_every)]
    if tr.snapshot_members:
        callbacks.append(Snapshots(run_dir / "snapshots", tr.snapshot_members,
                                      log_steps(tr.max_steps, tr.snapshot_points)))
    callbacks += fit_progress(tr.progress, compiling=tr.compile or (tr.cuda_graphs and device.type == "cuda"))
    logger = make_logger(cfg, run_dir)
    trainer = L.Trainer(
        accelerator="gpu" if device.type == "cuda" else "cpu", devices=1, max_steps=tr.max_steps, max_epochs=-1,
        logger=logger if logger is not None else False, callbacks=callbacks, enable_checkpointing=False,
        enable_model_summary=False, enable_progress_bar=any(isinstance(c, ProgressBar) for c in callbacks), log_every_n_steps=1,
        num_sanity_val_steps=0, limit_val_batches=0, precision="64-true" if tr.precision == "64" else "32-true",
        default_root_dir=str(run_dir), plugins=[SafeCheckpointIO()],  # resume never unpickles code
    )
    trainer.fit(module, ckpt_path=str(ckpt) if resume and ckpt.exists() else None, weights_only=True)
    write_histories(run_dir, module)
    outcomes = member_outcomes(module)
    write_members(run_dir, members, outcomes, engine.record_columns())
    if logger is not None:
        metric = "test_acc" if "test_acc" in module.metric_names else "test_loss"
        steps, values = read_history(run_dir, metric)
        rows = [{"member": e, **members.record()[e], **outcomes[e]} for e in range(len(members))]
        log_members(logger, rows, steps, values, metric)
        logger.experiment.finish()
    if not module.interrupted:
        (run_dir / "DONE").touch()
    return FitResult(run_dir, module, module.interrupted)
