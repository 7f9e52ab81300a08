"""Ensemble throughput vs a plain sequential PyTorch loop, measured side by side in one run on one device.

    python scripts/bench_grokking.py                      # CPU-sized defaults (small transformer)
    python scripts/bench_grokking.py --preset nanda       # Nanda's p=113 transformer (for a GPU)
    python scripts/bench_grokking.py --model mlp --members 1,16,64

Prints, for each ensemble size E, member-steps per second of the ensemble engine (full batch, AdamW, no host sync
in the step) and its ratio to the plain loop (one nn.Module trained by torch.optim.AdamW, one member after
another), then the step time of the same engine at E = 1 driven by Lightning vs by a plain loop.
"""
from __future__ import annotations

import argparse
import time

import lightning as L
import torch

from trainers.build import build_engine
from trainers.config import RunConfig
from trainers.device import configure_precision
from trainers.families.classification import standalone
from trainers.members import expand, with_settings
from trainers.module import EnsembleModule

PRESETS = {
    "cpu": {"task.p": 23, "model.d_model": 32, "model.n_heads": 2, "model.d_head": 16, "model.d_mlp": 128},
    "nanda": {"task.p": 113, "model.d_model": 128, "model.n_heads": 4, "model.d_head": 32, "model.d_mlp": 512},
}


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def config(args, E: int) -> tuple[RunConfig, object]:
    over = {**PRESETS[args.preset], "model.name": args.model, "task.train_fraction": 0.3,
            "optimizer.weight_decay": 1.0, "optimizer.betas": [0.9, 0.98], "train.device": args.device,
            "train.max_steps": args.steps, "wandb.mode": "disabled", "train.progress": "none"}
    if args.model == "mlp":
        over.update({"model.width": args.width, "model.depth": 3})
    cfg = with_settings(RunConfig(), over)
    cfg.seeds = list(range(E))
    return cfg, expand(cfg)


def plain_loop(args, device) -> float:
    """Steps per second of one plain nn.Module trained by torch.optim.AdamW (the baseline a researcher writes)."""
    cfg, members = config(args, 1)
    engine = build_engine(cfg, members, device)

    net = standalone(cfg, engine.model, 0).to(device)
    rows = engine.data.split.train_idx[0]
    x, y = engine.data.table.x[rows], engine.data.labels[0, rows]
    if args.model == "transformer":
        x = torch.cat([x, torch.full((len(x), 1), engine.data.table.n_symbols, device=device)], 1)
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=1.0, betas=(0.9, 0.98))

    def step():
        out = net(x)
        out = out[:, -1] if args.model == "transformer" else out
        loss = torch.nn.functional.cross_entropy(out, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(args.warmup):
        step()
    sync(device)
    t = time.perf_counter()
    for _ in range(args.steps):
        step()
    sync(device)
    return args.steps / (time.perf_counter() - t)


def engine_rate(args, device, E: int) -> float:
    cfg, members = config(args, E)
    engine = build_engine(cfg, members, device)
    for s in range(args.warmup):
        engine.train_step(s)
    sync(device)
    t = time.perf_counter()
    for s in range(args.steps):
        engine.train_step(args.warmup + s)
    sync(device)
    return args.steps / (time.perf_counter() - t)


class _Timer(L.Callback):
    def __init__(self, warmup):
        self.warmup, self.t0, self.t1, self.n = warmup, None, None, 0

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if trainer.global_step == self.warmup:
            sync(pl_module.device)
            self.t0 = time.perf_counter()
        elif trainer.global_step > self.warmup:
            self.n += 1

    def on_train_end(self, trainer, pl_module):
        sync(pl_module.device)
        self.t1 = time.perf_counter()


def lightning_rate(args, device) -> float:
    cfg, members = config(args, 1)
    engine = build_engine(cfg, members, device)
    module = EnsembleModule(engine, [0, args.warmup + args.steps], [0.9])
    timer = _Timer(args.warmup)
    trainer = L.Trainer(accelerator="gpu" if device.type == "cuda" else "cpu", devices=1,
                        max_steps=args.warmup + args.steps, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, callbacks=[timer])
    trainer.fit(module)
    return timer.n / (timer.t1 - timer.t0)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", choices=list(PRESETS), default=None)
    p.add_argument("--model", choices=["transformer", "mlp"], default="transformer")
    p.add_argument("--width", type=int, default=200)
    p.add_argument("--device", default="auto")
    p.add_argument("--members", default=None, help="comma-separated E values (default 1,16,64,256; CPU 1,4,16)")
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--warmup", type=int, default=5)
    args = p.parse_args()
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else
                          ("cpu" if args.device == "auto" else args.device))
    args.device = device.type
    cpu = device.type == "cpu"
    args.preset = args.preset or ("cpu" if cpu else "nanda")
    args.steps = args.steps or (30 if cpu else 200)
    Es = [int(e) for e in (args.members or ("1,4,16" if cpu else "1,16,64,256")).split(",")]
    cfg, _ = config(args, 1)
    configure_precision(cfg, device)
    name = torch.cuda.get_device_name() if not cpu else f"CPU ({torch.get_num_threads()} threads)"
    print(f"device: {name}; model: {args.model} ({args.preset}); TF32: {torch.backends.cuda.matmul.allow_tf32}; "
          f"{args.steps} timed steps after {args.warmup} warm-up steps")
    base = plain_loop(args, device)
    print(f"{'':>28} {'member-steps/s':>15} {'vs plain loop':>14}")
    print(f"{'plain PyTorch loop (1 model)':>28} {base:15.1f} {1.0:13.2f}x")
    for E in Es:
        r = engine_rate(args, device, E) * E
        print(f"{'ensemble E=' + str(E):>28} {r:15.1f} {r / base:13.2f}x")
    plain1 = engine_rate(args, device, 1)
    light1 = lightning_rate(args, device)
    print(f"E=1 step time: plain loop {1e3 / plain1:.3f} ms, Lightning {1e3 / light1:.3f} ms "
          f"(Lightning / plain = {plain1 / light1:.2f}x)")


if __name__ == "__main__":
    main()
