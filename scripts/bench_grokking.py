"""Ensemble throughput vs a plain sequential PyTorch loop, measured side by side in one run on one device.

    python scripts/bench_grokking.py                      # CPU-sized defaults (small transformer)
    python scripts/bench_grokking.py --preset nanda       # Nanda's p=113 transformer (for a GPU)
    python scripts/bench_grokking.py --model mlp --members 1,16,64

Prints, for each ensemble size E, member-steps per second of the ensemble engine (full batch, AdamW, no host sync
in the step) and steps per second of the plain loop (one nn.Module trained by torch.optim.AdamW: a member's run),
timed in interleaved blocks so that both see the same load, and the median over blocks of their ratio; then the
step time of the same engine at E = 1 driven by Lightning vs by a plain loop.
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import lightning as L
import torch

from trainers.allocator import keep_freed_memory
from trainers.build import build_engine
from trainers.config import RunConfig
from trainers.device import configure_precision
from trainers.families.classification import standalone
from trainers.members import expand, with_settings
from trainers.module import EnsembleModule

PRESETS = {  # the transformer's sizes; an MLP takes the preset's p and --width
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
        over = {k: v for k, v in over.items() if not k.startswith("model.") or k == "model.name"}
        over.update({"model.width": args.width, "model.depth": 3})
    cfg = with_settings(RunConfig(), over)
    cfg.seeds = list(range(E))
    return cfg, expand(cfg)


def plain_stepper(args, device):
    """One training step of one plain nn.Module trained by torch.optim.AdamW (the baseline a researcher writes)."""
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

    return step


def engine_stepper(args, device, E: int, mode: str = "eager"):
    """One training step of the engine at E members; ``mode``: eager, compiled, or cuda_graphs (compiled with
    torch.compile's "reduce-overhead", which captures CUDA graphs)."""
    cfg, members = config(args, E)
    engine = build_engine(cfg, members, device)
    if mode != "eager":
        engine.compile(mode="reduce-overhead" if mode == "cuda_graphs" else None)
    count = iter(range(10**9))
    return lambda: engine.train_step(next(count))


def side_by_side(engine_step, plain_step, E: int, args, device) -> dict:
    """Interleaved blocks of ``args.steps / args.blocks`` steps: the engine's, then the plain loop's, so both see the
    same machine load. Returns member-steps/s of the engine and steps/s of the plain loop (over all blocks) and the
    median over blocks of their ratio."""
    for _ in range(args.warmup):
        engine_step()
        plain_step()
    n = max(1, args.steps // args.blocks)
    t_eng = t_plain = 0.0
    ratios = []
    for _ in range(args.blocks):
        times = []
        for f in (engine_step, plain_step):
            sync(device)
            t = time.perf_counter()
            for _ in range(n):
                f()
            sync(device)
            times.append(time.perf_counter() - t)
        t_eng, t_plain = t_eng + times[0], t_plain + times[1]
        ratios.append(E * times[1] / times[0])
    steps = n * args.blocks
    return {"member_steps_per_s": E * steps / t_eng, "plain_steps_per_s": steps / t_plain,
            "vs_plain": statistics.median(ratios)}


class _Timer(L.Callback):
    """Wall time of every Lightning step (batch end to batch end) and, inside it, of the engine's own step: both
    measured in the same run, step by step, so the ratio of their medians is steady on a busy machine."""

    def __init__(self, engine, warmup):
        self.warmup, self.last, self.loop, self.inner = warmup, None, [], []
        inner_step = engine.train_step

        def timed(*a, **k):
            t = time.perf_counter()
            out = inner_step(*a, **k)
            sync(out.device)
            self.inner.append(time.perf_counter() - t)
            return out

        engine.train_step = timed

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        sync(pl_module.device)
        now = time.perf_counter()
        if trainer.global_step > self.warmup:
            self.loop.append(now - self.last)
        self.last = now


def lightning_times(args, device) -> tuple[float, float]:
    """Median step time (s) of the E = 1 engine driven by Lightning, and of the same engine steps themselves."""
    cfg, members = config(args, 1)
    engine = build_engine(cfg, members, device)
    module = EnsembleModule(engine, [0, args.warmup + args.steps], [0.9])
    timer = _Timer(engine, args.warmup)
    trainer = L.Trainer(accelerator="gpu" if device.type == "cuda" else "cpu", devices=1,
                        max_steps=args.warmup + args.steps, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, callbacks=[timer])
    trainer.fit(module)
    inner = timer.inner[args.warmup + 1:-1]  # the steps whose loop time was recorded (the last one evaluates)
    return statistics.median(timer.loop[:-1]), statistics.median(inner)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", choices=list(PRESETS), default=None)
    p.add_argument("--model", choices=["transformer", "mlp"], default="transformer")
    p.add_argument("--width", type=int, default=200)
    p.add_argument("--device", default="auto")
    p.add_argument("--members", default=None, help="comma-separated E values (default 1,16,64,256; CPU 1,4,16)")
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--blocks", type=int, default=5, help="interleaved blocks the timed steps are split into")
    p.add_argument("--modes", default="eager", help="comma-separated: eager, compiled, cuda_graphs (CUDA only)")
    p.add_argument("--threads", type=int, default=1, help="CPU threads (tiny models run best on one)")
    p.add_argument("--no-lightning", action="store_true", help="skip the E = 1 Lightning comparison")
    p.add_argument("--json", default=None, help="also write the results to this JSON file")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else
                          ("cpu" if args.device == "auto" else args.device))
    args.device = device.type
    cpu = device.type == "cpu"
    args.preset = args.preset or ("cpu" if cpu else "nanda")
    args.steps = args.steps or (30 if cpu else 200)
    Es = [int(e) for e in (args.members or ("1,4,16" if cpu else "1,16,64,256")).split(",")]
    cfg, _ = config(args, 1)
    configure_precision(cfg, device)
    if cpu:
        keep_freed_memory()  # as a CPU fit does (trainers.fitting.run_fit); the plain loop runs under it too
    name = torch.cuda.get_device_name() if not cpu else f"CPU ({torch.get_num_threads()} threads)"
    print(f"device: {name}; model: {args.model} ({args.preset}); TF32: {torch.backends.cuda.matmul.allow_tf32}; "
          f"{args.steps} timed steps after {args.warmup} warm-up steps")
    plain_step = plain_stepper(args, device)
    out = {"device": name, "model": args.model, "preset": args.preset, "steps": args.steps, "blocks": args.blocks,
           "ensemble": []}
    print(f"{'':>26} {'member-steps/s':>15} {'plain steps/s':>14} {'vs plain loop':>14}")
    for mode in args.modes.split(","):
        if mode == "cuda_graphs" and cpu:
            print(f"{'cuda_graphs':>26} skipped: no CUDA device")
            continue
        for E in Es:
            r = {"E": E, "mode": mode, **side_by_side(engine_stepper(args, device, E, mode), plain_step, E, args, device)}
            out["ensemble"].append(r)
            print(f"{f'ensemble E={E} ({mode})':>26} {r['member_steps_per_s']:15.1f} {r['plain_steps_per_s']:14.1f} "
                  f"{r['vs_plain']:13.2f}x", flush=True)
            if args.json:  # after every result: a run stopped by a time limit keeps what it measured
                Path(args.json).write_text(json.dumps(out, indent=1))
    if not args.no_lightning:
        light, inner = lightning_times(args, device)
        out["lightning_e1"] = {"engine_step_s": inner, "lightning_step_s": light, "ratio": light / inner}
        print(f"E=1 step time (medians over steps of one Lightning run): the engine's step {1e3 * inner:.3f} ms, "
              f"Lightning's whole step {1e3 * light:.3f} ms (Lightning / plain = {light / inner:.2f}x)")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
