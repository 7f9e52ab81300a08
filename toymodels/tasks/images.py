"""Image classification tables for Omnigrok's MNIST experiment.

MNIST is read from a local ``.npz`` file (keys x_train, y_train, x_test, y_test, as Keras' ``mnist.npz``): nothing
is downloaded. Without one, scikit-learn's bundled 8x8 digits (1797 images, the optional ``digits`` extra) stand in.
Pixels are scaled to [0, 1] and flattened.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import ConfigError


def load_images(name: str, path: str | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Returns (x [R, D] float32, y [R] int64, test_rows or None).

    For MNIST the official test rows are returned so that members train on a subset of the training images and
    are tested on the test images; for digits the test set is the complement of each member's training set.
    """
    if name == "mnist":
        if not path:
            raise ConfigError("task.data_path", "MNIST needs a local .npz file (x_train, y_train, x_test, y_test)")
        if not Path(path).is_file():
            raise ConfigError("task.data_path", f"no such file: {path}")
        with np.load(path) as f:
            x = np.concatenate([f["x_train"], f["x_test"]]).reshape(-1, 784).astype(np.float32) / 255.0
            y = np.concatenate([f["y_train"], f["y_test"]]).astype(np.int64)
            n_train = len(f["y_train"])
        return x, y, np.arange(n_train, len(y))
    if name == "digits":
        try:
            from sklearn.datasets import load_digits
        except ImportError as err:  # optional extra
            raise ConfigError("task.name", "the digits task needs scikit-learn: pip install 'toylab[digits]'") from err
        d = load_digits()
        return (d.data / 16.0).astype(np.float32), d.target.astype(np.int64), None
    raise ConfigError("task.name", f"unknown image task {name!r}; allowed: mnist, digits")
