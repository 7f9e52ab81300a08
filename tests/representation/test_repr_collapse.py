"""Softmax-collapse fraction on constructed logits."""
import pytest
import torch

from toymodels.errors import ConfigError
from toymodels.metrics.representation import softmax_collapse_fraction


def rows_with_gaps(gaps, C=2, dtype=torch.float32):
    """One row per gap: the first class `gap` above the other C - 1 (equal) classes."""
    z = torch.zeros(len(gaps), C, dtype=dtype)
    z[:, 0] = torch.tensor(gaps, dtype=dtype)
    return z


def test_collapse_depends_on_precision():
    # 2 classes: 1 + exp(-gap) == 1 in float32 once exp(-gap) <= 2**-24 (gap >= 24 ln 2 = 16.64)
    gaps = [0.0, 10.0, 16.0, 17.0, 40.0, 1000.0]
    f32 = softmax_collapse_fraction(rows_with_gaps(gaps)[None])
    assert f32.item() == pytest.approx(3 / 6)  # 17, 40, 1000
    f64 = softmax_collapse_fraction(rows_with_gaps(gaps, dtype=torch.float64)[None])
    assert f64.item() == pytest.approx(2 / 6)  # 40 and 1000: float64 needs exp(-gap) <= 2**-53 (gap >= 36.74)


def test_collapse_per_member_with_row_mask():
    z = torch.stack([rows_with_gaps([0.0, 50.0, 50.0, 1.0], C=5), rows_with_gaps([50.0, 50.0, 50.0, 2.0], C=5)])
    assert softmax_collapse_fraction(z).tolist() == [0.5, 0.75]
    mask = torch.tensor([[True, True, False, False], [False, False, False, True]])
    assert softmax_collapse_fraction(z, mask).tolist() == [0.5, 0.0]
    empty = torch.zeros(2, 4, dtype=torch.bool)
    assert torch.isnan(softmax_collapse_fraction(z, empty)).all()
    # shifting a row by a constant does not change anything
    assert softmax_collapse_fraction(z + 7.0).tolist() == [0.5, 0.75]
    with pytest.raises(ConfigError):
        softmax_collapse_fraction(z.to(torch.int64))
