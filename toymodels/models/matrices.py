"""The weight matrices of an ensemble model, as spectral analysis wants them: {layer: [E, N, M]} (or a list of
per-member matrices where members have different true widths: padding stripped, since zero padding adds zero
eigenvalues and changes the aspect ratio).

Transformer heads are combined: W_Q/W_K/W_V [E, H, d_model, d_head] -> [E, d_model, H * d_head] and W_O
[E, H, d_head, d_model] -> [E, H * d_head, d_model]; one head's 128 x 32 block has only 32 eigenvalues, too few
for a power-law fit. The positional embedding (3 rows) is left out.
"""
from __future__ import annotations

import torch
from einops import rearrange

from .mlp import EnsembleLiuToy, EnsembleMLP
from .transformer import EnsembleTransformer


def _mlp_matrices(mlp: EnsembleMLP, prefix: str) -> dict:
    out = {}
    true = mlp.widths.tolist()
    for i, W in enumerate(mlp.weights):  # [E, in, out]
        name = f"{prefix}weights.{i}"
        if not mlp.padded:
            out[name] = W.detach()
            continue
        rows = [mlp.in_dim] + [None] * (mlp.depth - 1)
        out[name] = [W[e, : (rows[i] or true[e]), : (true[e] if i < mlp.depth - 1 else mlp.n_out)].detach()
                     for e in range(W.shape[0])]
    return out


def weight_matrices(model) -> dict[str, torch.Tensor | list[torch.Tensor]]:
    if isinstance(model, EnsembleTransformer):
        heads_in = lambda W: rearrange(W.detach(), "e h d k -> e d (h k)")  # noqa: E731
        return {"embed.W_E": model.W_E.detach(), "attn.W_Q": heads_in(model.W_Q), "attn.W_K": heads_in(model.W_K),
                "attn.W_V": heads_in(model.W_V), "attn.W_O": rearrange(model.W_O.detach(), "e h k d -> e (h k) d"),
                "mlp.W_in": model.W_in.detach(), "mlp.W_out": model.W_out.detach(), "unembed.W_U": model.W_U.detach()}
    if isinstance(model, EnsembleLiuToy):
        out = {"embedding": model.embedding.detach()} if model.d_embed > 1 else {}
        out.update(_mlp_matrices(model.decoder, "decoder."))
        return out
    if isinstance(model, EnsembleMLP):
        return _mlp_matrices(model, "")
    return {n: p.detach() for n, p in model.named_parameters() if p.dim() == 3}
