"""SETOL's MLP experiment from a sweep run directory (configs/setol/mlp_digits.yaml): writes RUN_DIR/setol_layers.csv
(one row per member and layer: batch size, lr, seed, final train / test accuracy, alpha, alpha-hat, detX_delta, tail
size, sigma) and RUN_DIR/setol_summary.csv (per layer: rank correlations, where alpha = 2 sits against the best
member), prints the summary and draws the figure.

    python scripts/setol_mlp.py RUN_DIR [--out docs/figures/setol_mlp.png] [--min-train-acc 0.99]

Members whose final train accuracy is below --min-train-acc (not fitted) are left out of the statistics and drawn
hollow.
"""
import argparse
import sys
from pathlib import Path

from trainers.figures.setol import draw_setol, layer_summary, layer_table, write_table


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dir", type=Path)
    p.add_argument("--out", type=Path, help="figure path (default RUN_DIR/figures/setol_mlp.png)")
    p.add_argument("--min-train-acc", type=float, default=0.99)
    args = p.parse_args(argv)
    try:
        rows = layer_table(args.run_dir)
    except (ValueError, FileNotFoundError) as err:
        print(f"setol_mlp: error: {err}", file=sys.stderr)
        return 2
    print(write_table(rows, args.run_dir / "setol_layers.csv"))
    summary = layer_summary(rows, args.min_train_acc)
    print(write_table(summary, args.run_dir / "setol_summary.csv"))
    for s in summary:
        print(", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in s.items()))
    print(draw_setol(rows, args.out or args.run_dir / "figures" / "setol_mlp.png", args.min_train_acc))
    return 0


if __name__ == "__main__":
    sys.exit(main())
