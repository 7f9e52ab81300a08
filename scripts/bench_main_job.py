"""The README's main job (configs/phase/quick.yaml) as toylab's sweep vs a plain PyTorch script of the same runs,
side by side in one process, one thread.

    python scripts/bench_main_job.py                         # end to end, per member-step, FLOP/s; 3 repeats
    python scripts/bench_main_job.py --steps 500 --repeats 1 # a quicker look (end to end at 500 steps)
    python scripts/bench_main_job.py --parts step,flops      # skip the end-to-end runs
    TORCHINDUCTOR_CACHE_DIR=$(mktemp -d) python scripts/bench_main_job.py --parts end2end,step --set train.compile=true
                                      # compiled: the first repeat compiles from an empty cache, later ones reuse it

Parts (each repeat runs toylab then the plain script back to back, so both see the same machine load; the table
reports medians over repeats and the ratio of the medians):
- ``end2end``: ``toylab.sweep(quick.yaml)`` in this process (planning, Lightning, evaluation every 25 steps,
  checkpoints, results, the phase-diagram figure) vs ``plain_script``: the 20 runs one after another as a
  researcher writes them (one-hot inputs through nn.Linear, torch.optim.AdamW, test accuracy every 25 steps).
- ``step``: member-steps per second of the engine's training step at E = 20 (the sweep's one fit) vs the plain
  script's training step (the same 20 runs, one step each, in turn).
- ``kernel``: the model's forward + backward at E = 20 on the training rows, the CPU's tiled kernel
  (``toymodels.models.pair_mlp``: evaluation's path, and training's with losses other than softmax cross-entropy,
  which takes the one pass of ``pair_mlp_ce_eager``) vs autograd's path through the same model, interleaved.
- ``flops``: achieved matmul FLOP/s of both steps against a single-thread sgemm (1024^3) measured in this run. The
  engine's first layer is a row lookup (one-hot inputs), so its FLOPs per member-step are the output layer's
  (forward, input gradient, weight gradient); the plain script also multiplies the one-hot matrix (forward and
  weight gradient). "useful" counts each member's own training rows, "computed" the rows the engine runs (the
  tiled kernel runs each tile's longest member's rows for all of the tile's members).
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
import yaml
from torch import nn

from toymodels.models.pair_mlp import tiles
from trainers import api
from trainers.allocator import keep_freed_memory
from trainers.families import family_of
from trainers.fitting import configure_engine
from trainers.members import expand
from trainers.sweeps.plan import chunk_config, make_plan

CONFIG = Path(__file__).resolve().parent.parent / "configs" / "phase" / "quick.yaml"


# ---- the baseline: the plain script a researcher writes --------------------------------------------------------
class Square(nn.Module):
    def forward(self, x):
        return x * x


def plain_setup(p: int, fraction: float, weight_decay: float, seed: int, width: int, lr: float, betas):
    """One run of the plain script: data, split, Gromov's MLP (one-hot pair -> width -> p, quadratic, no bias)."""
    torch.manual_seed(seed)
    a, b = torch.cartesian_prod(torch.arange(p), torch.arange(p)).T
    x = torch.cat([F.one_hot(a, p), F.one_hot(b, p)], 1).float()  # [p^2, 2p] one-hot pairs
    y = (a + b) % p
    perm = torch.randperm(p * p)
    n_train = int(fraction * p * p)
    train, test = perm[:n_train], perm[n_train:]
    model = nn.Sequential(nn.Linear(2 * p, width, bias=False), Square(), nn.Linear(width, p, bias=False))
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay, betas=betas)
    return model, opt, (x[train], y[train], x[test], y[test])


def plain_step(model, opt, data):
    x_train, y_train = data[0], data[1]
    loss = F.cross_entropy(model(x_train), y_train)
    opt.zero_grad()
    loss.backward()
    opt.step()


def plain_script(runs: list[dict], steps: int, eval_every: int) -> list[list[float]]:
    """The 20 runs one after another; each records its test accuracy every ``eval_every`` steps."""
    curves = []
    for run in runs:
        model, opt, data = plain_setup(**run)
        curve = []
        for step in range(1, steps + 1):
            plain_step(model, opt, data)
            if step % eval_every == 0:
                with torch.no_grad():
                    curve.append((model(data[2]).argmax(-1) == data[3]).float().mean().item())
        curves.append(curve)
    return curves


# ---- the same runs in toylab -------------------------------------------------------------------------------------
def plan_runs(cfg) -> list[dict]:
    """The sweep's members as plain-script runs (same p, fraction, weight decay, seed, width, lr, betas)."""
    plan = make_plan(cfg)
    o = cfg.optimizer
    return [{"p": cfg.task.p, "fraction": m.get("task.train_fraction", cfg.task.train_fraction),
             "weight_decay": m.get("optimizer.weight_decay", o.weight_decay), "seed": m["seed"],
             "width": cfg.model.width, "lr": o.lr, "betas": tuple(o.betas)} for m in plan.members]


def sweep_engine(cfg):
    plan = make_plan(cfg)
    if len(plan.chunks) != 1:
        raise SystemExit(f"expected the main job in one fit, the plan has {len(plan.chunks)}")
    c = chunk_config(cfg, plan.chunks[0])
    device = torch.device("cpu")
    keep_freed_memory()  # as a CPU fit does (trainers.fitting.run_fit), also when only the step is timed
    return configure_engine(family_of(c).build_engine(c, expand(c), device), c, device)


def toylab_sweep(overrides: dict) -> float:
    with tempfile.TemporaryDirectory() as out:
        t = time.perf_counter()
        api.sweep(str(CONFIG), {**overrides, "out_dir": out})
        return time.perf_counter() - t


def step_rates(engine, states, blocks: int, steps: int = 10, warmup: int = 3) -> tuple[float, float, float]:
    """(engine member-steps/s, plain steps/s, median ratio) over ``blocks`` interleaved blocks: ``steps`` engine
    steps (E member-steps each), then ``steps`` steps of each plain run. Interleaving small blocks keeps the ratio
    steady on a machine whose load changes by the second."""
    for s in range(warmup):
        engine.train_step(s)
        for st in states:
            plain_step(*st)
    t_eng, t_plain, ratios, step = 0.0, 0.0, [], warmup
    for _ in range(blocks):
        t = time.perf_counter()
        for _ in range(steps):
            engine.train_step(step)
            step += 1
        te = time.perf_counter() - t
        t = time.perf_counter()
        for st in states:
            for _ in range(steps):
                plain_step(*st)
        tp = time.perf_counter() - t
        t_eng, t_plain = t_eng + te, t_plain + tp
        ratios.append((engine.n_members / te) / (len(states) / tp))
    n = blocks * steps
    return engine.n_members * n / t_eng, len(states) * n / t_plain, statistics.median(ratios)


def kernel_times(engine, blocks: int, reps: int = 5) -> tuple[float, float]:
    """Median ms of one forward + backward of the model on the step's rows: tiled kernel, autograd's path."""
    x, _, _ = engine.batch(0)
    model, rows = engine.model, engine.train_rows
    paths = {"tiled": lambda: model.forward_rows(x, rows), "autograd": lambda: model.hidden(x)[-1]}
    times: dict[str, list[float]] = {k: [] for k in paths}
    for _ in range(blocks):
        for name, f in paths.items():
            t = time.perf_counter()
            for _ in range(reps):
                f().sum().backward()
            times[name].append((time.perf_counter() - t) / reps * 1e3)
    model.zero_grad()
    return statistics.median(times["tiled"]), statistics.median(times["autograd"])


def sgemm_flops(n: int = 1024, reps: int = 5) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    best = min(_timed(lambda: a @ b) for _ in range(reps))
    return 2 * n**3 / best


def _timed(f) -> float:
    t = time.perf_counter()
    f()
    return time.perf_counter() - t


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--parts", default="end2end,step,kernel,flops")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--steps", type=int, default=None, help="training steps end to end (default: the config's)")
    p.add_argument("--blocks", type=int, default=10, help="interleaved blocks of 10 steps per repeat (step part)")
    p.add_argument("--set", nargs="*", default=[], help="extra toylab overrides KEY=VALUE (e.g. train.compile=true)")
    args = p.parse_args()
    torch.set_num_threads(1)
    parts = set(args.parts.split(","))
    overrides = {"train.progress": "none", "sweep.backend": "inprocess", "wandb.mode": "disabled"}
    for kv in args.set:
        k, v = kv.split("=", 1)
        overrides[k] = yaml.safe_load(v)
    if args.steps:
        overrides["train.max_steps"] = args.steps
    cfg = api._config(str(CONFIG), overrides)
    runs = plan_runs(cfg)
    print(f"main job: {len(runs)} runs of Gromov's MLP (width {cfg.model.width}) on a+b mod {cfg.task.p}, "
          f"{cfg.train.max_steps} steps, evaluation every {cfg.train.eval_every}; torch {torch.__version__}, "
          f"{torch.get_num_threads()} thread; {args.repeats} repeat(s), medians")
    res: dict[str, list[float]] = {}
    engine = sweep_engine(cfg) if parts & {"step", "flops", "kernel"} else None
    states = [plain_setup(**r) for r in runs] if engine is not None else None
    for r in range(args.repeats):
        if "end2end" in parts:
            res.setdefault("toylab sweep [s]", []).append(toylab_sweep(overrides))
            res.setdefault("plain script [s]", []).append(_timed(
                lambda: plain_script(runs, cfg.train.max_steps, cfg.train.eval_every)))
        if engine is not None:
            e_rate, p_rate, ratio = step_rates(engine, states, args.blocks)
            res.setdefault("engine member-steps/s", []).append(e_rate)
            res.setdefault("plain steps/s", []).append(p_rate)
            res.setdefault("step ratio (per block)", []).append(ratio)
        if "kernel" in parts:
            tiled, plain_autograd = kernel_times(engine, args.blocks)
            res.setdefault("kernel tiled [ms]", []).append(tiled)
            res.setdefault("kernel autograd [ms]", []).append(plain_autograd)
        if "flops" in parts:
            res.setdefault("sgemm GFLOP/s", []).append(sgemm_flops() / 1e9)
    med = {k: statistics.median(v) for k, v in res.items()}
    for k, v in res.items():
        print(f"{k:>24}: median {med[k]:9.2f}   ({', '.join(f'{x:.2f}' for x in v)})")
    if "end2end" in parts:
        print(f"end to end: toylab {med['toylab sweep [s]']:.1f} s, plain script {med['plain script [s]']:.1f} s "
              f"-> toylab is {med['plain script [s]'] / med['toylab sweep [s]']:.2f}x the plain script")
    if engine is not None:
        print(f"per member-step at E = {engine.n_members}: {med['engine member-steps/s']:.0f} vs "
              f"{med['plain steps/s']:.0f} -> {med['engine member-steps/s'] / med['plain steps/s']:.2f}x "
              f"(median of the per-block ratios: {med['step ratio (per block)']:.2f}x)")
    if "kernel" in parts:
        print(f"model forward + backward at E = {engine.n_members}: tiled kernel {med['kernel tiled [ms]']:.2f} ms, "
              f"autograd's path {med['kernel autograd [ms]']:.2f} ms -> "
              f"{med['kernel autograd [ms]'] / med['kernel tiled [ms]']:.2f}x")
    if "flops" in parts:
        H, C = cfg.model.width, cfg.task.p
        n_train = engine.data.split.n_train.double()  # [E]
        useful = float((6 * n_train * H * C).mean())  # out layer: forward, input and weight gradients
        B = engine.data.split.train_idx.shape[1]  # padded rows; the tiled kernel computes its tile's longest member's
        computed = statistics.mean(6 * r * H * C for e0, e1, r in tiles(engine.n_members, B, H, engine.train_rows)
                                   for _ in range(e0, e1))
        plain = float((6 * n_train * H * C + 4 * n_train * 2 * C * H).mean())  # + one-hot fwd and weight grad
        peak = med["sgemm GFLOP/s"]
        e_rate, p_rate = med["engine member-steps/s"], med["plain steps/s"]
        print(f"FLOP/s (sgemm {peak:.1f} GFLOP/s): engine {useful * e_rate / 1e9:.1f} useful / "
              f"{computed * e_rate / 1e9:.1f} computed GFLOP/s ({100 * computed * e_rate / 1e9 / peak:.0f}% of "
              f"sgemm); plain script {plain * p_rate / 1e9:.1f} GFLOP/s ({100 * plain * p_rate / 1e9 / peak:.0f}%)")


if __name__ == "__main__":
    main()
