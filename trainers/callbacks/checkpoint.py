"""Periodic checkpoints written atomically (temp file, then rename), so a kill -9 mid-write never leaves a
truncated ``last.ckpt``. Lightning's ModelCheckpoint writes in place and ranks checkpoints by a monitored
metric; a run here needs only "the latest complete state", hence this small callback."""
from __future__ import annotations

import os
from pathlib import Path

import lightning as L


def save_atomic(trainer: L.Trainer, path: Path):
    tmp = path.with_suffix(".tmp")
    trainer.save_checkpoint(str(tmp))
    os.replace(tmp, path)


class AtomicCheckpoint(L.Callback):
    def __init__(self, path: Path, every: int):
        self.path, self.every = Path(path), every

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if trainer.global_step % self.every == 0:
            save_atomic(trainer, self.path)

    def on_train_end(self, trainer, pl_module):
        save_atomic(trainer, self.path)
