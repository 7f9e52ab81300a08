"""One process per run directory: an exclusive ``fcntl.flock`` on RUN_DIR/.lock, held while a fit or sweep
writes there, so a second ``toylab fit --resume`` of the same directory fails at once with a clear message
instead of interleaving histories and checkpoints. The kernel drops the lock when the process dies (kill -9
included), so a stale lock never blocks a later resume."""
from __future__ import annotations

import fcntl
import os
from contextlib import contextmanager
from pathlib import Path

from toymodels.errors import ConfigError


@contextmanager
def run_dir_lock(run_dir, key: str = "RUN_DIR"):
    path = Path(run_dir) / ".lock"
    with open(path, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip() or "another process"
            raise ConfigError(key, f"{run_dir} is in use by process {holder} (lock {path}); wait for it to "
                                   f"finish or stop it first") from None
        f.seek(0)
        f.truncate()
        f.write(str(os.getpid()))
        f.flush()
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
