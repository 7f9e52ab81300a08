"""The ensemble's AdamW update on the CPU, side by side in one run, one thread: torch's fused kernel called once per
member (``toymodels.optim.fused_cpu``, what an eager CPU step takes), the batched update over all members
(``EnsembleAdamW._update``: what compiled and CUDA steps take), and a plain loop of ``torch.optim.AdamW`` over E
separate members (the default single-tensor implementation, as a researcher's E scripts run it).

    python scripts/bench_optimizer.py                 # the shapes below, 7 interleaved blocks each, medians
    python scripts/bench_optimizer.py --blocks 3

Shapes: the main job's MLP (E = 20), the attention and MLP parameter group of bench_grokking's cpu preset of the
transformer (E = 16; its embedding and unembedding groups are under the threshold), and small
members where E calls cost more than they save (the crossover behind ``fused_cpu.MIN_MEMBER_ELEMENTS``).
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from toymodels.optim import EnsembleAdamW, fused_cpu
from trainers.allocator import keep_freed_memory

CASES = {  # name: (E, per-member parameter shapes)
    "main job MLP": (20, [(62, 256), (256, 31)]),
    "transformer cpu preset": (16, [(2, 32, 16)] * 3 + [(2, 16, 32), (32, 128), (128,), (128, 32), (32,)]),
    "64 members x 3 x 32x32": (64, [(32, 32)] * 3),
    "256 members x 64x64": (256, [(64, 64)]),
    "1024 members x 4x4": (1024, [(4, 4)]),
}


def _ms(f, reps: int) -> float:
    t = time.perf_counter()
    for _ in range(reps):
        f()
    return (time.perf_counter() - t) / reps * 1e3


def case(E: int, shapes: list[tuple[int, ...]], blocks: int, reps: int) -> dict[str, float]:
    """Median ms per update of the three, the fused calls forced whatever the members' size."""
    g = torch.Generator().manual_seed(0)
    params = [torch.randn(E, *s, generator=g, requires_grad=True) for s in shapes]
    for p in params:
        p.grad = torch.randn(p.shape, generator=g)
    fused = EnsembleAdamW(params, E, lr=1e-3, weight_decay=torch.linspace(0, 1, E))
    batched = EnsembleAdamW(params, E, lr=1e-3, weight_decay=torch.linspace(0, 1, E))
    batched.fused = False
    members = [[p[e].detach().clone().requires_grad_() for p in params] for e in range(E)]
    for m in members:
        for q, p in zip(m, params):
            q.grad = p.grad[0].clone()
    plain = [torch.optim.AdamW(m, lr=1e-3, weight_decay=0.1) for m in members]
    runs = {"fused per member": fused.step, "batched": batched.step,
            "torch.optim.AdamW x E": lambda: [o.step() for o in plain]}
    times: dict[str, list[float]] = {k: [] for k in runs}
    for f in runs.values():
        f()  # state created
    for _ in range(blocks):
        for k, f in runs.items():
            times[k].append(_ms(f, reps))
    return {k: statistics.median(v) for k, v in times.items()}


def picks(E: int, shapes: list[tuple[int, ...]]) -> str:
    """Which update an eager CPU step takes for these parameters."""
    params = [torch.zeros(E, *s, requires_grad=True) for s in shapes]
    for p in params:
        p.grad = torch.zeros_like(p)
    return "fused" if fused_cpu.usable(params) else "batched"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--blocks", type=int, default=7)
    ap.add_argument("--reps", type=int, default=20, help="updates per block")
    args = ap.parse_args()
    torch.set_num_threads(1)
    keep_freed_memory()  # as a CPU fit does
    threshold = fused_cpu.MIN_MEMBER_ELEMENTS  # the fused calls are timed below whatever the members' size
    print(f"AdamW update, ms per step (median of {args.blocks} interleaved blocks of {args.reps}); torch "
          f"{torch.__version__}, 1 thread")
    print(f"{'case':>24} {'elements/member':>16} {'fused':>8} {'batched':>8} {'plain xE':>9}  batched/fused  "
          f"plain/fused  a step takes (threshold {threshold})")
    for name, (E, shapes) in CASES.items():
        fused_cpu.MIN_MEMBER_ELEMENTS = threshold
        takes = picks(E, shapes)
        fused_cpu.MIN_MEMBER_ELEMENTS = 0
        r = case(E, shapes, args.blocks, args.reps)
        n = sum(torch.Size(s).numel() for s in shapes)
        f, b, p = r["fused per member"], r["batched"], r["torch.optim.AdamW x E"]
        print(f"{name:>24} {n:>16} {f:8.3f} {b:8.3f} {p:9.3f}  {b / f:13.2f}  {p / f:11.2f}  {takes}")


if __name__ == "__main__":
    main()
