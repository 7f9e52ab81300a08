"""Writes that never leave a half-written file: write a temporary file next to the target, then ``os.replace``
(atomic on POSIX). A crash or exception mid-write leaves the previous file intact and no temporary behind."""
from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


@contextmanager
def atomic_path(path) -> Iterator[Path]:
    """Yields a temporary path in ``path``'s directory; on success it replaces ``path``, on error it is removed."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextmanager
def atomic_open(path, mode: str = "w", **kwargs):
    """``open(path, mode)`` whose content appears at ``path`` only once the block finished without error."""
    with atomic_path(path) as tmp:
        try:
            f = open(tmp, mode, **kwargs)
        except OSError as err:  # name the target, not the temporary
            raise type(err)(err.errno, err.strerror, str(path)) from None
        with f:
            yield f
            f.flush()
            os.fsync(f.fileno())
