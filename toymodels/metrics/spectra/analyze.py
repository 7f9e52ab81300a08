"""``analyze``: every spectral metric for every layer and member, one batched pass per matrix shape.

Input: ``{layer name: matrices}`` where matrices is

- a tensor [N, M] (one member), [E, N, M] (E members) or [E, S, N, M] (E members, each S slices pooled into
  one ESD, e.g. ``conv2d_slices`` of a Conv2d kernel), or
- a list of such tensors: the layer's members in order, for members whose matrices differ in shape (e.g.
  different widths with the padding stripped).

Matrices of the same (S, N, M) -- across layers and members -- are concatenated and analysed in one batched
call per shape; results are scattered back. Output: ``{layer name: {metric: Tensor[E]}}`` on the input's
device (float64 values, int64 counts, bool flags), with WeightWatcher's column names; see ``COLUMNS``.

Cost, largest first: the eigendecompositions (one of W^T W, plus R of shuffled copies with ``randomize``),
the O(K^2) power-law scan, the two MP fits (fixed work per member), detX and norms (O(K)). For a training
callback every k steps, ``analyze(..., mp_fit=False, randomize=False)`` keeps the first two: for Nanda et al.'s
transformer as a 16-member ensemble (8 matrices per member, heads merged) that took 0.12 s with 2 threads and
0.14 s with 1 thread on the 2-core CPU, against 0.79 s and 1.16 s for the full set
(``scripts/bench_spectra.py --threads 2`` / ``--threads 1``, last line).

Per-member problems never spread to the other members: a member with non-finite weights gets NaN values and -1
counts; a member whose ESD has fewer than ``min_evals`` or more than ``max_evals`` eigenvalues (or N > max_N)
gets the same (WeightWatcher leaves such layers out; a layer where every member is out of range is left out).
"""
from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch

from toymodels.errors import ConfigError

from .detx import detx_metrics
from .esd import as_stack, check_options, eigenvalues
from .mp_fit import fit_mp
from .norms import esd_stats, norm_metrics
from .powerlaw_fit import EVALS_THRESH, fit_power_law
from .randomized import randomized_esd, randomized_metrics

#: Output columns, in the order ``to_rows`` writes them (those of disabled stages are absent).
COLUMNS = (
    "N", "M", "Q", "rf", "num_evals",
    "alpha", "xmin", "xmax", "D", "sigma", "num_pl_spikes", "num_fit_evals", "fit_small_n", "fit_ok",
    "alpha_weighted", "log_norm", "log_spectral_norm", "log_alpha_norm", "stable_rank", "norm", "spectral_norm",
    "lambda_max", "sv_max", "sv_min", "matrix_rank", "rank_loss", "weak_rank_loss", "entropy",
    "num_spikes", "sigma_mp", "mp_softrank", "bulk_min", "bulk_max", "W_scale",
    "rand_distance", "max_rand_eval", "ww_softrank", "ww_maxdist", "num_traps", "rand_num_spikes",
    "rand_sigma_mp", "rand_mp_softrank", "rand_W_scale", "rand_bulk_max", "rand_bulk_min",
    "detX_num", "num_ERG_spikes", "detX_val", "detX_val_unrescaled", "ERG_gap", "detX_delta",
)
SHUFFLE_STREAM = "spectra-shuffle"
WEAK_RANK_TOLERANCE = 1e-6  # WeightWatcher's weak_rank_loss tolerance (eigenvalues, WeightWatcher's scale)


@dataclass
class _Part:
    layer: str
    offset: int  # position of this part's first member within the layer
    W: torch.Tensor  # [E_i, S, N, M], N >= M


def _seeds_for(seed, n: int, layer: str) -> list[int]:
    if isinstance(seed, torch.Tensor):
        seed = seed.reshape(-1).tolist()
    if isinstance(seed, numbers.Integral) and not isinstance(seed, bool):
        return [int(seed)] * n
    if isinstance(seed, Sequence):
        if len(seed) != n:
            raise ConfigError("seed", f"layer {layer!r} has {n} members but {len(seed)} seeds were given")
        return [int(s) for s in seed]
    raise ConfigError("seed", f"expected an int or one int per member, got {type(seed).__name__}")


@torch.no_grad()
def analyze(matrices: Mapping[str, torch.Tensor | Sequence[torch.Tensor]], *, normalize: str = "ww",
            fit: bool = True, mp_fit: bool = True, randomize: bool = True, detX: bool = True,
            seed: int | Sequence[int] | torch.Tensor = 0, method: str = "eigh", min_evals: int = 8,
            max_evals: int = 15000, max_N: int = 50000) -> dict[str, dict[str, torch.Tensor]]:
    """Spectral metrics of every layer and member. See the module docstring for inputs and outputs.

    normalize: "ww" (X = W^T W, WeightWatcher) or "setol" (X = W^T W / N). Which eigenvalues count as zero
        (1e-5 for the fit, 1e-6 for weak_rank_loss) is decided on WeightWatcher's scale in both, so alpha, D and
        every count are the same; eigenvalue-valued columns (xmin, norms, bulk edges, detX_val) scale by 1/N.
    seed: the shuffle seed of every member (int) or of each member (one per member, every layer); member e of
        layer L shuffles with ``toymodels.rng.generator(seed[e], "spectra-shuffle/L")``.
    method: "eigh" or "svd" (see ``esd.py``).
    """
    check_options(normalize, method)
    if not isinstance(matrices, Mapping):
        raise ConfigError("matrices", f"expected a mapping of layer name -> tensor, got {type(matrices).__name__}")
    parts: list[_Part] = []
    sizes: dict[str, int] = {}
    for name, value in matrices.items():
        items = list(value) if isinstance(value, (list, tuple)) else [value]
        if not items:
            raise ConfigError(f"matrices.{name}", "no matrices given")
        offset = 0
        for i, item in enumerate(items):
            key = f"matrices.{name}" + (f"[{i}]" if len(items) > 1 else "")
            W = as_stack(item, key)
            parts.append(_Part(str(name), offset, W))
            offset += W.shape[0]
        sizes[str(name)] = offset
    seeds = {name: _seeds_for(seed, n, name) for name, n in sizes.items()}

    groups: dict[tuple, list[_Part]] = {}
    for part in parts:
        S, N, M = part.W.shape[1:]
        groups.setdefault((S, N, M, part.W.device), []).append(part)

    results: dict[str, dict[str, list[tuple[int, torch.Tensor]]]] = {name: {} for name in sizes}
    in_range: dict[str, bool] = {name: False for name in sizes}
    for (S, N, M, _), members in groups.items():
        K = S * M
        ok_shape = min_evals <= K and (not max_evals or K <= max_evals) and N <= max_N
        W = torch.cat([p.W.to(torch.float64) for p in members]) if len(members) > 1 else members[0].W
        member_seeds, streams = [], []
        for p in members:
            member_seeds += seeds[p.layer][p.offset:p.offset + p.W.shape[0]]
            streams += [f"{SHUFFLE_STREAM}/{p.layer}"] * p.W.shape[0]
        if ok_shape:
            res = analyze_stack(W, normalize=normalize, fit=fit, mp_fit=mp_fit, randomize=randomize, detX=detX,
                                seeds=member_seeds, streams=streams, method=method)
        else:
            res = None
        start = 0
        for p in members:
            n = p.W.shape[0]
            in_range[p.layer] |= ok_shape
            if res is not None:
                for k, v in res.items():
                    results[p.layer].setdefault(k, []).append((p.offset, v[start:start + n]))
            else:
                results[p.layer].setdefault("__missing__", []).append((p.offset, torch.empty(n, device=W.device)))
                for k, v in (("N", N), ("M", M), ("Q", N / M), ("rf", S), ("num_evals", K)):
                    dtype = torch.float64 if k == "Q" else torch.int64
                    results[p.layer].setdefault(k, []).append(
                        (p.offset, torch.full((n,), v, dtype=dtype, device=W.device)))
            start += n

    out: dict[str, dict[str, torch.Tensor]] = {}
    for name in sizes:
        if not in_range[name]:
            continue
        out[name] = _assemble(results[name], sizes[name])
    return out


def _assemble(cols: dict[str, list[tuple[int, torch.Tensor]]], E: int) -> dict[str, torch.Tensor]:
    """Put each column's parts back in member order, filling parts that were not analysed with NaN / -1 / False."""
    missing = cols.pop("__missing__", [])
    out: dict[str, torch.Tensor] = {}
    names = [c for c in COLUMNS if c in cols] + [c for c in cols if c not in COLUMNS]
    for k in names:
        pieces = cols[k]
        ref = pieces[0][1]
        if missing and k not in ("N", "M", "Q", "rf", "num_evals"):
            fill = math.nan if ref.is_floating_point() else (False if ref.dtype == torch.bool else -1)
            for off, m in missing:
                pieces = pieces + [(off, torch.full((m.shape[0],), fill, dtype=ref.dtype, device=ref.device))]
        pieces = sorted(pieces, key=lambda t: t[0])
        out[k] = torch.cat([v for _, v in pieces]) if len(pieces) > 1 else pieces[0][1]
        assert out[k].shape[0] == E
    return out


def analyze_stack(W: torch.Tensor, *, normalize: str = "ww", fit: bool = True, mp_fit: bool = True,
                  randomize: bool = True, detX: bool = True, seeds: Sequence[int] | None = None,
                  streams: Sequence[str] | None = None, method: str = "eigh") -> dict[str, torch.Tensor]:
    """All metrics of one stack W: [E, S, N, M] (N >= M, see ``as_stack``) -> {column: Tensor[E]}."""
    check_options(normalize, method)
    W = as_stack(W)
    E, S, N, M = W.shape
    dev = W.device
    finite = torch.isfinite(W).flatten(1).all(dim=1)  # [E]
    all_finite = bool(finite.all())
    clean = W if all_finite else torch.where(finite[:, None, None, None], W, torch.zeros((), dtype=W.dtype,
                                                                                         device=dev))
    scale = 1.0 / N if normalize == "setol" else 1.0
    slice_ev = eigenvalues(clean, method) * scale  # [E, S, M]
    ev = slice_ev.flatten(1).sort(dim=1).values  # [E, K]

    def full(v, dtype=torch.int64):
        return torch.full((E,), v, dtype=dtype, device=dev)

    out: dict[str, torch.Tensor] = {"N": full(N), "M": full(M), "Q": full(N / M, torch.float64), "rf": full(S)}
    out.update(esd_stats(slice_ev, ev, N, method, WEAK_RANK_TOLERANCE * scale))
    if fit:
        out.update(fit_power_law(ev, EVALS_THRESH * scale))
    out.update(norm_metrics(ev, N, method, out.get("alpha")))
    if mp_fit:
        out.update(fit_mp(ev, N, M))
    if randomize:
        seeds = [0] * E if seeds is None else list(seeds)
        streams = [SHUFFLE_STREAM] * E if streams is None else list(streams)
        rand = randomized_esd(clean, seeds, streams, method, scale)
        out.update(randomized_metrics(ev, rand, N, M))
    if detX:
        out.update(detx_metrics(ev, out.get("num_pl_spikes"), out.get("xmin")))
    if not all_finite:
        for k, v in out.items():
            if k in ("N", "M", "Q", "rf", "num_evals"):
                continue
            fill = math.nan if v.is_floating_point() else (False if v.dtype == torch.bool else -1)
            out[k] = torch.where(finite, v, torch.full((), fill, dtype=v.dtype, device=dev))
    return out
