"""Draw a sweep's phase diagram (PNG and SVG) and, optionally, train/test curves of chosen cells.

    python scripts/phase_diagram.py RUN_DIR [--x KEY --y KEY] [--where KEY=VALUE ...] [--curves "K=V,K=V" ...]

--x/--y default to the sweep's first two grid keys; other varied keys must be fixed with --where. Prints the
paths it wrote, the phase diagram's PNG last. Everything is read from the run directory.
"""
import argparse
import sys

from toymodels.errors import ConfigError
from trainers.sweeps.report import cell_curves, phase_diagram, spearman_report


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dir")
    p.add_argument("--x")
    p.add_argument("--y")
    p.add_argument("--where", action="append")
    p.add_argument("--curves", action="append", help='a cell, e.g. "optimizer.lr=0.001,optimizer.weight_decay=1"')
    p.add_argument("--out", help="output path without extension")
    p.add_argument("--spearman", action="store_true",
                   help="print the rank correlation of the steps to generalise with each grid key, over the grid "
                        "points that generalised (grokking or comprehension) and over the grokking ones")
    args = p.parse_args(argv)
    try:
        if args.curves:
            print(cell_curves(args.run_dir, args.curves))
        png, svg = phase_diagram(args.run_dir, args.x, args.y, args.where, args.out)
        if args.spearman:
            for line in spearman_report(args.run_dir):
                print(line)
    except ConfigError as err:
        print(f"phase_diagram: error: {err}", file=sys.stderr)
        return 2
    print(svg)
    print(png)
    return 0


if __name__ == "__main__":
    sys.exit(main())
