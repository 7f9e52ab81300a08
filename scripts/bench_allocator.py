"""The CPU allocator setting (trainers/allocator.py) on and off, side by side: the same sweep run twice in fresh
processes, wall / user / kernel seconds and minor page faults of each, and the ratios.

    python scripts/bench_allocator.py [--config configs/phase/quick.yaml] [--steps 500]
"""
import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHILD = """
import sys
import trainers.fitting
if sys.argv[1] == "off":
    trainers.fitting.keep_freed_memory = lambda: False
from trainers.cli import main
sys.exit(main(["sweep", "--config", sys.argv[2], "--out_dir", sys.argv[3], "--train.max_steps", sys.argv[4],
               "--train.progress", "none", "--wandb.mode", "disabled"]))
"""


def run(mode: str, config: str, steps: int, out: str) -> dict:
    r0, t0 = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    subprocess.run([sys.executable, "-c", CHILD, mode, config, out, str(steps)], cwd=ROOT, check=True,
                   capture_output=True)
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {"wall": time.perf_counter() - t0, "user": r1.ru_utime - r0.ru_utime, "sys": r1.ru_stime - r0.ru_stime,
            "faults": r1.ru_minflt - r0.ru_minflt}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default=str(ROOT / "configs/phase/quick.yaml"))
    p.add_argument("--steps", type=int, default=500)
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        off = run("off", args.config, args.steps, tmp)
        on = run("keep", args.config, args.steps, tmp)
    print(f"{'':>14} {'wall s':>8} {'user s':>8} {'kernel s':>9} {'page faults':>12}")
    for name, r in (("default", off), ("keep memory", on)):
        print(f"{name:>14} {r['wall']:8.1f} {r['user']:8.1f} {r['sys']:9.2f} {r['faults']:12d}")
    print(f"{'ratio':>14} {off['wall'] / on['wall']:8.2f}x {'':>8} {off['sys'] / max(on['sys'], 1e-9):9.1f}x "
          f"{off['faults'] / max(on['faults'], 1):11.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
