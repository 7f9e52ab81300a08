"""Ctrl-C and SIGTERM finish the current step, save a checkpoint and stop the fit cleanly (a second Ctrl-C
aborts at once). The command then exits with 128 + the signal's number (``exit_status``): 130 after Ctrl-C,
143 after SIGTERM, as shells and schedulers expect. Stopping between steps keeps the checkpoint consistent: an interrupt in the middle of an
optimiser update would otherwise save half-updated parameters."""
from __future__ import annotations

import signal

import lightning as L

from .checkpoint import save_atomic


class GracefulInterrupt(L.Callback):
    last_signal: str | None = None  # process-wide, like signals: the one that stopped the latest fit

    def __init__(self, path):
        self.path = path
        self.signal: str | None = None
        self._previous = {}

    def _handler(self, signum, frame):
        if self.signal is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.signal = signal.Signals(signum).name

    def on_train_start(self, trainer, pl_module):
        GracefulInterrupt.last_signal = None
        for s in (signal.SIGINT, signal.SIGTERM):
            self._previous[s] = signal.signal(s, self._handler)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if self.signal is not None:
            save_atomic(trainer, self.path)
            GracefulInterrupt.last_signal = self.signal
            pl_module.interrupted = True
            trainer.should_stop = True

    def teardown(self, trainer, pl_module, stage):
        for s, h in self._previous.items():
            signal.signal(s, h)
        self._previous = {}


def exit_status() -> int:
    """128 + the number of the signal that stopped the latest fit: 143 for SIGTERM, else 130 (Ctrl-C)."""
    return 128 + signal.Signals[GracefulInterrupt.last_signal or "SIGINT"].value
