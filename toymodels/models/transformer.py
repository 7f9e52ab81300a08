"""Nanda et al. (2023)'s one-layer transformer for modular arithmetic, as an ensemble.

Input tokens (a, b, =) with vocabulary n_symbols + 1, learned positional embeddings, one attention layer
(n_heads x d_head, no biases, 1/sqrt(d_head) scaling), a ReLU MLP with biases, no LayerNorm, an unembedding
without bias; the loss reads the last position. Initialisation as in the progress-measures code
(``transformers.py``): N(0, 1/d_model) for W_E, W_pos, W_Q, W_K, W_V, W_O, W_in, W_out; N(0, 1/d_vocab_out) for
W_U; zero MLP biases. By default the unembedding has a logit for every input token including "=" (n_symbols + 1
outputs), as in that code.

Only the last position's output reaches the logits, so only its attention row and MLP are computed, and since
the "=" query is the same for every row, keys, values and their W_O images are computed once per symbol rather
than once per row (``symbol_tables``): exact algebra, not an approximation.

Parameters use TransformerLens' layouts with a leading E: W_E [E, d_vocab, d_model], W_pos [E, 3, d_model],
W_Q/W_K/W_V [E, H, d_model, d_head], W_O [E, H, d_head, d_model], W_in [E, d_model, d_mlp], b_in [E, d_mlp],
W_out [E, d_mlp, d_model], b_out [E, d_model], W_U [E, d_model, d_vocab_out].
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import einsum

from .base import EnsembleModel, gather_rows, stacked

TL_NAMES = {
    "W_E": "embed.W_E", "W_pos": "pos_embed.W_pos", "W_Q": "blocks.0.attn.W_Q", "W_K": "blocks.0.attn.W_K",
    "W_V": "blocks.0.attn.W_V", "W_O": "blocks.0.attn.W_O", "W_in": "blocks.0.mlp.W_in",
    "b_in": "blocks.0.mlp.b_in", "W_out": "blocks.0.mlp.W_out", "b_out": "blocks.0.mlp.b_out",
    "W_U": "unembed.W_U",
}


class EnsembleTransformer(EnsembleModel):
    input_kind = "pairs"
    param_groups = {"W_E": "embedding", "W_pos": "embedding", "W_U": "unembedding"}

    def __init__(self, n_members: int, n_symbols: int, n_classes: int, d_model: int = 128, n_heads: int = 4,
                 d_head: int = 32, d_mlp: int = 512, act: str = "relu", logit_for_equals: bool = True):
        super().__init__(n_members)
        if act not in ("relu", "gelu"):
            raise ValueError(f"act must be relu or gelu, got {act!r}")
        self.n_symbols, self.d_model, self.n_heads, self.d_head, self.d_mlp = n_symbols, d_model, n_heads, d_head, d_mlp
        self.d_vocab = n_symbols + 1  # the "=" token is the last
        self.d_vocab_out = n_classes + 1 if logit_for_equals else n_classes
        self.act = act
        self.n_outputs = self.d_vocab_out
        E, H = n_members, n_heads
        self.W_E = stacked(E, self.d_vocab, d_model)
        self.W_pos = stacked(E, 3, d_model)
        self.W_Q = stacked(E, H, d_model, d_head)
        self.W_K = stacked(E, H, d_model, d_head)
        self.W_V = stacked(E, H, d_model, d_head)
        self.W_O = stacked(E, H, d_head, d_model)
        self.W_in = stacked(E, d_model, d_mlp)
        self.b_in = stacked(E, d_mlp)
        self.W_out = stacked(E, d_mlp, d_model)
        self.b_out = stacked(E, d_model)
        self.W_U = stacked(E, d_model, self.d_vocab_out)

    def init_member(self, member, g):
        d, H, dh, m = self.d_model, self.n_heads, self.d_head, self.d_mlp
        randn = lambda *shape: torch.randn(*shape, generator=g, dtype=torch.float64)  # noqa: E731
        return {
            "W_E": randn(self.d_vocab, d) / d**0.5, "W_pos": randn(3, d) / d**0.5,
            "W_Q": randn(H, d, dh) / d**0.5, "W_K": randn(H, d, dh) / d**0.5, "W_V": randn(H, d, dh) / d**0.5,
            "W_O": randn(H, dh, d) / d**0.5, "W_in": randn(d, m) / d**0.5, "b_in": torch.zeros(m, dtype=torch.float64),
            "W_out": randn(m, d) / d**0.5, "b_out": torch.zeros(d, dtype=torch.float64),
            "W_U": randn(d, self.d_vocab_out) / self.d_vocab_out**0.5,
        }

    def symbol_tables(self) -> dict[str, torch.Tensor]:
        """What attention needs, per member and per symbol rather than per row.

        Only the "=" position's output reaches the logits, and its residual (W_E["="] + W_pos[2]) is the same for
        every row, so its query is one vector per member; keys and values at positions 0 and 1 depend only on the
        symbol there. Returns scores s_a, s_b [E, S, H] (s_eq [E, H]) already scaled by 1/sqrt(d_head), values
        v_a, v_b [E, S, H, d_head] (v_eq [E, H, d_head]) and resid_eq [E, d].
        """
        S = self.n_symbols
        emb_a = self.W_E[:, :S] + self.W_pos[:, None, 0]  # [E, S, d]
        emb_b = self.W_E[:, :S] + self.W_pos[:, None, 1]
        resid_eq = self.W_E[:, -1] + self.W_pos[:, 2]  # [E, d]
        q = einsum(resid_eq, self.W_Q, "e d, e h d k -> e h k") / self.d_head**0.5

        def score_and_value(emb):
            k = einsum(emb, self.W_K, "e s d, e h d k -> e s h k")
            return einsum(k, q, "e s h k, e h k -> e s h"), einsum(emb, self.W_V, "e s d, e h d k -> e s h k")

        s_a, v_a = score_and_value(emb_a)
        s_b, v_b = score_and_value(emb_b)
        s_eq, v_eq = score_and_value(resid_eq[:, None])
        return {"s_a": s_a, "s_b": s_b, "s_eq": s_eq[:, 0], "v_a": v_a, "v_b": v_b, "v_eq": v_eq[:, 0],
                "resid_eq": resid_eq}

    def activations(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Last-position activations. x: [B, 2] shared or [E, B, 2] per-member operand pairs. Returns
        attn [E, B, H, 3] (attention of the "=" query on a, b, =), mlp_pre / mlp_post [E, B, d_mlp] and
        resid_post [E, B, d].

        Scores and values come from per-symbol tables (``symbol_tables``): the same sums as attending row by
        row, in another order, without per-row key, query and value products.
        """
        per_member = x.dim() == 3
        t = self.symbol_tables()
        B = x.shape[-2]
        scores = torch.stack([gather_rows(t["s_a"], x[..., 0], per_member), gather_rows(t["s_b"], x[..., 1], per_member),
                              t["s_eq"][:, None, :].expand(-1, B, -1)], dim=-1)  # [E, B, H, 3]
        attn = F.softmax(scores, dim=-1)
        H, k = self.n_heads, self.d_head
        v_a = gather_rows(t["v_a"].flatten(2), x[..., 0], per_member).unflatten(-1, (H, k))  # [E, B, H, k]
        v_b = gather_rows(t["v_b"].flatten(2), x[..., 1], per_member).unflatten(-1, (H, k))
        z = attn[..., 0, None] * v_a + attn[..., 1, None] * v_b + attn[..., 2, None] * t["v_eq"][:, None]
        mid = t["resid_eq"][:, None, :] + einsum(z, self.W_O, "e b h k, e h k d -> e b d")
        pre = einsum(mid, self.W_in, "e b d, e d m -> e b m") + self.b_in[:, None]
        post = F.relu(pre) if self.act == "relu" else F.gelu(pre)
        out = mid + einsum(post, self.W_out, "e b m, e m d -> e b d") + self.b_out[:, None]
        return {"attn": attn, "mlp_pre": pre, "mlp_post": post, "resid_post": out}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: [B, 2] or [E, B, 2] int64 operand pairs -> logits [E, B, d_vocab_out] at the last position."""
        h = self.activations(x)["resid_post"]
        return einsum(h, self.W_U, "e b d, e d v -> e b v")

    def member_state(self, e):
        return {TL_NAMES[n]: p[e].detach().clone() for n, p in self.named_parameters()}
