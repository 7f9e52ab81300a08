"""Power-law fit of the ESD tail: WeightWatcher 0.7.7's default ``WWFit``, batched over members.

Continuous Clauset maximum-likelihood fit. Eigenvalues <= ``thresh`` (1e-5) are dropped; the n that remain,
sorted, x_1 <= ... <= x_n, are the data. Every x_i except the largest is a candidate xmin with tail
T_i = {x_j : j >= i} of size t_i = n - i + 1 and

    s_i     = sum_{j >= i} ln(x_j / x_i)
    alpha_i = 1 + t_i / s_i                                         (n >= 20)
    D_i     = max_{k=0..t_i-1} | 1 - (x_{i+k} / x_i)^(1 - alpha_i) - k / t_i |
    sigma_i = (alpha_i - 1) / sqrt(t_i)

and the fit keeps the first i with the smallest D_i (D_i = 1 where alpha_i <= 1).

Small samples (n < 20): the bias-corrected alpha_i = 1 + (t_i - 1) / s_i, only for tails with t_i >= 8 and
s_i > 1e-12 (other candidates keep D_i = 1 and alpha_i = 0). WeightWatcher 0.7.7 computes an objective
J_i = D_i - 0.868 / sqrt(t_i) for these tails, but its ``WWFit.__init__`` then re-selects the candidate by the
smallest D_i, overriding J: what it reports -- and what this module reproduces -- is the argmin of D_i. If no
tail qualifies (n < 8), the whole sample is the tail (i = 1, alpha = 1 + (n-1)/s_1) when s_1 > 1e-12, else
alpha = 0; in that fallback WeightWatcher reports sigma = -1/sqrt(n) (computed before alpha is set), and so do
we. n < 2 is a failed fit.

num_pl_spikes = #{eigenvalues >= xmin} (WeightWatcher's tail size), num_fit_evals = n (the sample size),
sigma = the fit's standard error. Always look at both before trusting alpha: a 32-eigenvalue ESD gives a
tail of a handful of points.

All candidates of all members are scored at once: suffix sums of logs give every s_i, and the KS distances
come from [E, block, K] tensors (blocks sized to ``max_elements``), so the cost is O(K^2) arithmetic per
member without Python loops over members or candidates. Failed fits give NaN floats and -1 counts.
"""
from __future__ import annotations

import math

import torch

EVALS_THRESH = 1e-5
SMALL_N_CUTOFF = 20
SMALL_N_K_MIN = 8
_DEGENERATE_S = 1e-12
_ALPHA_CAP = 1e300  # stands in for alpha = inf in the KS formula: 1^(-inf) = 1, x^(-inf) = 0 for x > 1


def fit_power_law(evals: torch.Tensor, thresh: float | torch.Tensor = EVALS_THRESH,
                  max_elements: int = 1 << 22) -> dict[str, torch.Tensor]:
    """Fit every member's ESD. evals: [E, K] ascending (float64 recommended); thresh: scalar or [E].

    Returns [E] tensors: alpha, xmin, xmax, D, sigma (float64), num_pl_spikes, num_fit_evals (int64),
    fit_small_n, fit_ok (bool).
    """
    if evals.dim() != 2:
        raise ValueError(f"evals must be [E, K], got {tuple(evals.shape)}")
    x = evals.to(torch.float64)
    E, K = x.shape
    dev = x.device
    finite = torch.isfinite(x).all(dim=1)  # [E]
    x = torch.where(finite[:, None], x, torch.ones((), dtype=x.dtype, device=dev))
    thresh = torch.as_tensor(thresh, dtype=torch.float64, device=dev).reshape(-1)
    valid = x > thresh[:, None] if thresh.numel() == E else x > thresh  # [E, K], a suffix of each sorted row
    n = valid.sum(dim=1)  # [E]
    k0 = K - n  # [E] position of the smallest fitted eigenvalue

    pos = torch.arange(K, device=dev)
    tail = (K - pos).to(torch.float64)  # [K] t_p = number of eigenvalues at positions >= p
    logx = torch.where(valid, x.clamp_min(1e-300).log(), torch.zeros((), dtype=x.dtype, device=dev))
    lsh = torch.where(valid, logx - logx[:, -1:], torch.zeros((), dtype=x.dtype, device=dev))  # <= 0
    suffix = lsh.flip(1).cumsum(1).flip(1)  # [E, K] sum_{q >= p} lsh_q
    s = suffix - tail * lsh  # [E, K] sum_{q >= p} ln(x_q / x_p), meaningful for p >= k0

    small = n < SMALL_N_CUTOFF  # [E]
    candidate = (pos >= k0[:, None]) & (pos <= K - 2)  # [E, K]
    alpha_std = 1.0 + tail / s
    alpha_bc = 1.0 + (tail - 1.0) / s
    small_ok = (tail >= SMALL_N_K_MIN) & (s > _DEGENERATE_S)  # bias-corrected candidates (alpha_bc > 1 follows)
    alpha = torch.where(small[:, None], torch.where(small_ok, alpha_bc, torch.zeros_like(s)), alpha_std)
    ks_ok = torch.where(small[:, None], small_ok, alpha_std > 1.0) & candidate
    # small-sample fallback: no qualifying tail -> the whole sample (position k0), if not degenerate
    fallback = small & ~ks_ok.any(dim=1)
    fb = fallback[:, None] & (pos == k0[:, None]) & (s > _DEGENERATE_S) & candidate
    alpha_for_sigma = alpha  # WeightWatcher computes its sigmas before the fallback sets alpha
    alpha = torch.where(fb, alpha_bc, alpha)
    ks_ok = ks_ok | fb

    D = _ks_distances(lsh, alpha, ks_ok, tail, int(k0.min()) if E else 0, max_elements)  # [E, K]
    D = torch.where(ks_ok, D, torch.ones_like(D))
    D = torch.where(candidate, D, torch.full_like(D, math.inf))
    best = D.argmin(dim=1, keepdim=True)  # [E, 1] first smallest D

    a = alpha.gather(1, best)[:, 0]
    xmin = x.gather(1, best)[:, 0]
    ok = finite & (n >= 2) & ~torch.isnan(a)
    nan = torch.full((), math.nan, dtype=torch.float64, device=dev)
    out = {
        "alpha": torch.where(ok, a, nan),
        "xmin": torch.where(ok, xmin, nan),
        "xmax": torch.where(ok, x[:, -1], nan),
        "D": torch.where(ok, D.gather(1, best)[:, 0], nan),
        "sigma": torch.where(ok, (alpha_for_sigma.gather(1, best)[:, 0] - 1.0) / tail[best[:, 0]].sqrt(), nan),
        "num_pl_spikes": torch.where(ok, (x >= xmin[:, None]).sum(dim=1), torch.full_like(n, -1)),
        "num_fit_evals": torch.where(finite, n, torch.full_like(n, -1)),
        "fit_small_n": small & ok,
        "fit_ok": ok,
    }
    return out


def _ks_distances(lsh: torch.Tensor, alpha: torch.Tensor, ok: torch.Tensor, tail: torch.Tensor, start: int,
                  max_elements: int) -> torch.Tensor:
    """D[e, p] = max_{q >= p} |1 - exp((1 - alpha[e, p]) (lsh[e, q] - lsh[e, p])) - (q - p) / tail[p]|.

    Rows p < start and rows with ok = False are left at 0. Processed in blocks of candidate rows p0..p1 against
    columns q >= p0, so memory stays near ``max_elements`` float64 per temporary.
    """
    E, K = lsh.shape
    dev = lsh.device
    D = torch.zeros_like(lsh)
    a = torch.where(ok, alpha.clamp(max=_ALPHA_CAP), torch.full_like(alpha, 2.0))
    pos = torch.arange(K, device=dev)
    p0 = start
    while p0 < K - 1:
        width = K - p0
        block = max(1, min(K - 1 - p0, max_elements // max(1, E * width)))
        p1 = p0 + block
        lp = lsh[:, p0:p1]  # [E, B]
        lq = lsh[:, p0:]  # [E, W]
        gap = (pos[p0:][None, :] - pos[p0:p1][:, None]).to(torch.float64)  # [B, W] q - p
        emp = gap / tail[p0:p1, None]  # [B, W]
        upper = gap >= 0
        expo = (1.0 - a[:, p0:p1, None]) * (lq[:, None, :] - lp[:, :, None])  # [E, B, W]
        dev_ = (1.0 - torch.exp(expo) - emp).abs()
        dev_ = torch.where(upper, dev_, torch.zeros((), dtype=dev_.dtype, device=dev))
        D[:, p0:p1] = dev_.amax(dim=2)
        p0 = p1
    return D
