"""Where chunks run: in this process, one after another, or as Ray tasks (a local Ray instance by default, an
existing cluster by address). Each chunk is an ordinary fit run directory under RUN_DIR/chunks/, so a chunk
that was interrupted -- Ctrl-C, kill -9, a lost Ray worker -- continues from its last checkpoint when it runs
again, and a finished chunk (its DONE file) is never rerun."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import torch

from ..config import RunConfig
from ..fitting import run_fit
from ..members import expand
from ..typed import config_from_dict, config_to_dict
from ..rundir import write_config
from .plan import Chunk, chunk_config
from ..reader import chunk_dir


class ChunkInterrupted(Exception):
    pass


def run_chunk(run_dir: str, cfg_dict: dict, chunk: dict, progress: str = "none", threads: int | None = None,
              callbacks: list | None = None) -> int:
    """Run (or continue) one chunk's fit; returns its index. Safe to call again after any interruption.
    ``callbacks``: extra Lightning callbacks of the fit (the sweep's progress, in this process)."""
    if threads:
        torch.set_num_threads(threads)
    cfg = config_from_dict(cfg_dict)
    c = Chunk(**chunk)
    ccfg = chunk_config(cfg, c)
    ccfg.name, ccfg.wandb.mode, ccfg.train.progress = c.name, "disabled", progress
    d = chunk_dir(Path(run_dir), c.index)
    if (d / "DONE").exists():
        return c.index
    d.mkdir(parents=True, exist_ok=True)
    write_config(d, ccfg)
    result = run_fit(ccfg, expand(ccfg), d, resume=(d / "checkpoints" / "last.ckpt").exists(), callbacks=callbacks)
    if result.interrupted:
        raise ChunkInterrupted(c.name)
    return c.index


class InProcess:
    def __init__(self, follow=None):
        self.follow = follow  # () -> a Lightning callback that follows each fit (the sweep's progress)

    def run(self, run_dir: Path, cfg: RunConfig, chunks: list[Chunk]) -> Iterator[int]:
        progress = cfg.train.progress
        for c in chunks:
            extra = [self.follow()] if self.follow else None
            yield run_chunk(str(run_dir), config_to_dict(cfg), c.__dict__, progress, callbacks=extra)


class RayBackend:
    """Chunks as Ray tasks: one GPU each where the cluster has GPUs, else one CPU each. A task whose worker dies
    is retried (max_retries) and resumes from the chunk's checkpoint. The run directory must be on storage that
    every node sees."""

    def __init__(self, address: str | None):
        try:
            import ray
        except ImportError as err:
            from toymodels.errors import ConfigError

            raise ConfigError("sweep.backend", "ray is not installed: pip install 'toylab[ray]'") from err
        self.ray = ray
        if not ray.is_initialized():
            if address:
                ray.init(address=address, log_to_driver=False)
            else:
                ray.init(include_dashboard=False, log_to_driver=False)

    def run(self, run_dir: Path, cfg: RunConfig, chunks: list[Chunk]) -> Iterator[int]:
        ray = self.ray
        gpus = 1 if ray.cluster_resources().get("GPU", 0) >= 1 else 0
        task = ray.remote(num_cpus=1, num_gpus=gpus, max_retries=3, retry_exceptions=False)(run_chunk)
        pending = [task.remote(str(Path(run_dir).resolve()), config_to_dict(cfg), c.__dict__, "none", 1) for c in chunks]
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            for ref in done:
                yield ray.get(ref)


def make_backend(cfg: RunConfig, follow=None):
    """The sweep's backend; ``follow``: a factory of per-fit progress callbacks (in-process fits only)."""
    if cfg.sweep.backend == "ray":
        return RayBackend(cfg.sweep.address)
    return InProcess(follow)
