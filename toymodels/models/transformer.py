"""Nanda et al. (2023)'s one-layer transformer for modular arithmetic, as an ensemble.

Input tokens (a, b, =) with vocabulary n_symbols + 1, learned positional embeddings, one attention layer
(n_heads x d_head, no biases, 1/sqrt(d_head) scaling), a ReLU MLP with biases, no LayerNorm, an unembedding
without bias; the loss reads the last position. Initialisation as in the progress-measures code
(``transformers.py``): N(0, 1/d_model) for W_E, W_pos, W_Q, W_K, W_V, W_O, W_in, W_out; N(0, 1/d_vocab_out) for
W_U; zero MLP biases. By default the unembedding has a logit for every input token including "=" (n_symbols + 1
outputs), as in that code.

Only the last position's output reaches the logits, so only its attention row and MLP are computed, and since
the "=" query is the same for every row, attention scores and values are computed once per symbol rather
than once per row (``symbol_tables``): exact algebra, not an approximation.

Parameters use TransformerLens' layouts with a leading E: W_E [E, d_vocab, d_model], W_pos [E, 3, d_model],
W_Q/W_K/W_V [E, H, d_model, d_head], W_O [E, H, d_head, d_model], W_in [E, d_model, d_mlp], b_in [E, d_mlp],
W_out [E, d_mlp, d_model], b_out [E, d_model], W_U [E, d_model, d_vocab_out].
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

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

        Only the "=" position's output reaches the logits, and its residual r_eq = W_E["="] + W_pos[2] is the same
        for every row, so each head's query q_h = r_eq W_Q[h] / sqrt(d_head) is one vector per member, and a
        residual r's score is (r W_K[h]) . q_h = r . u_h with u_h = W_K[h] q_h; keys and values at positions 0 and
        1 depend only on the symbol there. So one product of W_E (and of W_pos) with [u_1 .. u_H | W_V[1] .. W_V[H]]
        gives every symbol's scores and values at once. Returns ``a``, ``b`` [E, S, H + H d_head] (position 0 / 1:
        the H scores, then the H values of d_head), ``eq`` [E, H + H d_head] (the "=" position's) and ``resid_eq``
        [E, d]."""
        S, H, k = self.n_symbols, self.n_heads, self.d_head
        resid_eq = self.W_E[:, -1] + self.W_pos[:, 2]  # [E, d]
        q = torch.matmul(resid_eq[:, None, None, :], self.W_Q) / k**0.5  # [E, H, 1, k]
        u = torch.matmul(self.W_K, q.mT)[..., 0]  # [E, H, d]
        W_V = self.W_V.permute(0, 2, 1, 3).flatten(2)  # [E, d, H k]
        proj = torch.cat([u.mT, W_V], dim=2)  # [E, d, H + H k]
        emb, pos = torch.bmm(self.W_E, proj), torch.bmm(self.W_pos, proj)  # [E, V, H + H k], [E, 3, H + H k]
        return {"a": emb[:, :S] + pos[:, None, 0], "b": emb[:, :S] + pos[:, None, 1], "eq": emb[:, -1] + pos[:, 2],
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
        E, B, H, k = self.n_members, x.shape[-2], self.n_heads, self.d_head
        rows_a = gather_rows(t["a"], x[..., 0], per_member)  # [E, B, H + H k]
        rows_b = gather_rows(t["b"], x[..., 1], per_member)
        eq = t["eq"][:, None]  # [E, 1, H + H k]
        scores = torch.stack([rows_a[..., :H], rows_b[..., :H], eq[..., :H].expand(E, B, H)], dim=-1)  # [E, B, H, 3]
        attn = F.softmax(scores, dim=-1)
        value = lambda rows: rows[..., H:].unflatten(-1, (H, k))  # noqa: E731  [E, B | 1, H, k]
        z = attn[..., 0, None] * value(rows_a) + attn[..., 1, None] * value(rows_b) + attn[..., 2, None] * value(eq)
        mid = torch.baddbmm(t["resid_eq"][:, None], z.flatten(2), self.W_O.flatten(1, 2))  # [E, B, d]
        pre = torch.baddbmm(self.b_in[:, None], mid, self.W_in)  # [E, B, d_mlp]
        post = F.relu(pre) if self.act == "relu" else F.gelu(pre)
        out = torch.baddbmm(mid + self.b_out[:, None], post, self.W_out)  # [E, B, d]
        return {"attn": attn, "mlp_pre": pre, "mlp_post": post, "resid_post": out}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: [B, 2] or [E, B, 2] int64 operand pairs -> logits [E, B, d_vocab_out] at the last position."""
        return torch.bmm(self.activations(x)["resid_post"], self.W_U)  # [E, B, d] @ [E, d, V] -> [E, B, V]

    def member_state(self, e):
        return {TL_NAMES[n]: p[e].detach().clone() for n, p in self.named_parameters()}
