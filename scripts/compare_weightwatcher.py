"""Agreement report: toylab's spectral metrics vs WeightWatcher 0.7.7 on the same matrices.

    python scripts/compare_weightwatcher.py [--seeds 0 1 2] [--large] [--method eigh|svd] [--draws 8]
                                            [--no-mp] [--csv FILE]

For each seed, the matrix zoo of ``toymodels.metrics.spectra.reference.matrix_zoo`` (``--large`` adds
1024x512, 768x768 and 1000x400 matrices) plus two Conv2d kernels goes through WeightWatcher's analyze()
(svd_method="accurate", pl_package="ww", mp_fit, randomize and detX on) and through ``analyze``. Reported:

- deterministic metrics (alpha, xmin, D, sigma, num_pl_spikes, detX, MP fit, norms): the largest differences and
  the matrices where a count or the chosen xmin differs;
- rand_distance and num_traps, which depend on the (unseeded) shuffle: the percentile of WeightWatcher's value
  among ``--draws`` seeded toylab shuffles of the same matrix (uniform on [0, 1] if both draw from the same
  distribution; rand_distance is heavy-tailed for heavy-tailed entries, so a z-score would mislead).
"""
from __future__ import annotations

import argparse
import csv
import math
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from toymodels.metrics.spectra import analyze, conv2d_slices  # noqa: E402
from toymodels.metrics.spectra.reference import heavy_tailed, matrix_zoo, weightwatcher_details  # noqa: E402

EXACT_COUNTS = ("num_pl_spikes", "detX_num", "matrix_rank", "rank_loss", "weak_rank_loss", "num_evals")
MP_COUNTS = ("num_spikes",)
CLOSE = ("alpha", "xmin", "xmax", "D", "sigma", "detX_val", "log_norm", "log_spectral_norm", "alpha_weighted",
         "log_alpha_norm", "stable_rank", "entropy", "lambda_max", "sv_min")
MP_CLOSE = ("sigma_mp", "mp_softrank", "bulk_max", "bulk_min")


def _percentile(draws: np.ndarray, value: float) -> float:
    """Mid-rank percentile of ``value`` among ``draws`` (ties count half)."""
    return float(((draws < value).sum() + 0.5 * (draws == value).sum()) / len(draws))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--large", action="store_true")
    p.add_argument("--method", choices=("eigh", "svd"), default="eigh")
    p.add_argument("--draws", type=int, default=32, help="toylab shuffles per matrix for the random metrics")
    p.add_argument("--no-mp", action="store_true", help="skip the MP fit and randomised metrics (fast)")
    p.add_argument("--csv", help="write one row per matrix and metric to this file")
    args = p.parse_args()
    full = not args.no_mp

    records, worst, mismatches, zs, trap_z = [], {}, [], [], []
    t_ww = t_ours = 0.0
    n_mats = 0
    for seed in args.seeds:
        zoo = matrix_zoo(seed, large=args.large)
        conv = [(f"conv_32x16x3x3_s{seed}", heavy_tailed(288, 16, 3.0, 91 + seed).reshape(32, 16, 3, 3)),
                (f"conv_64x32x3x3_s{seed}", heavy_tailed(576, 32, 2.5, 93 + seed).reshape(64, 32, 3, 3))]
        names = [f"{n}_s{seed}" for n, _ in zoo] + [n for n, _ in conv]
        t = time.perf_counter()
        d = weightwatcher_details([w for _, w in zoo] + [w for _, w in conv], mp_fit=full, randomize=full,
                                  detX=True, conv2d=[False] * len(zoo) + [True] * len(conv), np_seed=seed)
        t_ww += time.perf_counter() - t
        mats = {f"{n}_s{seed}": torch.from_numpy(w) for n, w in zoo}
        mats.update({n: conv2d_slices(torch.from_numpy(w)) for n, w in conv})
        t = time.perf_counter()
        ours = analyze(mats, method=args.method, mp_fit=full, randomize=False, min_evals=1)
        t_ours += time.perf_counter() - t
        if full:  # --draws shuffles of each matrix: a stack of copies with different seeds
            copies = {k: (v.expand(args.draws, *v.shape[1:]) if v.dim() == 4 else v[None].expand(args.draws, *v.shape))
                      .contiguous() for k, v in mats.items()}
            draws = analyze(copies,
                            method=args.method, fit=False, mp_fit=False, detX=False,
                            seed=list(range(args.draws)), min_evals=1)
        for i, name in enumerate(names):
            n_mats += 1
            w, r = d.iloc[i], {k: v[0].item() for k, v in ours[name].items()}
            for k in CLOSE + (MP_CLOSE if full else ()):
                rel = abs(r[k] - w[k]) / max(abs(w[k]), 1e-300)
                worst[k] = max(worst.get(k, (0.0, "")), (rel, name))
                records.append({"matrix": name, "metric": k, "toylab": r[k], "weightwatcher": w[k], "rel_diff": rel})
            for k in EXACT_COUNTS + (MP_COUNTS if full else ()):
                records.append({"matrix": name, "metric": k, "toylab": r[k], "weightwatcher": w[k],
                                "rel_diff": float(r[k] != w[k])})
                if r[k] != w[k]:
                    mismatches.append(f"{name}: {k} toylab {r[k]} weightwatcher {w[k]}")
            if full:
                rd = draws[name]["rand_distance"].numpy()
                zs.append((_percentile(rd, w["rand_distance"]), name))
                trap_z.append(_percentile(draws[name]["num_traps"].double().numpy(), w["num_traps"]))

    print(f"{n_mats} matrices (seeds {args.seeds}{', large' if args.large else ''}), method={args.method}; "
          f"WeightWatcher {t_ww:.1f} s, toylab {t_ours:.2f} s (deterministic metrics)")
    print("\nlargest relative difference per metric (matrix):")
    for k, (rel, name) in worst.items():
        print(f"  {k:<18} {rel:9.2e}  {name}")
    print(f"\ncounts compared exactly: {', '.join(EXACT_COUNTS + (MP_COUNTS if full else ()))}; "
          f"mismatches: {len(mismatches)}")
    for m in mismatches:
        print("  " + m)
    alphas = [rec for rec in records if rec["metric"] == "alpha"]
    da = max(abs(rec["toylab"] - rec["weightwatcher"]) for rec in alphas)
    same_xmin = sum(rec["rel_diff"] < 1e-9 for rec in records if rec["metric"] == "xmin")
    print(f"\nmax |alpha difference| = {da:.2e}; same xmin (to 1e-9) in {same_xmin}/{len(alphas)} matrices")
    if full:
        for label, q in (("rand_distance", np.array([v for v, _ in zs])), ("num_traps", np.array(trap_z))):
            inside = ((q >= 0.025) & (q <= 0.975)).sum()
            print(f"{label}: percentile of WeightWatcher's shuffle among {args.draws} toylab shuffles: mean "
                  f"{q.mean():.2f} (0.5 expected), within the central 95% in {inside}/{len(q)} matrices")
    if args.csv:
        with open(args.csv, "w", newline="") as f:
            wr = csv.DictWriter(f, fieldnames=list(records[0]))
            wr.writeheader()
            wr.writerows(records)
        print(f"wrote {args.csv}")
    bad = len(mismatches) > 0 or da >= 0.01
    return 1 if bad and not math.isnan(da) else 0


if __name__ == "__main__":
    sys.exit(main())
