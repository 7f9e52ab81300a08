"""Lightning callbacks: atomic periodic checkpoints, graceful interruption, weight snapshots."""
from .checkpoint import AtomicCheckpoint
from .interrupt import GracefulInterrupt
from .snapshots import Snapshots

__all__ = ["AtomicCheckpoint", "GracefulInterrupt", "Snapshots"]
