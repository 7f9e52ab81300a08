"""MLP ensembles vs bare batched matmuls on the same shapes: how close the engine's step comes to the GEMM limit.

    python scripts/bench_mlp_gemm.py                        # GPU: E in 64, 256; width 512, depth 3, 2048 rows
    python scripts/bench_mlp_gemm.py --device cpu --members 2 --width 32 --rows 64 --steps 3   # a smoke run

For each E: member-steps/s of the engine's training step (Omnigrok-style dense MLP, full batch, AdamW), the matmul
FLOPs of that step (forward, input gradients except the first layer's, weight gradients: 2 E B in out each), and
the same GEMMs run bare with torch.bmm; prints the engine's achieved FLOP/s as a share of the bare GEMMs'.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from toymodels.engines import ClassificationEngine
from toymodels.losses import build_head
from toymodels.models.mlp import EnsembleMLP
from toymodels.optim import EnsembleAdamW
from toymodels.tasks.data import EnsembleData, TaskTable
from toymodels.tasks.splits import MemberSplit


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def timed(f, steps: int, device) -> float:
    for _ in range(3):
        f()
    sync(device)
    t = time.perf_counter()
    for _ in range(steps):
        f()
    sync(device)
    return (time.perf_counter() - t) / steps


def build(E: int, rows: int, d_in: int, width: int, depth: int, n_out: int, device) -> ClassificationEngine:
    """A dense-input MLP ensemble on ``rows`` random rows, every member training on all of them."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(rows, d_in, generator=g)
    labels = torch.randint(0, n_out, (E, rows), generator=g)
    idx = torch.arange(rows).expand(E, rows).clone()
    split = MemberSplit(torch.ones(E, rows, dtype=torch.bool), torch.ones(E, rows, dtype=torch.bool), idx,
                        torch.ones(E, rows, dtype=torch.bool), torch.full((E,), rows))
    data = EnsembleData(TaskTable(x, labels[0], n_out, "dense"), split, labels).to(device)
    model = EnsembleMLP(E, d_in, n_out, width, depth).reset_parameters(list(range(E))).to(device)
    opt = EnsembleAdamW(model.parameters(), E, lr=1e-3, weight_decay=0.1)
    return ClassificationEngine(data, model, build_head("cross_entropy", n_out).to(device), opt)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--members", default="64,256")
    p.add_argument("--rows", type=int, default=2048)
    p.add_argument("--d-in", type=int, default=784)
    p.add_argument("--width", type=int, default=512)
    p.add_argument("--depth", type=int, default=3)
    p.add_argument("--n-out", type=int, default=10)
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--json", default=None)
    args = p.parse_args()
    device = torch.device(args.device)
    torch.backends.cuda.matmul.allow_tf32 = False  # float32 both sides
    sizes = [args.d_in] + [args.width] * (args.depth - 1) + [args.n_out]
    out = []
    for E in [int(e) for e in args.members.split(",")]:
        engine = build(E, args.rows, args.d_in, args.width, args.depth, args.n_out, device)
        step = [0]

        def train():
            engine.train_step(step[0])
            step[0] += 1

        t_engine = timed(train, args.steps, device)
        B = args.rows
        gemms = []  # (a, b) operands of every matmul of one step
        for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            x, w, gy = (torch.randn(E, B, n_in, device=device), torch.randn(E, n_in, n_out, device=device),
                        torch.randn(E, B, n_out, device=device))
            gemms += [(x, w), (x.mT, gy)] + ([(gy, w.mT)] if i else [])  # forward, weight grad, input grad
        flops = sum(2 * a.shape[0] * a.shape[1] * a.shape[2] * b.shape[2] for a, b in gemms)
        t_gemm = timed(lambda: [torch.bmm(a, b) for a, b in gemms], args.steps, device)
        row = {"E": E, "engine_member_steps_per_s": E / t_engine, "engine_tflops": flops / t_engine / 1e12,
               "bmm_tflops": flops / t_gemm / 1e12, "share_of_bmm": t_gemm / t_engine}
        out.append(row)
        print(f"E={E}: engine {row['engine_member_steps_per_s']:.0f} member-steps/s, {row['engine_tflops']:.2f} "
              f"TFLOP/s; bare bmm {row['bmm_tflops']:.2f} TFLOP/s -> engine at {100 * row['share_of_bmm']:.0f}% "
              f"of the batched-matmul throughput")
    if args.json:
        Path(args.json).write_text(json.dumps({"device": str(device), "sizes": sizes, "rows": args.rows,
                                               "results": out}, indent=1))


if __name__ == "__main__":
    main()
