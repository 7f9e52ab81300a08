"""Nanda et al. (2023)'s Fourier progress measures for modular addition, batched over the member axis E.

Reference: the progress-measures code (mechanistic-interpretability-grokking/progress-measures-paper,
``transformers.py`` and ``helpers.py``). What is implemented here, and where it differs from that code:

- ``fourier_basis``: Nanda's ``make_fourier_basis``: rows constant, cos 1, sin 1, ..., cos K, sin K
  (K = p // 2), each normalised to unit norm, so F is orthonormal and F @ W is W in the Fourier basis. For even
  p the last row is cos(pi n) alone (sin(pi n) = 0 would be a zero row, NaN after Nanda's normalisation); the
  basis stays p x p orthonormal.
- Fourier norms: the norm of each Fourier component of the symbol rows of W_E (``|F W_E[:p]|`` per row), of the
  symbol outputs of W_U, or of the neuron-logit map W_L = W_out W_U; per frequency, cos and sin combined.
- ``key_frequencies``: Nanda's ``calculate_key_freqs``: centre each neuron's activations over the p x p table,
  take the 2-D Fourier transform (F over a, F over b), and for each frequency k score the share of the
  neuron's total squared coefficient that lies in the 3 x 3 block {const, cos k, sin k} x {const, cos k, sin k}
  (linear terms const x cos/sin and cos/sin x const, quadratic terms cos/sin x cos/sin; const x const is 0
  after centring); the neuron's frequency is the argmax (ties: the lowest k, as Nanda's strict ">"). The key set
  of a member is the set of its neurons' winners. Differences: (1) Nanda's loop is ``range(1, p // 2)`` and
  never scores k = p // 2 (56 for p = 113); here every k in 1..p // 2 competes. (2) A neuron whose centred
  activations are all zero (dead) has no frequency (-1) and votes for none; in Nanda's code its 0/0 score
  leaves best_freq = -1, which then enters the key set. (3) Optional ``neuron_mask`` (padding) and
  ``min_frac_explained`` (default 0: every neuron votes, as Nanda).
- Restricted / excluded loss (``fourier_ablation_losses``), the paper's construction as
  SCIENCE.md states it: project the neuron activations (along the p^2 inputs) onto the directions
  cos(w_k (a + b)) and sin(w_k (a + b)) of the member's key frequencies (normalised; these equal Nanda's
  ``(cos_x cos_y - sin_x sin_y) / sqrt 2`` and ``(sin_x cos_y + cos_x sin_y) / sqrt 2`` 2-D basis directions),
  map the projection through W_L = W_out W_U to logits, and
  restricted logits = projected logits - their mean over the p^2 inputs + the model's mean logits
  (Nanda's ``bias_correction``; the projected part is already zero-mean), and
  excluded logits = the model's logits - projected logits (all key frequencies removed at once).
  Cross entropy in float64 over the rows given (SCIENCE.md: the training rows for both).
  Differences from the public code: (1) that code projects the *logits* (``get_component_cos_xpy(logits)``),
  i.e. also the direct attention/embedding path, not only the MLP neurons; ``path="logits"`` reproduces that.
  (2) Its ``calculate_trig_loss`` (restricted) is called with ``mode='all'`` (all p^2 rows): pass an all-True
  ``row_mask`` for that. (3) Its ``calculate_excluded_loss`` returns one loss per key frequency (that frequency
  alone removed); here all key frequencies are removed together. (4) Its cross entropy casts to float32 despite
  the name ``cross_entropy_high_precision``; here float64. Only the first p outputs (the symbols) are used; the
  "=" logit is dropped as in that code (``[:, -1, :-1]``).
- ``gini``: the Gini coefficient sum_ij |x_i - x_j| / (2 n sum_i x_i) of non-negative values, per member.

Tables are (a, b) in lexicographic order, row = a * p + b (``operation_table``), the full p^2 grid.
"""
from __future__ import annotations

import math
import numbers
from functools import lru_cache
from typing import NamedTuple

import torch
import torch.nn.functional as F
from einops import einsum, rearrange

from ...errors import ConfigError


def _check_p(p: int) -> int:
    if not isinstance(p, numbers.Integral) or isinstance(p, bool) or p < 3:
        raise ConfigError("task.p", f"Fourier measures need an integer p >= 3 (got {p!r})")
    return int(p)


def n_frequencies(p: int) -> int:
    """Frequencies 0 (constant), 1, ..., p // 2: p // 2 + 1 of them."""
    return _check_p(p) // 2 + 1


@lru_cache(maxsize=64)
def _basis(p: int, dtype: torch.dtype, device: str) -> tuple[torch.Tensor, torch.Tensor]:
    n = torch.arange(p, dtype=torch.float64)
    rows, freqs = [torch.ones(p, dtype=torch.float64)], [0]
    for k in range(1, p // 2 + 1):
        rows.append(torch.cos(2 * math.pi * k * n / p))
        freqs.append(k)
        if 2 * k != p:  # sin(pi n) is identically zero for even p
            rows.append(torch.sin(2 * math.pi * k * n / p))
            freqs.append(k)
    basis = torch.stack(rows)
    basis = basis / basis.norm(dim=1, keepdim=True)
    return basis.to(device=device, dtype=dtype), torch.tensor(freqs, device=device)


def fourier_basis(p: int, dtype: torch.dtype = torch.float64, device: torch.device | str = "cpu") -> torch.Tensor:
    """Orthonormal real Fourier basis over Z_p, [p, p], rows = components (see the module docstring)."""
    return _basis(_check_p(p), dtype, str(torch.device(device)))[0]


def component_frequencies(p: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """The frequency of each row of ``fourier_basis(p)``: [p] int64 (0, 1, 1, 2, 2, ...)."""
    return _basis(_check_p(p), torch.float64, str(torch.device(device)))[1]


def _freq_onehot(p: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """[p, n_freq] one-hot: component -> frequency."""
    return F.one_hot(component_frequencies(p, device), n_frequencies(p)).to(dtype)


def _float(x: torch.Tensor) -> torch.dtype:
    return x.dtype if x.dtype in (torch.float32, torch.float64) else torch.float32


# --------------------------------------------------------------------------------------------------- norms


def fourier_component_norms(W: torch.Tensor, per_frequency: bool = False) -> torch.Tensor:
    """Norm of each Fourier component of a symbol-indexed matrix. W: [E, p, d] (row n = symbol n).

    Returns [E, p] (component order of ``fourier_basis``) or, with ``per_frequency``, [E, p // 2 + 1]: the norm
    of the cos and sin components of each frequency together (index 0 the constant). The squares of either sum
    to |W|_F^2 (the basis is orthonormal).
    """
    if not isinstance(W, torch.Tensor) or W.dim() != 3:
        raise ConfigError("representation.fourier.W", f"expected [E, p, d], got {getattr(W, 'shape', type(W))}")
    p = _check_p(W.shape[1])
    dt = _float(W)
    coef = einsum(fourier_basis(p, dt, W.device), W.to(dt), "f n, e n d -> e f d")  # [E, p, d]
    sq = coef.square().sum(dim=-1)  # [E, p]
    if per_frequency:
        sq = sq @ _freq_onehot(p, dt, W.device)  # [E, n_freq]
    return sq.sqrt()


def embedding_fourier_norms(W_E: torch.Tensor, p: int, per_frequency: bool = False) -> torch.Tensor:
    """Fourier-component norms of the symbol rows of an embedding W_E [E, d_vocab, d_model] (rows 0..p-1; the
    "=" row is dropped): [E, p] or [E, p // 2 + 1]."""
    if W_E.dim() != 3 or W_E.shape[1] < p:
        raise ConfigError("representation.fourier.W_E", f"expected [E, >= {p}, d_model], got {tuple(W_E.shape)}")
    return fourier_component_norms(W_E[:, :p], per_frequency)


def unembedding_fourier_norms(W_U: torch.Tensor, p: int, per_frequency: bool = False) -> torch.Tensor:
    """Fourier-component norms of the symbol outputs of an unembedding W_U [E, d_model, d_vocab_out] (columns
    0..p-1, over the output axis): [E, p] or [E, p // 2 + 1]."""
    if W_U.dim() != 3 or W_U.shape[2] < p:
        raise ConfigError("representation.fourier.W_U", f"expected [E, d_model, >= {p}], got {tuple(W_U.shape)}")
    return fourier_component_norms(W_U[:, :, :p].transpose(1, 2), per_frequency)


def neuron_logit_map(W_out: torch.Tensor, W_U: torch.Tensor | None, p: int,
                     neuron_mask: torch.Tensor | None = None) -> torch.Tensor:
    """W_L = W_out W_U restricted to the p symbol logits: [E, d_mlp, p]. W_out [E, d_mlp, d_model] and
    W_U [E, d_model, >= p]; with ``W_U=None``, W_out maps neurons to logits directly ([E, d_mlp, >= p], e.g. an
    EnsembleMLP's last weight). Padded neurons (``neuron_mask`` [E, d_mlp] False) get zero rows."""
    if W_out.dim() != 3:
        raise ConfigError("representation.fourier.W_out", f"expected [E, d_mlp, d], got {tuple(W_out.shape)}")
    if W_U is None:
        if W_out.shape[2] < p:
            raise ConfigError("representation.fourier.W_out", f"needs >= {p} outputs, got {tuple(W_out.shape)}")
        W_L = W_out[:, :, :p]
    else:
        if W_U.dim() != 3 or W_U.shape[1] != W_out.shape[2] or W_U.shape[2] < p or W_U.shape[0] != W_out.shape[0]:
            raise ConfigError("representation.fourier.W_U",
                              f"expected [E, {W_out.shape[2]}, >= {p}], got {tuple(W_U.shape)}")
        W_L = einsum(W_out, W_U[:, :, :p], "e m d, e d c -> e m c")
    if neuron_mask is not None:
        W_L = torch.where(_check_neuron_mask(neuron_mask, W_L.shape[0], W_L.shape[1])[..., None], W_L, 0.0)
    return W_L


def neuron_logit_fourier_norms(W_out: torch.Tensor, W_U: torch.Tensor | None, p: int,
                               per_frequency: bool = False, neuron_mask: torch.Tensor | None = None) -> torch.Tensor:
    """Fourier-component norms of W_L = W_out W_U over the p symbol logits: [E, p] or [E, p // 2 + 1]."""
    return fourier_component_norms(neuron_logit_map(W_out, W_U, p, neuron_mask).transpose(1, 2), per_frequency)


def gini(x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Gini coefficient of non-negative values, per member: x [E, n] -> [E].

    G = sum_ij |x_i - x_j| / (2 n sum_i x_i), computed from the sorted values as
    sum_i (2 i - n - 1) x_(i) / (n sum x) (i = 1..n ascending). 0 for equal values, (n - 1) / n for one non-zero
    value. ``mask`` [E, n] (bool) restricts each member to its own entries (n = its count). NaN when a member's
    values sum to 0.
    """
    if not isinstance(x, torch.Tensor) or x.dim() != 2:
        raise ConfigError("representation.gini.x", f"expected [E, n], got {getattr(x, 'shape', type(x))}")
    if bool((x < 0).any()):
        raise ConfigError("representation.gini.x", "values must be non-negative")
    x = x.to(_float(x))
    if mask is None:
        mask = torch.ones_like(x, dtype=torch.bool)
    elif tuple(mask.shape) != tuple(x.shape) or mask.dtype != torch.bool:
        raise ConfigError("representation.gini.mask", f"expected a boolean mask {tuple(x.shape)}")
    n_all = x.shape[1]
    n = mask.sum(dim=-1, keepdim=True)  # [E, 1]
    xs = torch.sort(torch.where(mask, x, -torch.inf), dim=-1).values  # padding sorts first
    rank = torch.arange(1, n_all + 1, device=x.device, dtype=x.dtype) - (n_all - n).to(x.dtype)  # rank among real
    real = xs > -torch.inf
    num = torch.where(real, (2 * rank - n.to(x.dtype) - 1) * xs, 0.0).sum(dim=-1)
    total = torch.where(real, xs, 0.0).sum(dim=-1)
    return num / (n.squeeze(-1).to(x.dtype) * total)


# ------------------------------------------------------------------------------------------ key frequencies


class KeyFrequencies(NamedTuple):
    """mask [E, p // 2 + 1] bool (index 0, the constant, is never key); neuron_freq [E, d_mlp] int64, the winning
    frequency of each neuron (-1: none: padding, dead, or below ``min_frac_explained``); frac_explained
    [E, d_mlp], the winner's share of the neuron's centred 2-D Fourier power (0 where none)."""

    mask: torch.Tensor
    neuron_freq: torch.Tensor
    frac_explained: torch.Tensor


def _check_neuron_mask(neuron_mask: torch.Tensor, E: int, M: int) -> torch.Tensor:
    if not isinstance(neuron_mask, torch.Tensor) or tuple(neuron_mask.shape) != (E, M) \
            or neuron_mask.dtype != torch.bool:
        raise ConfigError("representation.neuron_mask", f"expected a boolean mask [E={E}, {M}]")
    return neuron_mask


def _check_acts(acts: torch.Tensor, p: int) -> torch.Tensor:
    if not isinstance(acts, torch.Tensor) or acts.dim() != 3 or acts.shape[1] != p * p:
        raise ConfigError("representation.fourier.acts",
                          f"expected activations [E, p*p={p * p}, d_mlp] over the full table, "
                          f"got {getattr(acts, 'shape', type(acts))}")
    return acts


def key_frequencies(acts: torch.Tensor, p: int, neuron_mask: torch.Tensor | None = None,
                    min_frac_explained: float = 0.0) -> KeyFrequencies:
    """Each neuron's frequency and each member's key set (module docstring). acts [E, p*p, d_mlp] over the full
    table (row a * p + b), e.g. the transformer's last-position ``mlp_post``; ``neuron_mask`` [E, d_mlp].

    Memory: two [E, p, p, d_mlp] tensors (the centred activations and their 2-D transform); chunk E if needed.
    """
    p = _check_p(p)
    acts = _check_acts(acts, p)
    E, _, M = acts.shape
    dt = _float(acts)
    x = rearrange(acts.to(dt), "e (a b) m -> e a b m", a=p)
    x = x - x.mean(dim=(1, 2), keepdim=True)  # centre each neuron (removes the const x const term)
    Fb = fourier_basis(p, dt, acts.device)
    # 2-D Fourier coefficients, one axis at a time (a joint 3-operand contraction could build F (x) F, p^4)
    coef = einsum(Fb, einsum(Fb, x, "g b, e a b m -> e a g m"), "f a, e a g m -> e f g m")
    onehot = _freq_onehot(p, dt, acts.device)  # [p, n_freq]
    block = einsum(onehot, einsum(onehot, coef.square(), "g v, e f g m -> e f v m"),
                   "f u, e f v m -> e m u v")  # power per (frequency of a, frequency of b)
    total = block.sum(dim=(2, 3))  # [E, M]
    # frequency k's 3 x 3 block {0, k} x {0, k}: (k, k) quadratic + (0, k), (k, 0) linear + (0, 0)
    explained = torch.diagonal(block, dim1=2, dim2=3)[..., 1:] + block[..., 0, 1:] + block[..., 1:, 0] \
        + block[..., :1, 0]  # [E, M, p // 2]
    frac = explained / torch.where(total > 0, total, 1.0)[..., None]
    best_frac, best = frac.max(dim=-1)  # first maximum on ties
    valid = (total > 0) & (best_frac >= min_frac_explained)
    if neuron_mask is not None:
        valid = valid & _check_neuron_mask(neuron_mask, E, M)
    neuron_freq = torch.where(valid, best + 1, -1)
    mask = torch.zeros(E, n_frequencies(p), dtype=torch.int64, device=acts.device)
    mask.scatter_add_(1, torch.where(valid, neuron_freq, 0), valid.to(torch.int64))
    mask = mask > 0
    mask[:, 0] = False
    return KeyFrequencies(mask, neuron_freq, torch.where(valid, best_frac, 0.0))


# ---------------------------------------------------------------------------------------- restricted loss


def sum_directions(p: int, sign: int = 1, dtype: torch.dtype = torch.float64,
                   device: torch.device | str = "cpu") -> torch.Tensor:
    """Unit vectors over the p^2 table: rows cos(w_k (a + sign b)), sin(w_k (a + sign b)) for k = 1..p // 2
    (w_k = 2 pi k / p; row 2(k-1) cos, 2(k-1)+1 sin): [2 (p // 2), p*p]. For even p, sin at k = p / 2 is
    identically zero and its row is left zero. sign = 1 for a + b, -1 for a - b."""
    p = _check_p(p)
    if sign not in (1, -1):
        raise ConfigError("representation.fourier.sign", f"must be 1 (a + b) or -1 (a - b), got {sign!r}")
    a = torch.arange(p, dtype=torch.float64)
    s = (a[:, None] + sign * a[None, :]).reshape(-1)  # [p*p], row a * p + b
    k = torch.arange(1, p // 2 + 1, dtype=torch.float64)[:, None]
    ang = 2 * math.pi * k * s[None, :] / p  # [K, p*p]
    dirs = rearrange(torch.stack([torch.cos(ang), torch.sin(ang)], dim=1), "k t n -> (k t) n")
    norm = dirs.norm(dim=1, keepdim=True)
    dirs = torch.where(norm > 1e-6, dirs / torch.where(norm > 1e-6, norm, 1.0), 0.0)
    return dirs.to(device=device, dtype=dtype)


def masked_cross_entropy(logits: torch.Tensor, labels: torch.Tensor, row_mask: torch.Tensor | None = None
                         ) -> torch.Tensor:
    """Mean cross entropy over each member's rows, in float64. logits [E, N, C]; labels [N] (shared) or [E, N];
    row_mask [E, N] bool (None: all rows). Returns [E] (NaN for a member with no rows)."""
    E, N, C = logits.shape
    if labels.dim() == 1:
        labels = labels.expand(E, N)
    if tuple(labels.shape) != (E, N):
        raise ConfigError("representation.labels", f"expected labels [{N}] or [{E}, {N}], got {tuple(labels.shape)}")
    logp = torch.log_softmax(logits.to(torch.float64), dim=-1)
    nll = -logp.gather(-1, labels[..., None].to(torch.int64)).squeeze(-1)  # [E, N]
    if row_mask is None:
        return nll.mean(dim=-1)
    if tuple(row_mask.shape) != (E, N) or row_mask.dtype != torch.bool:
        raise ConfigError("representation.row_mask", f"expected a boolean row mask [{E}, {N}]")
    n = row_mask.sum(dim=-1)
    s = torch.where(row_mask, nll, 0.0).sum(dim=-1)
    return torch.where(n > 0, s / n.clamp(min=1), torch.nan)


def fourier_ablation_logits(acts: torch.Tensor | None, W_out: torch.Tensor | None, W_U: torch.Tensor | None,
                            logits: torch.Tensor, key_mask: torch.Tensor, p: int, path: str = "neurons",
                            sign: int = 1, neuron_mask: torch.Tensor | None = None
                            ) -> tuple[torch.Tensor, torch.Tensor]:
    """Restricted and excluded logits over the full table, each [E, p*p, p] (module docstring).

    logits [E, p*p, >= p]: the model's logits at the answer position (first p used); key_mask [E, p // 2 + 1]
    (``KeyFrequencies.mask``; index 0 ignored). path "neurons" (the paper): acts [E, p*p, d_mlp], W_out, W_U as
    in ``neuron_logit_map``. path "logits" (the public code): project the logits themselves; acts, W_out, W_U
    are not used.
    """
    p = _check_p(p)
    if logits.dim() != 3 or logits.shape[1] != p * p or logits.shape[2] < p:
        raise ConfigError("representation.fourier.logits", f"expected [E, {p * p}, >= {p}], got {tuple(logits.shape)}")
    E = logits.shape[0]
    if tuple(key_mask.shape) != (E, n_frequencies(p)) or key_mask.dtype != torch.bool:
        raise ConfigError("representation.fourier.key_mask", f"expected a boolean mask [{E}, {n_frequencies(p)}]")
    dt = torch.float64 if logits.dtype == torch.float64 else torch.float32
    U = sum_directions(p, sign, dt, logits.device)  # [K2, N]
    keep = key_mask[:, 1:].repeat_interleave(2, dim=1)  # [E, K2]: cos and sin of each key frequency
    out = logits[:, :, :p].to(dt)
    if path == "neurons":
        if acts is None or W_out is None:
            raise ConfigError("representation.fourier.path", "path 'neurons' needs acts and W_out")
        acts = _check_acts(acts, p)
        W_L = neuron_logit_map(W_out, W_U, p, neuron_mask).to(dt)  # [E, M, p]
        x = acts.to(dt)
        if neuron_mask is not None:
            x = torch.where(neuron_mask[:, None, :], x, 0.0)
        coef = einsum(U, x, "k n, e n m -> e k m")  # activations along each direction
        coef = einsum(torch.where(keep[..., None], coef, 0.0), W_L, "e k m, e m c -> e k c")
    elif path == "logits":
        coef = torch.where(keep[..., None], einsum(U, out, "k n, e n c -> e k c"), 0.0)
    else:
        raise ConfigError("representation.fourier.path", f"must be 'neurons' or 'logits', got {path!r}")
    proj = einsum(U, coef, "k n, e k c -> e n c")  # [E, N, p]: the key-frequency part of the logits
    restricted = proj - proj.mean(dim=1, keepdim=True) + out.mean(dim=1, keepdim=True)
    excluded = out - proj
    return restricted, excluded


def fourier_ablation_losses(acts: torch.Tensor | None, W_out: torch.Tensor | None, W_U: torch.Tensor | None,
                            logits: torch.Tensor, labels: torch.Tensor, key_mask: torch.Tensor,
                            row_mask: torch.Tensor | None, p: int, path: str = "neurons", sign: int = 1,
                            neuron_mask: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """{"restricted": [E], "excluded": [E]}: float64 cross entropy of the restricted / excluded logits over
    ``row_mask`` [E, p*p] (SCIENCE.md: the training rows; None: all rows). labels [p*p] or [E, p*p]."""
    restricted, excluded = fourier_ablation_logits(acts, W_out, W_U, logits, key_mask, p, path, sign, neuron_mask)
    return {"restricted": masked_cross_entropy(restricted, labels, row_mask),
            "excluded": masked_cross_entropy(excluded, labels, row_mask)}


def restricted_loss(acts, W_out, W_U, logits, labels, key_mask, row_mask, p, path="neurons", sign=1,
                    neuron_mask=None) -> torch.Tensor:
    """Restricted loss [E] (``fourier_ablation_losses``)."""
    return fourier_ablation_losses(acts, W_out, W_U, logits, labels, key_mask, row_mask, p, path, sign,
                                   neuron_mask)["restricted"]


def excluded_loss(acts, W_out, W_U, logits, labels, key_mask, row_mask, p, path="neurons", sign=1,
                  neuron_mask=None) -> torch.Tensor:
    """Excluded loss [E] (``fourier_ablation_losses``)."""
    return fourier_ablation_losses(acts, W_out, W_U, logits, labels, key_mask, row_mask, p, path, sign,
                                   neuron_mask)["excluded"]
