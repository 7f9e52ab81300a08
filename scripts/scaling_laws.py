"""Scaling-law figures of a regression run directory (a fit or a sweep): L vs t per width, L vs N, L vs P with theory
overlays and fitted exponents, the compute-optimal frontier; PNG + SVG, and a table of fitted vs predicted exponents.

    python scripts/scaling_laws.py RUN_DIR [--P P] [--time-window LO HI] [--model-window LO HI]
                                           [--data-window LO HI] [--no-frontier] [--boot N] [--out DIR]

Windows are in steps (time), widths (model) and training rows (data); by default the time window runs from step 10
to where the largest width comes within 2x of its t -> infinity loss, the others take every point. Prints the table,
then the paths it wrote (one per line). Everything is read from the run directory.
"""
import argparse
import sys

from toymodels.errors import ConfigError
from trainers.figures.scaling import draw_scaling, format_table


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dir")
    p.add_argument("--P", type=float, help="training rows of the members used for L(t), L(N) and the frontier "
                                           "(default: the largest)")
    for name in ("time", "model", "data"):
        p.add_argument(f"--{name}-window", type=float, nargs=2, metavar=("LO", "HI"))
    p.add_argument("--no-frontier", action="store_true")
    p.add_argument("--boot", type=int, default=200, help="bootstrap resamples over seeds (default 200)")
    p.add_argument("--out", help="output directory (default RUN_DIR/figures)")
    args = p.parse_args(argv)
    try:
        paths, fits, warnings = draw_scaling(args.run_dir, args.out, args.P, args.time_window, args.model_window,
                                             args.data_window, not args.no_frontier, args.boot)
    except ConfigError as err:
        print(f"scaling_laws: error: {err}", file=sys.stderr)
        return 2
    print(format_table(fits))
    for w in warnings:
        print(f"warning: {w}")
    for path in paths:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
