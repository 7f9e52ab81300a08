"""Covariance spectra of datasets (Levi & Oz): bulk power-law exponent and level-spacing ratio <r> against the number
of samples, the counts at which they settle, for real data, Gaussian data and random-feature maps of both.

    python scripts/data_spectra.py [--mnist PATH.npz] [--max-samples 20000] [--width 512] [--dim 256]
                                   [--alpha 1.5] [--draws 8] [--out docs/figures/data_spectra.png]

Datasets: digits (scikit-learn's 8x8, 1797 x 64, offline); "digits, Gaussian twin": Gaussian rows with the digits'
sample covariance (same n, d); the power-law Gaussian task (toymodels.tasks.powerlaw, eta_k = k^-alpha, dim d,
4096 rows); ReLU random-feature maps (width --width, W iid N(0, 1/d)) of digits and of the power-law task; MNIST
(train + test rows, subsampled to --max-samples) and its random features when --mnist is given. Windows and the
settling rule: toymodels.metrics.data_spectra; the sample counts are the powers of 2 from 16 below each dataset's
size, each with --draws random subsets (so the largest count's value is itself a mean over draws).
Prints the table, then the figure's path.
"""
import argparse
import sys

import numpy as np

from toymodels.errors import ConfigError
from toymodels.metrics.data_spectra import relu_random_features, sample_curve
from toymodels.tasks.images import load_images
from toymodels.tasks.powerlaw import PowerLawTask, sample_inputs
from trainers.figures.data_spectra import draw, format_table


def datasets(args) -> dict[str, np.ndarray]:
    g = np.random.default_rng(args.seed)
    digits = load_images("digits")[0].astype(np.float64)  # [1797, 64]
    out = {"digits": digits}
    cov = np.cov(digits, rowvar=False)
    out["digits, Gaussian twin"] = g.multivariate_normal(digits.mean(0), cov, size=digits.shape[0],
                                                         method="eigh")
    out[f"power-law task (alpha={args.alpha:g})"] = sample_inputs(PowerLawTask(args.dim, args.alpha, 0.5), 4096,
                                                                  [args.seed])[0].numpy()
    out[f"ReLU RF({args.width}) of digits"] = relu_random_features(digits, args.width, args.seed)
    out[f"ReLU RF({args.width}) of power-law"] = relu_random_features(
        out[f"power-law task (alpha={args.alpha:g})"], args.width, args.seed)
    if args.mnist:
        x = load_images("mnist", args.mnist)[0].astype(np.float64)
        x = x[g.choice(x.shape[0], min(args.max_samples, x.shape[0]), replace=False)]
        out["MNIST"] = x
        out[f"ReLU RF({args.width}) of MNIST"] = relu_random_features(x, args.width, args.seed)
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--mnist", help="a local mnist.npz (x_train, y_train, x_test, y_test)")
    p.add_argument("--max-samples", type=int, default=20000)
    p.add_argument("--width", type=int, default=512)
    p.add_argument("--dim", type=int, default=256)
    p.add_argument("--alpha", type=float, default=1.5)
    p.add_argument("--draws", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="docs/figures/data_spectra.png")
    args = p.parse_args(argv)
    try:
        data = datasets(args)
    except ConfigError as err:
        print(f"data_spectra: error: {err}", file=sys.stderr)
        return 2
    curves = {}
    for name, X in data.items():
        counts = [2 ** k for k in range(4, int(np.log2(X.shape[0] - 1)) + 1)]  # < n: distinct draws at every count
        curves[name] = (X, sample_curve(X, counts, args.draws, args.seed))
    print(format_table(curves))
    print(draw(curves, args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
