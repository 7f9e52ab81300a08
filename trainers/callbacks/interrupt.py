"""Ctrl-C and SIGTERM finish the current step, save a checkpoint and stop the fit cleanly (a second Ctrl-C
aborts at once). Stopping between steps keeps the checkpoint consistent: an interrupt in the middle of an
optimiser update would otherwise save half-updated parameters."""
from __future__ import annotations

import signal

import lightning as L

from .checkpoint import save_atomic


class GracefulInterrupt(L.Callback):
    def __init__(self, path):
        self.path = path
        self.signal: str | None = None
        self._previous = {}

    def _handler(self, signum, frame):
        if self.signal is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.signal = signal.Signals(signum).name

    def on_train_start(self, trainer, pl_module):
        for s in (signal.SIGINT, signal.SIGTERM):
            self._previous[s] = signal.signal(s, self._handler)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if self.signal is not None:
            save_atomic(trainer, self.path)
            pl_module.interrupted = True
            trainer.should_stop = True

    def teardown(self, trainer, pl_module, stage):
        for s, h in self._previous.items():
            signal.signal(s, h)
        self._previous = {}
