"""Theory for high-dimensional regression, random features and their gradient-descent dynamics (float64,
vectorised over grids; SCIENCE.md section 2). Plain PyTorch + numpy.

- ``ridge``: renormalised ridge kappa (robust root, lambda -> 0 included), gamma, T, T', E_g, E_tr, the
  bias^2 / Var_X / Var_eps split, and GCV from data alone (Atanasov, Zavatone-Veth, Pehlevan 2024).
- ``random_features``: two-level equivalent of (linear or Gaussian-equivalent) random-feature ridge: k2 on the
  physical branch, k1, Df1, Df2, l, g1, E_g, E_tr, bias^2 / Var_F / Var_X / Var_eps, sigma_F^2 (AZP 2024, linear random features).
- ``gaussian_equivalence``: mu0, mu1, mu_star of an activation (Gauss-Hermite), and the nonlinear-feature theory
  through ``random_features`` (Mei & Montanari 2019; Goldt et al.; Hu & Lu).
- ``gd_curves``: N, P -> infinity GD curve (Bordelon, Atanasov, Pehlevan 2024); the finite-N, P GD / gradient-flow
  curve as contour integrals of deterministic equivalents; the ridge-GD correspondence (an approximation).
- ``scaling``: time / data / model-limited exponents, compute-optimal exponents, the frontier L*(C), N*(C), t*(C)
  from a loss table (``loss_table`` builds one from ``gd_curve``), power-law fits (bootstrap intervals over seeds:
  ``toymodels.regression.fits``).
- ``one_level``: the one-point functions k1(z), T_C(z) shared by the contour integrals.
- ``simulate``: batched float64 experiments (closed-form ridge, exact GD) to hold the theory against.
- ``solvers``, ``_linalg``, ``_checks``: vectorised bisection / Newton continuation, batched eigh/SVD, input checks.
The task generator lives in ``toymodels.tasks.powerlaw``.
"""
from .gaussian_equivalence import ge_coefficients, ge_theory
from .gd_curves import gd_curve, gd_curve_infinite, gd_curve_ridge_approx
from .random_features import RFTheory, rf_k2, rf_theory, sigma_F2
from .ridge import RidgeTheory, gcv, kappa_ridge, ridge_theory
from .scaling import compute_frontier, exponents, fit_power_law, loss_table, model_limited_loss

__all__ = ["RFTheory", "RidgeTheory", "compute_frontier", "exponents", "fit_power_law", "gcv", "gd_curve",
           "gd_curve_infinite", "gd_curve_ridge_approx", "ge_coefficients", "ge_theory", "kappa_ridge", "loss_table",
           "model_limited_loss", "rf_k2", "rf_theory", "ridge_theory", "sigma_F2"]
