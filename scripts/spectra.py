"""Weight spectra of a fit (run with probes.spectra: true, and train.snapshot_members for ESD plots): alpha and
detX_delta of every layer over training aligned with accuracy, and ESD plots of a snapshotted member.

    python scripts/spectra.py RUN_DIR [--members 0,1] [--esd MEMBER [--step S]]
"""
import argparse
import sys
from pathlib import Path

from toymodels.errors import ConfigError
from trainers.figures.spectra import draw_alpha_over_training, draw_member_esds
from trainers.reader import history_names


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dir", type=Path)
    p.add_argument("--members", default="0")
    p.add_argument("--esd", type=int, help="draw the ESDs of this snapshotted member")
    p.add_argument("--step", type=int, help="snapshot step for --esd (default: the last)")
    args = p.parse_args(argv)
    try:
        if not any(n.startswith("spectra_") for n in history_names(args.run_dir)):  # checked before drawing anything
            raise ConfigError("RUN_DIR", f"{args.run_dir} has no spectra histories: fit with probes.spectra: true")
        if args.esd is not None and not (args.run_dir / "snapshots").is_dir():
            raise ConfigError("--esd", f"{args.run_dir} has no snapshots: fit with train.snapshot_members")
        if args.esd is not None:
            for path in draw_member_esds(args.run_dir, args.esd, args.step):
                print(path)
        print(draw_alpha_over_training(args.run_dir, [int(m) for m in args.members.split(",")],
                                       args.run_dir / "figures" / "alpha_over_training.png"))
    except (ValueError, FileNotFoundError) as err:  # ConfigError is a ValueError
        print(f"spectra: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
