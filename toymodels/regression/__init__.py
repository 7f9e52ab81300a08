"""Regression and random-feature ensembles trained by gradient descent (SCIENCE.md section 2), in plain PyTorch.

- ``data``: each member's training (and held-out) features from its own data / noise / projection streams.
- ``engine``: ``RegressionEngine``, the training step and evaluation (exact population loss for linear features).
- ``limit``: every member's t -> infinity (ridge) solution in closed form, and its P, t -> infinity (projection) loss.
- ``gcv``: GCV at fixed lambda (consistent) and along GD time (an approximation, reported with its error).
- ``theory``: per-member theory curves (finite-N, P GD) and t -> infinity values, with what each one is.
- ``fits``: exponent fits with a fitted floor, stated windows and bootstrap intervals over seeds.
The model lives in ``toymodels.models.random_features``.
"""
from .data import RegressionData, build_data
from .engine import RegressionEngine, SquaredLoss
from .fits import fit_exponent, slope
from .gcv import gcv_limit, gcv_over_time
from .limit import closed_form_limit, projection_loss
from .theory import MemberSpec, theory_curves, theory_limits, theory_projection

__all__ = ["MemberSpec", "RegressionData", "RegressionEngine", "SquaredLoss", "build_data", "closed_form_limit",
           "fit_exponent", "gcv_limit", "gcv_over_time", "projection_loss", "slope",
           "theory_curves", "theory_limits", "theory_projection"]
