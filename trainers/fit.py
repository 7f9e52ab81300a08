"""Run one ensemble fit under Lightning and write its run directory."""
from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.callbacks import RichProgressBar, TQDMProgressBar

from .allocator import keep_freed_memory
from .build import build_engine, resolve_device
from .callbacks import AtomicCheckpoint, GracefulInterrupt, Snapshots
from .callbacks.checkpoint import SafeCheckpointIO
from .config import RunConfig
from .members import MemberTable
from .module import EnsembleModule
from .rundir import member_outcomes, read_history, write_histories, write_members
from .schedule import eval_steps, log_steps
from .wandb_log import log_members, make_logger

for _name in ("lightning.pytorch", "lightning.fabric"):  # Lightning sets INFO at import; its banners are noise here
    logging.getLogger(_name).setLevel(logging.WARNING)
for pattern in (".*does not have many workers.*", ".*resuming from a checkpoint that ended.*",
                ".*is an IterableDataset.*", ".*Found .* module.* in eval mode.*", ".*LeafSpec.*",
                ".*`isinstance\\(treespec, LeafSpec\\)`.*", ".*Total length of `.*` across ranks.*"):
    warnings.filterwarnings("ignore", message=pattern)


class _StepsTotal:
    """Progress bars count steps to ``max_steps`` (the step loop has no epochs of fixed length)."""

    @property
    def total_train_batches(self):
        return self.trainer.max_steps


class StepRichBar(_StepsTotal, RichProgressBar):
    def _get_train_description(self, current_epoch: int) -> str:
        return "steps"


class StepTQDMBar(_StepsTotal, TQDMProgressBar):
    pass


def probe_callbacks(cfg: RunConfig, engine, run_dir: Path) -> list[L.Callback]:
    """The representation, spectra and lazy-rich probes the config asks for, on their schedule."""
    pc, out = cfg.probes, []
    if not (pc.representation or pc.spectra or pc.lazy_rich):
        return out
    steps = log_steps(cfg.train.max_steps, pc.points) if pc.schedule == "log" else \
        eval_steps(cfg.train.max_steps, "linear", pc.every, 0)
    if pc.representation:
        from toymodels.metrics.representation.probe import RepresentationProbe

        from .callbacks.representation import RepresentationCallback

        operation = cfg.task.operation if cfg.task.name == "modular" else cfg.task.name
        probe = RepresentationProbe(engine.data, operation, cfg.task.p, pc.rows, pc.rqi_delta,
                                    logits=cfg.loss.name != "mse")
        out.append(RepresentationCallback(probe, steps, run_dir))
    if pc.spectra:
        from .callbacks.spectra import SpectraCallback

        out.append(SpectraCallback(steps, run_dir, full=pc.spectra_full, seed=cfg.seed))
    if pc.lazy_rich:
        from toymodels.errors import ConfigError

        from .callbacks.lazy_rich import LazyRichCallback

        if cfg.model.name != "two_layer":
            raise ConfigError("probes.lazy_rich", f"measures model two_layer (got {cfg.model.name})")
        out.append(LazyRichCallback(engine, steps, run_dir, pc.rows))
    return out


@dataclass
class FitResult:
    run_dir: Path
    module: EnsembleModule
    interrupted: bool


def configure_precision(cfg: RunConfig, device: torch.device):
    """TF32 matmuls on GPU by default for float32 runs; never for float64 or when switched off."""
    tf32 = device.type == "cuda" and cfg.train.tf32 and cfg.train.precision == "32"
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32


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
    engine = build_engine(cfg, members, device)
    tr = cfg.train
    schedule = eval_steps(tr.max_steps, tr.eval_schedule, tr.eval_every, tr.eval_points)
    num_classes = engine.data.table.n_classes if cfg.loss.name == "mse" else engine.model.n_outputs
    module = EnsembleModule(engine, schedule, tr.thresholds, num_classes, tr.loss_thresholds, tr.stop_test_loss)
    ckpt = run_dir / "checkpoints" / "last.ckpt"
    ckpt.parent.mkdir(parents=True, exist_ok=True)
    callbacks = list(callbacks or []) + probe_callbacks(cfg, engine, run_dir) + \
        [GracefulInterrupt(ckpt), AtomicCheckpoint(ckpt, tr.checkpoint_every)]
    if cfg.task.name in ("powerlaw", "teacher"):  # train-test gap and theory overlay of every regression fit
        from .regression import regression_callbacks
        callbacks = regression_callbacks(cfg, engine, run_dir) + callbacks
    if tr.snapshot_members:
        callbacks.append(Snapshots(run_dir / "snapshots", tr.snapshot_members,
                                      log_steps(tr.max_steps, tr.snapshot_points)))
    if tr.progress == "rich":
        callbacks.append(StepRichBar())
    elif tr.progress == "tqdm":
        callbacks.append(StepTQDMBar())
    logger = make_logger(cfg, run_dir)
    trainer = L.Trainer(
        accelerator="gpu" if device.type == "cuda" else "cpu", devices=1, max_steps=tr.max_steps, max_epochs=-1,
        logger=logger if logger is not None else False, callbacks=callbacks, enable_checkpointing=False,
        enable_model_summary=False, enable_progress_bar=tr.progress != "none", log_every_n_steps=1,
        num_sanity_val_steps=0, limit_val_batches=0, precision="64-true" if tr.precision == "64" else "32-true",
        default_root_dir=str(run_dir), plugins=[SafeCheckpointIO()],  # resume never unpickles code
    )
    trainer.fit(module, ckpt_path=str(ckpt) if resume and ckpt.exists() else None, weights_only=True)
    write_histories(run_dir, module)
    outcomes = member_outcomes(module)
    write_members(run_dir, members, outcomes, getattr(engine, "record_columns", None))
    if logger is not None:
        metric = "test_acc" if "test_acc" in module.metric_names else "test_loss"
        steps, values = read_history(run_dir, metric)
        rows = [{"member": e, **members.record()[e], **outcomes[e]} for e in range(len(members))]
        log_members(logger, rows, steps, values, metric)
        logger.experiment.finish()
    if not module.interrupted:
        (run_dir / "DONE").touch()
    return FitResult(run_dir, module, module.interrupted)
