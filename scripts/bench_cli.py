"""How fast the toylab command answers usage errors and --help (they must come back before torch and Lightning
are imported): wall time of each call in a fresh process, median over repeats, side by side with a bare
`python -c pass` and `python -c "import torch"` measured in the same run.

    python scripts/bench_cli.py [--repeats 5]
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
QUICK = str(ROOT / "configs/grokking/quick.yaml")
CALLS = {
    "python -c pass (baseline)": [sys.executable, "-c", "pass"],
    "python -c 'import torch' (for scale)": [sys.executable, "-c", "import torch"],
    "toylab --help": [sys.executable, "-m", "trainers.cli", "--help"],
    "toylab fit --help": [sys.executable, "-m", "trainers.cli", "fit", "--help"],
    "fit --config missing.yaml": [sys.executable, "-m", "trainers.cli", "fit", "--config", "missing.yaml"],
    "fit: unknown key": [sys.executable, "-m", "trainers.cli", "fit", "--config", QUICK, "--optimizer.lrr", "1"],
    "fit: bad value type": [sys.executable, "-m", "trainers.cli", "fit", "--config", QUICK,
                            "--task.train_fraction", "abc"],
    "fit: value out of range": [sys.executable, "-m", "trainers.cli", "fit", "--config", QUICK, "--optimizer.lr",
                                "-1"],
}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args(argv)
    print(f"{'call':40s} {'median s':>9s} {'min s':>7s}  exit  first stderr line")
    for name, cmd in CALLS.items():
        times, rc, err = [], None, ""
        for _ in range(args.repeats):
            t = time.perf_counter()
            r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
            times.append(time.perf_counter() - t)
            rc, err = r.returncode, (r.stderr.strip().splitlines() or [""])[0]
        print(f"{name:40s} {statistics.median(times):9.2f} {min(times):7.2f}  {rc:4d}  {err[:70]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
