"""Gromov (2023)'s analytic solution of modular addition by a two-layer quadratic MLP, and a comparison of a
trained network's Fourier structure with it.

Network (``EnsembleMLP(depth=2, act="quadratic", bias=False, input_kind="pairs")``): h = W0[a] + W0[p + b]
(the concatenated one-hot input times W0 [2p, N]), logits = (h ** 2) @ W1 (W1 [N, p]).

Gromov's construction, neuron k with frequency sigma_k and phases phi_k, psi_k (w_k = 2 pi sigma_k / p):
    W0[n, k]     = cos(w_k n + phi_k)           (operand a, rows 0..p-1)
    W0[p + n, k] = cos(w_k n + psi_k)           (operand b, rows p..2p-1)
    W1[k, q]     = cos(-w_k q - phi_k - psi_k)  ( = cos(w_k q + phi_k + psi_k))
Expanding (cos A + cos B)^2 cos(w q + phi + psi), A = w a + phi, B = w b + psi, the term
cos(A + B) cos(w q + phi + psi) contains cos(w (a + b - q)) / 2, which peaks at q = a + b mod p; every other term
carries a phase factor exp(i (alpha phi + beta psi)) with (alpha, beta) in {(1, 1), (3, 1), (1, -1), (1, 3),
(-1, 1), (2, 2), (2, 0), (0, -2)} (up to overall sign).

Phases: ``phases="random"`` draws phi, psi uniformly (Gromov's choice): the other terms cancel only on average,
so 100% accuracy needs enough neurons. ``phases="grid"`` (default) gives each block of 9 neurons of one
frequency the phases (phi, psi) = (2 pi i / 3, 2 pi j / 3), i, j = 0, 1, 2: every factor above sums to zero over
the block, so the cancellation is exact and one block contributes exactly (9 / 2) cos(w (a + b - q)). With one
block per frequency sigma = 1..(p - 1) // 2 (the default, N = 9 (p - 1) // 2) and odd p the logits are
exactly (9 / 4) (p [q == a + b mod p] - 1). Frequencies go to blocks (grid) or neurons (random) cyclically.
No normalisation factors (they rescale the logits, not the argmax).
"""
from __future__ import annotations

import math
import numbers
from typing import NamedTuple

import torch
from einops import einsum

from ...errors import ConfigError
from .fourier import component_frequencies, fourier_basis


class GromovSolution(NamedTuple):
    """W_in [E, 2p, N] ("weights.0"), W_out [E, N, p] ("weights.1"), freq [E, N] int64, phase_a, phase_b [E, N]."""

    W_in: torch.Tensor
    W_out: torch.Tensor
    freq: torch.Tensor
    phase_a: torch.Tensor
    phase_b: torch.Tensor

    def state(self) -> dict[str, torch.Tensor]:
        """The weights under ``EnsembleMLP``'s parameter names."""
        return {"weights.0": self.W_in, "weights.1": self.W_out}


def gromov_solution(p: int, n_hidden: int | None = None, n_members: int = 1, phases: str = "grid",
                    frequencies: list[int] | None = None, generator: torch.Generator | None = None,
                    dtype: torch.dtype = torch.float64, device: torch.device | str = "cpu") -> GromovSolution:
    """Gromov's analytic weights (module docstring) for ``n_members`` members.

    ``frequencies``: the sigma values used (default 1..(p - 1) // 2); ``n_hidden``: N (default 9 per frequency).
    ``phases``: "grid" (exact cancellation; N should be a multiple of 9, the same weights for every member) or
    "random" (phases drawn per member from ``generator``).
    """
    if not isinstance(p, numbers.Integral) or isinstance(p, bool) or p < 3:
        raise ConfigError("task.p", f"Gromov's solution needs an integer p >= 3 (got {p!r})")
    p = int(p)
    freqs = list(range(1, (p - 1) // 2 + 1)) if frequencies is None else [int(f) for f in frequencies]
    if not freqs or any(not 1 <= f <= p // 2 for f in freqs):
        raise ConfigError("representation.gromov.frequencies", f"need frequencies in 1..{p // 2}, got {frequencies}")
    N = 9 * len(freqs) if n_hidden is None else int(n_hidden)
    if N < 1:
        raise ConfigError("model.width", f"must be >= 1 (got {n_hidden})")
    if n_members < 1:
        raise ConfigError("members", f"need at least one member (got {n_members})")
    k = torch.arange(N)
    f = torch.tensor(freqs, dtype=torch.int64)
    if phases == "grid":
        if N % 9:
            raise ConfigError("model.width", f"phases='grid' needs a multiple of 9 neurons (got {N})")
        sigma = f[(k // 9) % len(freqs)]
        phi = 2 * math.pi * ((k % 9) // 3).to(torch.float64) / 3
        psi = 2 * math.pi * (k % 3).to(torch.float64) / 3
        sigma, phi, psi = (t.expand(n_members, N) for t in (sigma, phi, psi))
    elif phases == "random":
        sigma = f[k % len(freqs)].expand(n_members, N)
        u = torch.rand(2, n_members, N, generator=generator, dtype=torch.float64)
        phi, psi = 2 * math.pi * u[0], 2 * math.pi * u[1]
    else:
        raise ConfigError("representation.gromov.phases", f"must be 'grid' or 'random', got {phases!r}")
    n = torch.arange(p, dtype=torch.float64)
    w = 2 * math.pi * sigma.to(torch.float64) / p  # [E, N]
    wa = torch.cos(w[:, None, :] * n[None, :, None] + phi[:, None, :])  # [E, p, N]
    wb = torch.cos(w[:, None, :] * n[None, :, None] + psi[:, None, :])
    w_out = torch.cos(w[:, :, None] * n[None, None, :] + (phi + psi)[:, :, None])  # [E, N, p]
    to = dict(dtype=dtype, device=device)
    return GromovSolution(torch.cat([wa, wb], dim=1).to(**to), w_out.to(**to), sigma.clone().to(device),
                          phi.clone().to(**to), psi.clone().to(**to))


class NeuronFourier(NamedTuple):
    """Per neuron [E, N]: the dominant frequency (1..p // 2) of its a-weights, b-weights and output weights; the
    share of each weight vector's squared norm at that frequency (1 for a pure cosine); the phases phi with the
    component = A cos(w n + phi) (A > 0); and the output phase minus the input phases, wrapped to (-pi, pi]
    (0 in Gromov's solution). Padded neurons: frequency -1, shares and phases NaN."""

    freq_a: torch.Tensor
    freq_b: torch.Tensor
    freq_out: torch.Tensor
    share_a: torch.Tensor
    share_b: torch.Tensor
    share_out: torch.Tensor
    phase_a: torch.Tensor
    phase_b: torch.Tensor
    phase_out: torch.Tensor
    phase_residual: torch.Tensor


def _dominant(x: torch.Tensor, p: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """x [E, N, p] (vectors over symbols) -> dominant non-constant frequency, its power share, its phase."""
    Fb = fourier_basis(p, torch.float64, x.device)
    freqs = component_frequencies(p, x.device)
    coef = einsum(Fb, x, "f n, e k n -> e k f")  # [E, N, p]
    K = p // 2
    power = torch.zeros(*coef.shape[:2], K + 1, dtype=torch.float64, device=x.device)
    power.index_add_(2, freqs, coef.square())
    best = power[..., 1:].argmax(dim=-1) + 1  # [E, N]
    total = coef.square().sum(dim=-1)
    share = power.gather(-1, best[..., None]).squeeze(-1) / total
    # phase at the best frequency: sum_n x_n cos(w n) = C, sum_n x_n sin(w n) = S; A cos(w n + phi) has
    # C ~ A cos(phi), S ~ -A sin(phi)
    n = torch.arange(p, dtype=torch.float64, device=x.device)
    ang = 2 * math.pi * best[..., None].to(torch.float64) * n / p  # [E, N, p]
    C = (x * torch.cos(ang)).sum(dim=-1)
    S = (x * torch.sin(ang)).sum(dim=-1)
    return best, share, torch.atan2(-S, C)


def _wrap(angle: torch.Tensor) -> torch.Tensor:
    """Wrap to (-pi, pi]."""
    return math.pi - torch.remainder(math.pi - angle, 2 * math.pi)


def neuron_fourier(W_in: torch.Tensor, W_out: torch.Tensor, hidden_mask: torch.Tensor | None = None
                   ) -> NeuronFourier:
    """Fourier structure of each hidden neuron of a two-layer pairs MLP: W_in [E, 2p, N], W_out [E, N, p]
    (``EnsembleMLP`` "weights.0", "weights.1"; biases ignored); ``hidden_mask`` [E, N] marks real neurons."""
    if W_in.dim() != 3 or W_out.dim() != 3 or W_in.shape[1] % 2 or W_in.shape[0] != W_out.shape[0] \
            or W_in.shape[2] != W_out.shape[1] or W_out.shape[2] != W_in.shape[1] // 2:
        raise ConfigError("representation.gromov.weights",
                          f"expected W_in [E, 2p, N] and W_out [E, N, p], "
                          f"got {tuple(W_in.shape)}, {tuple(W_out.shape)}")
    p = W_in.shape[1] // 2
    if p < 3:
        raise ConfigError("task.p", f"need p >= 3 (got {p})")
    w_in = W_in.detach().to(torch.float64)
    fa, sa, pa = _dominant(w_in[:, :p].transpose(1, 2), p)
    fb, sb, pb = _dominant(w_in[:, p:].transpose(1, 2), p)
    fo, so, po = _dominant(W_out.detach().to(torch.float64), p)
    out = NeuronFourier(fa, fb, fo, sa, sb, so, pa, pb, po, _wrap(po - pa - pb))
    if hidden_mask is None:
        return out
    E, N = fa.shape
    if tuple(hidden_mask.shape) != (E, N) or hidden_mask.dtype != torch.bool:
        raise ConfigError("representation.gromov.hidden_mask", f"expected a boolean mask [{E}, {N}]")
    return NeuronFourier(*(torch.where(hidden_mask, t, -1 if t.dtype == torch.int64 else torch.nan) for t in out))


def gromov_agreement(W_in: torch.Tensor, W_out: torch.Tensor, hidden_mask: torch.Tensor | None = None,
                     phase_tol: float = math.pi / 8, min_share: float = 0.5) -> torch.Tensor:
    """Share of each member's real neurons that look like a neuron of Gromov's solution: [E].

    A neuron agrees when its a-, b- and output weights have the same dominant frequency, each holds at least
    ``min_share`` of its vector's squared norm there, and |phase_out - phase_a - phase_b| <= ``phase_tol``
    (wrapped). Gromov's weights give 1.
    """
    nf = neuron_fourier(W_in, W_out, hidden_mask)
    same = (nf.freq_a == nf.freq_b) & (nf.freq_b == nf.freq_out) & (nf.freq_a > 0)
    pure = (nf.share_a >= min_share) & (nf.share_b >= min_share) & (nf.share_out >= min_share)
    ok = same & pure & (nf.phase_residual.abs() <= phase_tol)
    real = nf.freq_a > 0  # padded neurons have frequency -1
    return (ok & real).sum(dim=-1).to(torch.float64) / real.sum(dim=-1).clamp(min=1)


def frequency_histogram(freq: torch.Tensor, p: int) -> torch.Tensor:
    """Neurons per frequency: freq [E, N] int64 (-1 ignored) -> [E, p // 2 + 1] int64 (index 0 unused: the
    constant is never a dominant frequency). Compare a trained network's with the analytic one's."""
    E = freq.shape[0]
    hist = torch.zeros(E, p // 2 + 1, dtype=torch.int64, device=freq.device)
    valid = freq >= 0
    hist.scatter_add_(1, torch.where(valid, freq, 0), valid.to(torch.int64))
    hist[:, 0] = 0
    return hist
