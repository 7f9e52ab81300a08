"""Periodic checkpoints written atomically (temp file, then rename), so a kill -9 mid-write never leaves a
truncated ``last.ckpt``. Lightning's ModelCheckpoint writes in place and ranks checkpoints by a monitored
metric; a run here needs only "the latest complete state", hence this small callback.

Resuming reads the checkpoint through ``SafeCheckpointIO`` (``weights_only=True``): a crafted ``last.ckpt``
cannot run code, and a bad one is one ``LoadError`` line instead of a traceback."""
from __future__ import annotations

from pathlib import Path

import lightning as L
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO

from ..atomic import atomic_path
from ..rundir import load_checkpoint


def save_atomic(trainer: L.Trainer, path: Path):
    with atomic_path(path) as tmp:
        trainer.save_checkpoint(str(tmp))


class AtomicCheckpoint(L.Callback):
    def __init__(self, path: Path, every: int):
        self.path, self.every = Path(path), every

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if trainer.global_step % self.every == 0:
            save_atomic(trainer, self.path)

    def on_train_end(self, trainer, pl_module):
        save_atomic(trainer, self.path)


class SafeCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint IO with loading through ``toymodels.safe_load`` (never unpickles code)."""

    def load_checkpoint(self, path, map_location=lambda storage, loc: storage, weights_only=None) -> dict:
        """Tensors stay on the device they were saved from, as with Lightning's default IO."""
        return load_checkpoint(path, map_location)
