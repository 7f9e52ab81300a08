"""Per-member random streams, independent of ensemble size, member position and chunking.

Every random choice a member makes (its split, init, batch order, label noise, templates) comes from a *stream*:
``stream_seed(seed, name)`` hashes the member's seed and the stream's name into a 63-bit integer. A member with the
same seed therefore draws the same numbers whether it trains alone, at position 17 of a 256-member ensemble, or in
another chunk of a sweep.

One-off draws (split, init, noise, templates) use ``torch.Generator`` seeded from the stream. Per-step draws (the
minibatch order) use a counter-based hash, ``hash_uniform``: its state is just (seed, counter), so sampling needs no
Python loop over members, no host sync and nothing to restore beyond the step number.
"""
from __future__ import annotations

import hashlib

import torch

#: every stream a member draws from: its split, init, minibatch order, label noise, MSE templates; regression data
#: (inputs, held-out rows and their noise), random-feature projections, teacher weights; the spectra probe's
#: randomised ESD shuffles with "spectra-shuffle/<layer>" streams (``toymodels.metrics.spectra.randomized``)
STREAMS = ("split", "init", "batch", "noise", "templates", "data", "heldout", "heldout_noise", "projection",
           "teacher")
_MASK32 = 0xFFFFFFFF


def stream_seed(seed: int, stream: str) -> int:
    """63-bit seed for stream ``stream`` of a member whose seed is ``seed`` (stable across Python versions)."""
    digest = hashlib.blake2b(f"toylab/{int(seed)}/{stream}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & 0x7FFF_FFFF_FFFF_FFFF


def generator(seed: int, stream: str) -> torch.Generator:
    """A CPU generator for one member's stream (draw on the CPU, then move: same numbers on every device)."""
    return torch.Generator().manual_seed(stream_seed(seed, stream))


def _mix32(x: torch.Tensor) -> torch.Tensor:
    # A 32-bit integer finaliser (the "lowbias32" hash); values stay < 2**32 and products < 2**59, so int64
    # arithmetic never overflows and CPU and CUDA agree bit for bit.
    x = x & _MASK32
    x = ((x ^ (x >> 16)) * 0x7FEB352D) & _MASK32
    x = ((x ^ (x >> 15)) * 0x846CA68B) & _MASK32
    return x ^ (x >> 16)


def hash_uniform(seeds: torch.Tensor, counter: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """Uniform floats in [0, 1) that depend only on (seed, counter, index).

    seeds: [E] int64 stream seeds; counter: [E] int64 (e.g. the member's epoch); index: [n] int64.
    Returns [E, n] float64.
    """
    s = seeds.to(torch.int64)
    h = _mix32(_mix32(s & _MASK32) ^ ((s >> 32) & _MASK32))
    h = _mix32(h ^ _mix32(counter.to(torch.int64) + 0x9E3779B9))
    h = _mix32(h[:, None] ^ _mix32(index.to(torch.int64)[None, :] * 2 + 1))
    return h.to(torch.float64) / float(2**32)
