"""Benchmark: toylab's batched spectral metrics vs WeightWatcher 0.7.7, side by side on the same matrices.

    python scripts/bench_spectra.py [--threads 2] [--members 16] [--quick] [--esd-only]

Workloads (float32 Student-t matrices, heavy-tailed):
- per matrix size: one N x M layer, timed alone (no batching advantage for toylab);
- a 20-layer model with layers 512x256, 1024x512, 768x1024, 256x768 (five of each, as repeated blocks);
- a stack of E members of one 512 x 256 layer (WeightWatcher sees E layers).
Two metric sets: "fit" (ESD + power-law fit + norms: WeightWatcher's analyze() defaults) and "full" (fit + MP
fit + randomised ESD + detX). WeightWatcher runs on the CPU with svd_method="accurate", pl_package="ww"; toylab
on the CPU, and also on CUDA when it is visible (timed with synchronisation). Times are the best of --repeat
runs for toylab and of one run for WeightWatcher (its runs take seconds). ``--esd-only`` times the float64
eigensolvers alone (eigvalsh of W^T W, svdvals, scipy's svd) and their eigenvalue deviations from scipy's.

Thread counts are fixed before numpy / torch load (--threads sets OMP / MKL / OpenBLAS threads and torch's), and
the load average is printed: other processes on a 2-core machine change the absolute times a lot.
"""
from __future__ import annotations

import argparse
import os
import sys


def _args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--members", type=int, default=16, help="E for the member-stack workload")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--quick", action="store_true", help="smaller workloads (a smoke run)")
    p.add_argument("--esd-only", action="store_true", help="only compare the eigensolvers")
    p.add_argument("--method", choices=("eigh", "svd"), default="eigh")
    return p.parse_args()


ARGS = _args()
for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[var] = str(ARGS.threads)

import contextlib  # noqa: E402
import io  # noqa: E402
import logging  # noqa: E402
import math  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from toymodels.metrics.spectra import analyze  # noqa: E402
from toymodels.metrics.spectra.reference import heavy_tailed  # noqa: E402

torch.set_num_threads(ARGS.threads)
FIT = dict(mp_fit=False, randomize=False, detX=False)
FULL = dict(mp_fit=True, randomize=True, detX=True)


def _sync(dev):
    if dev.type == "cuda":
        torch.cuda.synchronize()


def time_toylab(mats: dict, opts: dict, dev: torch.device) -> float:
    mats = {k: v.to(dev) for k, v in mats.items()}
    best = float("inf")
    for _ in range(ARGS.repeat + 1):  # the first run warms up (and is discarded)
        _sync(dev)
        t = time.perf_counter()
        analyze(mats, method=ARGS.method, **opts)
        _sync(dev)
        best = min(best, time.perf_counter() - t)
    return best


def time_ww(mats: list[np.ndarray], opts: dict) -> float:
    import weightwatcher as ww

    from toymodels.metrics.spectra.reference import _cpu_precision_weightwatcher

    _cpu_precision_weightwatcher()  # with CUDA visible WW would read float16 weights
    logging.getLogger("weightwatcher").setLevel(logging.ERROR)
    model = torch.nn.Sequential(*[torch.nn.Linear(W.shape[1], W.shape[0], bias=False) for W in mats])
    with torch.no_grad():
        for layer, W in zip(model, mats):
            layer.weight.copy_(torch.from_numpy(W))
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        watcher = ww.WeightWatcher(model=model)
        t = time.perf_counter()
        watcher.analyze(svd_method="accurate", pl_package="ww", plot=False, **opts)
        return time.perf_counter() - t


def esd_only(sizes):
    import scipy.linalg as sl

    from toymodels.metrics.spectra import eigenvalues

    print(f"{'size':>11} {'eigh ms':>8} {'svd ms':>8} {'scipy ms':>8}  {'eigh vs scipy':>13} {'svd vs scipy':>12}"
          f"  {'eigh lam_min':>12} {'svd lam_min':>11}")
    print(f"{'':>41}(max |d lambda| / lambda_max)  (relative error of the smallest)")
    for N, M in sizes:
        W = torch.from_numpy(heavy_tailed(N, M, 2.5, N + M)).double()
        Wt = W.T if N < M else W
        ref = np.sort(sl.svd(W.numpy(), compute_uv=False) ** 2)
        out = {}
        for name, fn in (("eigh", lambda: eigenvalues(Wt, "eigh")), ("svd", lambda: eigenvalues(Wt, "svd")),
                         ("scipy", lambda: sl.svd(W.numpy(), compute_uv=False))):
            fn()
            ts = []
            for _ in range(ARGS.repeat):
                t = time.perf_counter()
                r = fn()
                ts.append(time.perf_counter() - t)
            out[name] = (min(ts) * 1e3, r)
        dev = {k: float(np.abs(np.asarray(out[k][1]) - ref).max() / ref[-1]) for k in ("eigh", "svd")}
        low = {k: float(abs(np.asarray(out[k][1])[0] - ref[0]) / ref[0]) for k in ("eigh", "svd")}
        print(f"{N:>5}x{M:<5} {out['eigh'][0]:8.1f} {out['svd'][0]:8.1f} {out['scipy'][0]:8.1f}  "
              f"{dev['eigh']:13.1e} {dev['svd']:12.1e}  {low['eigh']:12.1e} {low['svd']:11.1e}")


def main():
    print(f"threads={ARGS.threads} load average={os.getloadavg()} torch={torch.__version__} "
          f"cuda={torch.cuda.is_available()} method={ARGS.method}")
    sizes = [(256, 128), (512, 256), (1024, 512), (768, 1024), (1024, 1024)]
    if ARGS.quick:
        sizes = [(256, 128), (512, 256)]
    if ARGS.esd_only:
        esd_only(sizes)
        return
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    time_ww([heavy_tailed(64, 32, 3.0, 0)], FULL)  # WeightWatcher's first call pays one-off costs: not timed
    cols = "  ".join(f"{'toylab ' + d.type:>12} {'x':>6}" for d in devices)
    print(f"\n{'workload':<26} {'set':<5} {'WW cpu s':>9}  {cols}")

    def row(label, ww_mats, ours, opts, tag):
        t_ww = time_ww(ww_mats, opts)
        parts = []
        for dev in devices:
            t = time_toylab(ours, opts, dev)
            parts.append(f"{t:12.3f} {t_ww / t:6.1f}")
        print(f"{label:<26} {tag:<5} {t_ww:9.3f}  {'  '.join(parts)}", flush=True)

    for N, M in sizes:
        W = heavy_tailed(N, M, 2.5, N * 7 + M)
        for opts, tag in ((FIT, "fit"), (FULL, "full")):
            row(f"one layer {N}x{M}", [W], {"w": torch.from_numpy(W)}, opts, tag)

    shapes = [(512, 256), (1024, 512), (768, 1024), (256, 768)]
    if ARGS.quick:
        shapes = [(256, 128), (128, 256)]
    layers = [heavy_tailed(*shapes[i % len(shapes)], 2.0 + 0.2 * (i % 7), 100 + i) for i in range(20)]
    ours = {f"layer{i}": torch.from_numpy(W) for i, W in enumerate(layers)}
    for opts, tag in ((FIT, "fit"), (FULL, "full")):
        row("20-layer model", layers, ours, opts, tag)

    E = ARGS.members if not ARGS.quick else 4
    N, M = (512, 256) if not ARGS.quick else (256, 128)
    members = [heavy_tailed(N, M, 2.5, 1000 + e) for e in range(E)]
    stack = {"w": torch.from_numpy(np.stack(members))}
    for opts, tag in ((FIT, "fit"), (FULL, "full")):
        row(f"{E} members {N}x{M}", members, stack, opts, tag)
    print("\nx = WeightWatcher time / toylab time (higher is better)")

    # what a training callback pays: Nanda et al.'s transformer (d_model 128, 4 heads of 32, d_mlp 512, p = 113)
    # as an E-member ensemble, heads merged into 128 x 128 projections, fit + detX + norms only
    E = ARGS.members
    g = torch.Generator().manual_seed(0)
    shapes = {"W_E": (114, 128), "W_Q": (128, 128), "W_K": (128, 128), "W_V": (128, 128), "W_O": (128, 128),
              "W_in": (128, 512), "W_out": (512, 128), "W_U": (128, 114)}
    model = {k: torch.randn(E, *v, generator=g) / math.sqrt(v[0]) for k, v in shapes.items()}
    for dev in devices:
        t = time_toylab(model, dict(mp_fit=False, randomize=False, detX=True), dev)
        t_full = time_toylab(model, FULL, dev)
        print(f"callback cost, Nanda transformer x {E} members ({len(shapes)} matrices each) on {dev.type}: "
              f"fit+detX {t:.3f} s, full set {t_full:.3f} s")


if __name__ == "__main__":
    main()
