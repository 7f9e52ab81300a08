"""Log-spaced weight snapshots of chosen members, each under its standalone parameter names
(``snapshots/step_00001000.pt`` = {member index: state dict})."""
from __future__ import annotations

from pathlib import Path

import lightning as L
import torch

from ..atomic import atomic_path


class Snapshots(L.Callback):
    def __init__(self, directory: Path, members: list[int], steps: list[int]):
        self.dir, self.members, self.steps = Path(directory), list(members), set(steps)

    def _save(self, pl_module, step: int):
        self.dir.mkdir(parents=True, exist_ok=True)
        model = pl_module.engine.model
        state = {e: {k: v.cpu() for k, v in model.member_state(e).items()} for e in self.members}
        with atomic_path(self.dir / f"step_{step:08d}.pt") as tmp:
            torch.save(state, tmp)

    def on_train_start(self, trainer, pl_module):
        if self.members and trainer.global_step == 0 and 0 in self.steps:
            self._save(pl_module, 0)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if self.members and trainer.global_step in self.steps:
            self._save(pl_module, trainer.global_step)
