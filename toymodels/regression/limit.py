"""The t -> infinity limit of gradient descent from zero, in closed form, for every member of an ensemble.

GD from v = 0 on (1/P)|y - Z v|^2 + lambda |v|^2 converges to the ridge solution at lambda (lambda = 0: the
minimum-norm interpolator when N >= P, least squares when N < P). Members are grouped by their true sizes (P_e, N_e)
and each group is eigen-decomposed once, at those sizes, by ``toymodels.theory.simulate``'s spectral solver (float64,
batched over the group), so each member is normalised by its own P and padding never enters. The same
decomposition gives the eigenvalues of each member's feature covariance Z^T Z / P (for the GCV estimates).
"""
from __future__ import annotations

import torch

from ..theory.simulate import _spectral
from .data import RegressionData

F64 = torch.float64


def member_groups(data: RegressionData) -> dict[tuple[int, int], torch.Tensor]:
    """(P, N) -> indices [n] of the members with those true sizes (on the data's device)."""
    out: dict[tuple[int, int], list[int]] = {}
    for e, (P, N) in enumerate(zip(data.n_train.tolist(), data.widths.tolist())):
        out.setdefault((int(P), int(N)), []).append(e)
    return {k: torch.tensor(v, device=data.Z.device) for k, v in out.items()}


def closed_form_limit(data: RegressionData, ridge: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(v_infinity [E, N_max] float64, zero beyond each member's width: ridge at each member's lambda;
    s [E, r_max] float64: eigenvalues of Z^T Z / P_e, descending, zero-padded, r = min(P_e, N_e))."""
    E, _, N_max = data.Z.shape
    dev = data.Z.device
    ridge = torch.as_tensor(ridge, dtype=F64).to(dev)
    v = torch.zeros(E, N_max, dtype=F64, device=dev)
    s_all = torch.zeros(E, int(torch.minimum(data.n_train, data.widths).max()), dtype=F64, device=dev)
    for (P, N), idx in member_groups(data).items():
        s, apply = _spectral(data.Z[idx, :P, :N].to(F64), data.y[idx, :P].to(F64), None)  # s [n, r] ascending
        s = torch.clamp(s, min=0.0)[:, None, :]  # [n, 1, r]
        live = s > 1e-12 * s.amax(-1, keepdim=True)  # as simulate.ridge_weights: rank-deficient directions drop
        inv = torch.where(live, 1.0 / (s + ridge[idx][:, None, None]), torch.zeros((), dtype=F64, device=dev))
        v[idx, :N] = apply(inv)[:, 0]  # [n, N]
        s_all[idx, :s.shape[-1]] = s[:, 0].flip(-1)
    return v, s_all


def projection_loss(model, eta: torch.Tensor, wbar: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """The P, t -> infinity test loss [E] of each member with linear features: sigma^2 + min_v (F v - wbar)^T Sigma
    (F v - wbar), the model-limited loss (its expectation over F is ``toymodels.theory.random_features.sigma_F2``,
    kappa T(kappa) with Df1(kappa) = N). From F alone, no data: least squares Sigma^(1/2) F v ~ Sigma^(1/2) wbar per
    group of equal width (float64, cost M N^2 per member). The linear model (F = I) gives sigma^2; nonlinear
    features give NaN (their P = infinity limit needs the population feature covariance)."""
    sigma = torch.as_tensor(sigma, dtype=F64)
    if not model.linear_features:
        return torch.full_like(sigma, float("nan"))
    if model.F is None:
        return sigma ** 2
    root = eta.to(F64).sqrt()  # [M]
    out = torch.zeros_like(sigma)
    widths = torch.tensor(model.widths)
    for N in sorted(set(model.widths)):
        idx = torch.nonzero(widths == N).flatten().to(model.F.device)
        A = root[:, None] * model.F[idx, :, :N].to(F64)  # [n, M, N]
        b = (root * wbar.to(F64)).expand(len(idx), -1)[..., None]  # [n, M, 1]
        v = torch.linalg.lstsq(A, b).solution  # [n, N, 1]
        out[idx.to(out.device)] = ((A @ v - b) ** 2).sum((1, 2)).to(out.device)
    return out + sigma ** 2
