"""Randomised ESDs: the spectrum of W with its elements shuffled, and what it says about W.

Shuffling the entries of W keeps their distribution and destroys their correlations, so the shuffled ESD is the
"random" reference for the same entry distribution (WeightWatcher's ``randomize=True``):

    rand_distance   Jensen-Shannon distance between the sorted eigenvalues of W and of one shuffle, each vector
                    normalised to sum 1 (scipy.stats.entropy, natural log; both sums are ||W||_F^2)
    max_rand_eval   largest shuffled eigenvalue (over all replicas)
    ww_softrank     max shuffled / max original eigenvalue;   ww_maxdist = max original - max shuffled
    rand_*          the MP fit (``mp_fit.py``) of the pooled shuffled ESD;
    num_traps       = rand_num_spikes: shuffled eigenvalues beyond that fit's bulk edge -- correlation traps,
                    large entries that stay spikes whatever their position

Replicas: like WeightWatcher, 5 shuffles are pooled when the matrix has fewer than 100 eigenvalues, else 1.
WeightWatcher draws one more, separate shuffle for rand_distance / ww_softrank / ww_maxdist; here they use
the first replica (the same distribution, one decomposition less). Each slice of a pooled stack is shuffled
on its own.

Seeding: member e shuffles with ``toymodels.rng.generator(seeds[e], stream)``, stream naming the layer, so a
member's shuffles do not depend on the ensemble size, its position, or which other layers share its shape.
WeightWatcher's shuffles are unseeded (numpy's global state): compare rand_distance statistically.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch

from toymodels.rng import generator

from .esd import eigenvalues
from .mp_fit import fit_mp

SMALL_ESD = 100  # fewer eigenvalues than this -> 5 replicas
SMALL_REPLICAS = 5


def num_replicas(num_evals: int) -> int:
    return SMALL_REPLICAS if num_evals < SMALL_ESD else 1


def shuffle_stack(W: torch.Tensor, seeds: Sequence[int], streams: Sequence[str], replicas: int = 1) -> torch.Tensor:
    """Elementwise shuffles of each slice. W: [E, S, N, M]; seeds, streams: one per member -> [E, R, S, N, M].

    Permutations are drawn on the CPU from each member's own generator (the same numbers on every device) and
    applied with one batched gather on W's device.
    """
    E, S, N, M = W.shape
    if len(seeds) != E or len(streams) != E:
        raise ValueError(f"need {E} seeds and streams, got {len(seeds)} and {len(streams)}")
    n = N * M
    perms = torch.empty(E, replicas, S, n, dtype=torch.int64)
    for e in range(E):  # one generator per member: the draws cannot be batched across generators
        g = generator(int(seeds[e]), streams[e])
        for r in range(replicas):
            for s in range(S):
                perms[e, r, s] = torch.randperm(n, generator=g)
    flat = W.reshape(E, 1, S, n).expand(E, replicas, S, n)
    return flat.gather(3, perms.to(W.device)).reshape(E, replicas, S, N, M)


def jensen_shannon_distance(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """sqrt((KL(P || Mix) + KL(Q || Mix)) / 2) with P = p / sum p, Q = q / sum q, Mix = normalised (p + q) / 2,
    natural log (scipy.stats.entropy's conventions). p, q: [E, K] >= 0 -> [E]."""
    m = (p + q) / 2

    def kl(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        a = a / a.sum(dim=1, keepdim=True)
        b = b / b.sum(dim=1, keepdim=True)
        return torch.where(a > 0, a * torch.log(a / b), torch.zeros_like(a)).sum(dim=1)

    return ((kl(p, m) + kl(q, m)) / 2).sqrt()


def randomized_esd(W: torch.Tensor, seeds: Sequence[int], streams: Sequence[str], method: str = "eigh",
                   scale: float = 1.0, replicas: int | None = None) -> torch.Tensor:
    """Pooled ESDs of shuffled copies. W: [E, S, N, M] (N >= M) -> [E, R, S*M], each replica ascending."""
    E, S, N, M = W.shape
    R = num_replicas(S * M) if replicas is None else replicas
    shuffled = shuffle_stack(W, seeds, streams, R)  # [E, R, S, N, M]
    ev = eigenvalues(shuffled, method) * scale  # [E, R, S, M]
    return ev.flatten(2).sort(dim=2).values


def randomized_metrics(evals: torch.Tensor, rand_evals: torch.Tensor, N: int, M: int) -> dict[str, torch.Tensor]:
    """evals: [E, K] ascending; rand_evals: [E, R, K] ascending per replica. Returns [E] tensors."""
    first = rand_evals[:, 0]
    out = {
        "max_rand_eval": rand_evals.amax(dim=(1, 2)),
        "rand_distance": jensen_shannon_distance(evals, first),
        "ww_softrank": first[:, -1] / evals[:, -1],
        "ww_maxdist": evals[:, -1] - first[:, -1],
    }
    fit = fit_mp(rand_evals.flatten(1), N, M)
    out.update({
        "rand_num_spikes": fit["num_spikes"],
        "num_traps": fit["num_spikes"],
        "rand_sigma_mp": fit["sigma_mp"],
        "rand_mp_softrank": fit["mp_softrank"],
        "rand_W_scale": fit["W_scale"],
        "rand_bulk_max": fit["bulk_max"],
        "rand_bulk_min": fit["bulk_min"],
    })
    nonfinite = ~torch.isfinite(evals).all(dim=1)
    if bool(nonfinite.any()):
        for k in ("max_rand_eval", "rand_distance", "ww_softrank", "ww_maxdist"):
            out[k] = torch.where(nonfinite, torch.full_like(out[k], math.nan), out[k])
    return out
