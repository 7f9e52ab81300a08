"""Representation measures aligned with train/test accuracy, embedding PCA images, and the step at which each
measure crosses its threshold, from a fit's run directory (run with probes.representation: true).

    python scripts/representation.py RUN_DIR [--members 0,1] [--pca MEMBER] [--report]
"""
import argparse
import sys
from pathlib import Path

from trainers.figures.representation import crossing_report, draw_embedding_pca, draw_representation


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dir", type=Path)
    p.add_argument("--members", default="0", help="comma-separated members to draw")
    p.add_argument("--pca", type=int, action="append", help="member whose snapshotted embeddings to draw")
    p.add_argument("--report", action="store_true", help="print first threshold-crossing steps per member")
    args = p.parse_args(argv)
    try:
        if args.report:
            for row in crossing_report(args.run_dir):
                print(", ".join(f"{k}: {v}" for k, v in row.items()))
        for m in args.pca or []:
            for path in draw_embedding_pca(args.run_dir, m, args.run_dir / "figures"):
                print(path)
        members = [int(m) for m in args.members.split(",")]
        print(draw_representation(args.run_dir, members, args.run_dir / "figures" / "representation.png"))
    except (ValueError, FileNotFoundError) as err:
        print(f"representation: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
