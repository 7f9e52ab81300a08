"""Lazy versus rich training of two-layer networks, batched over members: relative weight movement, the feature
kernel and the empirical neural tangent kernel (NTK) in closed form, their alignment with the target, and the
lazy / rich phase rule of a sweep.

Definitions (every kernel over R probe rows, [E, R, R]; padded hidden units are exactly zero, so they add nothing):
- weight movement  |W - W0|_F / |W0|_F per member (and the same for the readout a);
- feature kernel   K_phi(x, x') = (1/N) sum_i act(h_i(x)) act(h_i(x'))  (N the member's true width);
- empirical NTK    K(x, x') = sum over parameters of df/dtheta(x) . df/dtheta(x'), averaged over the C outputs:
                   c^2 [ sum_i phi_i phi_i' + m^2 (x . x') sum_i u_i act'(h_i) act'(h_i') ],  u_i = (1/C) sum_c a_ic^2
                   (f = c a . act(m W x); the parameter-space kernel, without the learning-rate multiplier, which is
                   the same for both layers and so changes no alignment);
- kernel-target alignment (Cristianini et al. 2002), centred (Cortes, Mohri & Rostamizadeh 2012):
                   A(K, T) = <H K H, H T H>_F / (|H K H|_F |H T H|_F),  H = I - 11^T/R,  T = Y Y^T
                   (Y the targets [R] or one-hot classes [R, C]).
Lazy training keeps K close to its initial value (relative change |K - K0|_F / |K0|_F small) and the weights close to
W0; rich training moves them and typically raises the alignment with the target.
"""
from __future__ import annotations

from collections import Counter

import numpy as np
import torch

LAZY_RICH_PHASES = ("rich", "lazy", "diverged")


def relative_change(new: torch.Tensor, old: torch.Tensor) -> torch.Tensor:
    """|new - old|_F / |old|_F over every axis but the first: [E, ...] -> [E]."""
    d = (new - old).flatten(1).norm(dim=1)
    return d / old.flatten(1).norm(dim=1)


def feature_kernel(phi: torch.Tensor, widths: torch.Tensor) -> torch.Tensor:
    """phi [E, R, N] (zero on padding), true widths [E] -> (1/N) phi phi^T [E, R, R]."""
    return phi @ phi.transpose(1, 2) / widths.to(phi.dtype)[:, None, None]


def two_layer_ntk(phi: torch.Tensor, dphi: torch.Tensor, a: torch.Tensor, gram: torch.Tensor, in_mult: torch.Tensor,
                  out_mult: torch.Tensor) -> torch.Tensor:
    """Closed-form empirical NTK of f = c a . act(m W x), averaged over outputs: [E, R, R].
    phi, dphi [E, R, N]; a [E, N, C]; gram = x . x' [E, R, R]; in_mult m, out_mult c [E]."""
    u = (a * a).mean(-1)  # [E, N]
    readout = phi @ phi.transpose(1, 2)  # d f / d a
    g = dphi * u[:, None, :].sqrt()
    hidden = (in_mult.to(phi.dtype) ** 2)[:, None, None] * gram * (g @ g.transpose(1, 2))  # d f / d W
    return (out_mult.to(phi.dtype) ** 2)[:, None, None] * (readout + hidden)


def target_kernel(y: torch.Tensor) -> torch.Tensor:
    """T = Y Y^T [E, R, R] from targets y [E, R] or [E, R, C]."""
    Y = y[..., None] if y.dim() == 2 else y
    return Y @ Y.transpose(1, 2)


def _centre(K: torch.Tensor) -> torch.Tensor:
    return K - K.mean(1, keepdim=True) - K.mean(2, keepdim=True) + K.mean((1, 2), keepdim=True)


def alignment(K: torch.Tensor, T: torch.Tensor, centered: bool = True) -> torch.Tensor:
    """Kernel-target alignment <K, T>_F / (|K|_F |T|_F) per member [E] (centred kernels by default)."""
    if centered:
        K, T = _centre(K), _centre(T)
    num = (K * T).sum((1, 2))
    return num / (K.flatten(1).norm(dim=1) * T.flatten(1).norm(dim=1))


@torch.no_grad()
def lazy_rich_measures(model, x: torch.Tensor, y: torch.Tensor, centered: bool = True) -> dict[str, torch.Tensor]:
    """Every measure at once for an ``EnsembleTwoLayer`` on probe rows x ([R, ...] shared or [E, R, ...]) with targets
    y [E, R] or [E, R, C]: {name: [E] float64}."""
    now, init = model.kernel_parts(x), model.kernel_parts(x, initial=True)
    T = target_kernel(y.to(now["phi"].dtype))
    ntk = lambda p: two_layer_ntk(p["phi"], p["dphi"], p["a"], p["gram"], p["in_mult"], p["out_mult"])  # noqa: E731
    K, K0 = ntk(now), ntk(init)
    F, F0 = feature_kernel(now["phi"], now["widths"]), feature_kernel(init["phi"], init["widths"])
    out = {"weight_change_W": relative_change(model.W, model.W0), "weight_change_a": relative_change(model.a, model.a0),
           "ntk_alignment": alignment(K, T, centered), "feature_alignment": alignment(F, T, centered),
           "ntk_change": relative_change(K, K0), "feature_kernel_change": relative_change(F, F0)}
    return {k: v.to(torch.float64) for k, v in out.items()}


# ---- the phase rule of a lazy-rich sweep -------------------------------------------------------------------------
def classify_lazy_rich(movement: np.ndarray, diverged: np.ndarray, threshold: float,
                       alignment_gain: np.ndarray | None = None, gain_threshold: float | None = None) -> np.ndarray:
    """Phase per member: "diverged" (NaN/inf, frozen), "rich" (final |W - W0|/|W0| >= ``threshold`` and, when
    ``gain_threshold`` is given, NTK alignment gain final - initial >= it), else "lazy". Arrays [E] -> [E] str."""
    movement = np.asarray(movement, float)
    diverged = np.asarray(diverged, bool) | ~np.isfinite(movement)
    rich = movement >= threshold
    if gain_threshold is not None:
        gain = np.asarray(alignment_gain, float)
        rich &= np.isfinite(gain) & (gain >= gain_threshold)
    return np.where(diverged, "diverged", np.where(rich, "rich", "lazy"))


def majority_phase(phases: list[str], order: tuple[str, ...] = LAZY_RICH_PHASES) -> tuple[str, float]:
    """The most common phase of a grid point's seeds and the share that agree (ties: earlier in ``order``)."""
    counts = Counter(phases)
    best = max(order, key=lambda p: (counts.get(p, 0), -order.index(p)))
    return best, counts[best] / len(phases)
