"""Saxe et al.'s stages in a deep-linear fit: measured loss and mode strengths against the theory.

    python scripts/deep_linear.py RUN_DIR [--members 0 2] [--out PATH_WITHOUT_SUFFIX]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from toymodels.errors import ConfigError
from trainers.figures.deep_linear import draw_stages


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="deep_linear.py", description=__doc__.splitlines()[0])
    p.add_argument("run_dir", type=Path)
    p.add_argument("--members", type=int, nargs="*", default=None)
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)
    try:
        print(draw_stages(args.run_dir, args.members, args.out))
    except ConfigError as err:
        print(f"deep_linear.py: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
