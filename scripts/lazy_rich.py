"""Lazy versus rich two-layer networks, from run directories alone.

    python scripts/lazy_rich.py phase SWEEP_DIR [--x KEY] [--y KEY] [--where KEY=VALUE ...] [--out PATH]
        the lazy-rich phase diagram of a sweep run with sweep.phase.rule lazy_rich (default axes gamma0 x width)
        and heatmaps of the mean |W - W0|/|W0| and NTK-alignment gain
    python scripts/lazy_rich.py exponents RUN_DIR [RUN_DIR ...] [--window LO HI] [--floor] [--boot N] [--out PATH]
        the time exponent of L(t) ~ t^-e of every member group (members differing only by seed) of regression fits --
        e.g. configs/two_layer/time_hard.yaml, rf_time_hard.yaml, time_easy.yaml, rf_time_easy.yaml -- with a 90%
        bootstrap interval over seeds, against the lazy prediction beta = 2 r and the rich one 2 beta / (1 + beta)
        (beta < 1); writes a figure (curves and local slopes) and the table as CSV / JSON

Prints the table (exponents), then the paths it wrote.
"""
import argparse
import sys
from pathlib import Path

from toymodels.errors import ConfigError
from trainers.figures.lazy_rich import draw_exponents, format_exponents, lazy_rich_maps, time_exponents


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    ph = sub.add_parser("phase")
    ph.add_argument("run_dir", type=Path)
    ph.add_argument("--x")
    ph.add_argument("--y")
    ph.add_argument("--where", action="append")
    ph.add_argument("--out", type=Path)
    ex = sub.add_parser("exponents")
    ex.add_argument("run_dirs", type=Path, nargs="+")
    ex.add_argument("--window", type=float, nargs=2, metavar=("LO", "HI"))
    ex.add_argument("--floor", action="store_true", help="fit an irreducible floor too (default: none)")
    ex.add_argument("--boot", type=int, default=200)
    ex.add_argument("--out", type=Path, help="output path without extension (default RUN_DIR/figures/time_exponents)")
    args = p.parse_args(argv)
    try:
        if args.command == "phase":
            paths = lazy_rich_maps(args.run_dir, args.x, args.y, args.where, args.out)
        else:
            table = time_exponents(args.run_dirs, tuple(args.window) if args.window else None,
                                   fit_floor=args.floor, n_boot=args.boot)
            print(format_exponents(table))
            paths = draw_exponents(table, args.out or args.run_dirs[0] / "figures" / "time_exponents")
    except (ConfigError, FileNotFoundError) as err:
        print(f"lazy_rich: error: {err}", file=sys.stderr)
        return 2
    for path in paths:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
