"""Bahri et al.'s four scaling regimes of a random-feature N x P x seed sweep (configs/scaling/bahri_regimes.yaml):
fitted exponents with 90% bootstrap intervals against the predictions, the duality of the two resolution-limited
exponents, and one figure.

    python scripts/bahri_regimes.py RUN_DIR [--out PNG] [--var-ratio 8] [--res-ratio 0.1]

Windows: the variance-limited fits take the points with P >= var_ratio N at the smallest N (and N >= var_ratio P at
the smallest P); the resolution-limited fits take N (P) <= res_ratio M. Prints the table, then the figure's path.
"""
import argparse
import sys
from pathlib import Path

from toymodels.errors import ConfigError
from trainers.figures.bahri import draw, format_table, regimes


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dir")
    p.add_argument("--out", help="figure path (default RUN_DIR/figures/bahri_regimes.png)")
    p.add_argument("--var-ratio", type=float, default=8.0)
    p.add_argument("--res-ratio", type=float, default=0.1)
    args = p.parse_args(argv)
    try:
        out, duality = regimes(args.run_dir, args.var_ratio, args.res_ratio)
    except ConfigError as err:
        print(f"bahri_regimes: error: {err}", file=sys.stderr)
        return 2
    print(format_table(out, duality))
    print(draw(out, duality, args.out or Path(args.run_dir) / "figures" / "bahri_regimes.png"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
