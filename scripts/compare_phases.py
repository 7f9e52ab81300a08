"""Two sweeps of the same grid, cell by cell: the phase of each and the share of cells where it agrees (e.g. a
float32 sweep and its train.precision bf16 twin).

    python scripts/compare_phases.py RUN_A RUN_B
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd


def compare(a: Path, b: Path) -> tuple[pd.DataFrame, float]:
    keys = json.loads((a / "plan.json").read_text())["grid_keys"]
    ga, gb = pd.read_csv(a / "grid.csv"), pd.read_csv(b / "grid.csv")
    cols = ["phase", "steps_to_generalise", "final_test_acc"]
    both = ga[keys + cols].merge(gb[keys + cols], on=keys, suffixes=("_a", "_b"), validate="one_to_one")
    if len(both) != len(ga) or len(both) != len(gb):
        raise SystemExit("the two sweeps do not have the same grid")
    both["same"] = both["phase_a"] == both["phase_b"]
    return both, float(both["same"].mean())


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_a", type=Path)
    p.add_argument("run_b", type=Path)
    args = p.parse_args()
    both, share = compare(args.run_a, args.run_b)
    with pd.option_context("display.width", 160, "display.max_rows", 500):
        print(both.to_string(index=False))
    print(f"same phase in {int(both['same'].sum())} of {len(both)} cells ({100 * share:.0f}%)")


if __name__ == "__main__":
    main()
