"""Compare trained two-layer quadratic MLPs (a run of e.g. configs/grokking/quick.yaml) with Gromov (2023)'s
analytic solution: the analytic solution's accuracy, the share of each member's neurons that look like Gromov
neurons (same frequency in, in, out, a dominant frequency, phase_out = phase_a + phase_b), and a figure.

    python scripts/gromov.py RUN_DIR
"""
import argparse
import json
import sys
from pathlib import Path

from toymodels.errors import ConfigError
from trainers.figures.gromov import compare


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dir", type=Path)
    args = p.parse_args(argv)
    try:
        stats, figure = compare(args.run_dir, args.run_dir / "figures" / "gromov.png")
    except (ConfigError, FileNotFoundError) as err:
        print(f"gromov: error: {err}", file=sys.stderr)
        return 2
    print(json.dumps(stats, indent=1))
    print(figure)
    return 0


if __name__ == "__main__":
    sys.exit(main())
