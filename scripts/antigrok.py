"""Anti-grokking from a fit's run directory (configs/antigrok/digits_cpu.yaml): per member the best test accuracy,
whether and when the test accuracy collapsed while train accuracy stayed at 1, and per layer when alpha fell below 2
and the first correlation trap appeared (RUN_DIR/antigrok_report.csv); and the figure (accuracies, alpha and trap
counts of every layer against the step, log x).

    python scripts/antigrok.py RUN_DIR [--out docs/figures/antigrok_digits.png]
"""
import argparse
import sys
from pathlib import Path

from trainers.figures.antigrok import collapse_report, draw_antigrok
from trainers.figures.setol import write_table
from trainers.reader import read_members


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dir", type=Path)
    p.add_argument("--out", type=Path, help="figure path (default RUN_DIR/figures/antigrok.png)")
    args = p.parse_args(argv)
    try:
        report = collapse_report(args.run_dir)
        members = read_members(args.run_dir)
    except (ValueError, FileNotFoundError, KeyError) as err:
        print(f"antigrok: error: {err}", file=sys.stderr)
        return 2
    varied = [k for k in members[0] if k not in ("member",) and not k.startswith(("final_", "best_", "step_"))
              and k != "diverged"]
    labels = [", ".join(f"{k.split('.')[-1]} {m[k]}" for k in varied) for m in members]
    for r, m in zip(report, members):
        r.update({k: m[k] for k in varied})
        print(", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in r.items()))
    print(write_table(report, args.run_dir / "antigrok_report.csv"))
    print(draw_antigrok(args.run_dir, args.out or args.run_dir / "figures" / "antigrok.png", labels))
    return 0


if __name__ == "__main__":
    sys.exit(main())
