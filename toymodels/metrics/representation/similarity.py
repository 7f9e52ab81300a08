"""Weight norms, effective rank and linear CKA of ensemble members' representations.

Hidden representations are [E, B, H]: member e's activations on B inputs (the same B inputs for every member
where members are compared). Width padding: ``mask`` [E, H] marks each member's real units (e.g.
``EnsembleMLP.hidden_mask``); padded units are set to zero before anything is computed, and a zero column changes
neither the singular values' distribution nor CKA, so padding leaves every result unchanged. All results are
computed in float64.
"""
from __future__ import annotations

from typing import Mapping

import torch
from einops import einsum
from torch import nn

from ...errors import ConfigError


def weight_norms(params: Mapping[str, torch.Tensor] | nn.Module) -> dict[str, torch.Tensor]:
    """Frobenius norm of each stacked parameter per member, and "total" = sqrt of the sum of their squares:
    {name: [E]} (float64). ``params``: an ensemble module (its ``named_parameters()``) or a mapping of
    [E, ...] tensors. Padded entries are zero and add nothing."""
    items = dict(params.named_parameters()) if isinstance(params, nn.Module) else dict(params)
    if not items:
        raise ConfigError("representation.weight_norms.params", "no parameters given")
    out = {}
    E = None
    for name, t in items.items():
        if t.dim() < 1 or (E is not None and t.shape[0] != E):
            raise ConfigError("representation.weight_norms.params",
                              f"{name}: every tensor needs the same leading member axis, got {tuple(t.shape)}")
        E = t.shape[0]
        out[name] = t.detach().to(torch.float64).reshape(E, -1).norm(dim=1)
    out["total"] = torch.stack([v for v in out.values()]).square().sum(dim=0).sqrt()
    return out


def _prepare(h: torch.Tensor, mask: torch.Tensor | None, key: str) -> torch.Tensor:
    """[E, B, H] in float64 with padded units zeroed."""
    if not isinstance(h, torch.Tensor) or h.dim() != 3:
        raise ConfigError(key, f"expected representations [E, B, H], got {getattr(h, 'shape', type(h))}")
    x = h.detach().to(torch.float64)
    if mask is not None:
        E, _, H = x.shape
        if not isinstance(mask, torch.Tensor) or tuple(mask.shape) != (E, H) or mask.dtype != torch.bool:
            raise ConfigError(key + "_mask", f"expected a boolean width mask [{E}, {H}]")
        x = torch.where(mask[:, None, :], x, 0.0)
    return x


def effective_rank(h: torch.Tensor, mask: torch.Tensor | None = None, row_mask: torch.Tensor | None = None,
                   center: bool = False) -> torch.Tensor:
    """Roy & Vetterli (2007)'s effective rank of each member's representation matrix: [E, B, H] -> [E].

    erank = exp(-sum_k q_k log q_k), q_k = sigma_k / sum_j sigma_j over the singular values sigma of the
    B x H matrix (0 log 0 = 0). Between 1 and min(B, H_true). ``mask`` [E, H]: real units; ``row_mask``
    [E, B]: each member's rows (others zeroed, which adds only zero singular values). ``center``: subtract each
    unit's mean over the member's rows first (Roy & Vetterli's definition is on the raw matrix, the default).
    NaN for an all-zero matrix.
    """
    x = _prepare(h, mask, "representation.effective_rank.h")
    if row_mask is not None:
        if tuple(row_mask.shape) != tuple(x.shape[:2]) or row_mask.dtype != torch.bool:
            raise ConfigError("representation.effective_rank.row_mask", f"expected a boolean mask {tuple(x.shape[:2])}")
        x = torch.where(row_mask[..., None], x, 0.0)
    if center:
        n = x.shape[1] if row_mask is None else row_mask.sum(dim=1).clamp(min=1)[:, None, None]
        mean = x.sum(dim=1, keepdim=True) / n
        x = x - mean if row_mask is None else torch.where(row_mask[..., None], x - mean, 0.0)
    s = torch.linalg.svdvals(x)  # [E, min(B, H)]
    q = s / s.sum(dim=-1, keepdim=True)
    ent = -torch.where(q > 0, q * torch.log(torch.where(q > 0, q, 1.0)), 0.0).sum(dim=-1)
    return torch.exp(ent)


def _centred(h: torch.Tensor, mask: torch.Tensor | None, key: str) -> torch.Tensor:
    x = _prepare(h, mask, key)
    return x - x.mean(dim=1, keepdim=True)  # a zero (padded) column stays zero


def _self_norm(x: torch.Tensor) -> torch.Tensor:
    """||X^T X||_F = ||X X^T||_F per member, through the smaller Gram matrix: [E, B, H] -> [E]."""
    if x.shape[2] <= x.shape[1]:
        g = einsum(x, x, "e b h, e b k -> e h k")
    else:
        g = einsum(x, x, "e b h, e c h -> e b c")
    return g.square().sum(dim=(1, 2)).sqrt()


def linear_cka(x: torch.Tensor, y: torch.Tensor, x_mask: torch.Tensor | None = None,
               y_mask: torch.Tensor | None = None) -> torch.Tensor:
    """Linear CKA (Kornblith et al. 2019) between member e's x and member e's y: [E, B, Hx], [E, B, Hy] -> [E].

    CKA = ||Y^T X||_F^2 / (||X^T X||_F ||Y^T Y||_F) with every unit centred over the B inputs. Use it for each
    member against its own state at initialisation (same inputs). Widths may differ (``x_mask``, ``y_mask``).
    In [0, 1]; NaN when a representation is constant.
    """
    xc = _centred(x, x_mask, "representation.cka.x")
    yc = _centred(y, y_mask, "representation.cka.y")
    if xc.shape[:2] != yc.shape[:2]:
        raise ConfigError("representation.cka.y",
                          f"x and y need the same [E, B], got {tuple(xc.shape)} and {tuple(yc.shape)}")
    E, B, Hx = xc.shape
    Hy = yc.shape[2]
    if Hx * Hy <= B * B:
        cross = einsum(yc, xc, "e b k, e b h -> e k h").square().sum(dim=(1, 2))
    else:
        cross = (einsum(xc, xc, "e b h, e c h -> e b c") * einsum(yc, yc, "e b k, e c k -> e b c")).sum(dim=(1, 2))
    return cross / (_self_norm(xc) * _self_norm(yc))


def linear_cka_matrix(x: torch.Tensor, mask: torch.Tensor | None = None, y: torch.Tensor | None = None,
                      y_mask: torch.Tensor | None = None) -> torch.Tensor:
    """Linear CKA between every pair of members: x [E, B, H] (and y [F, B, H'], default x) -> [E, F].

    Computed through whichever is smaller: the input Gram matrices (memory (E + F) B^2, one [E, B^2] x
    [B^2, F] product) or the pairwise feature cross-covariances (memory E F H H'); subsample the B inputs for
    large tables. Symmetric with ones on the diagonal when y is x.
    """
    xc = _centred(x, mask, "representation.cka.x")
    yc = xc if y is None else _centred(y, y_mask, "representation.cka.y")
    if y is not None and yc.shape[1] != xc.shape[1]:
        raise ConfigError("representation.cka.y",
                          f"x and y need the same inputs B, got {xc.shape[1]} and {yc.shape[1]}")
    E, B, H = xc.shape
    F, _, H2 = yc.shape
    if (E + F) * B * B <= E * F * H * H2:
        kx = einsum(xc, xc, "e b h, e c h -> e b c").reshape(E, B * B)
        ky = kx if y is None else einsum(yc, yc, "f b h, f c h -> f b c").reshape(F, B * B)
        cross = kx @ ky.T  # [E, F]: <K_e, L_f> = ||Y_f^T X_e||_F^2
    else:
        cross = einsum(xc, yc, "e b h, f b k -> e f h k").square().sum(dim=(2, 3))
    nx = _self_norm(xc)
    ny = nx if y is None else _self_norm(yc)
    return cross / (nx[:, None] * ny[None, :])
