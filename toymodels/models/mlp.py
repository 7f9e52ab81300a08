"""Multilayer perceptrons as ensembles: the one-hot MLP of Gromov and Prieto et al., Omnigrok's image MLP, and the
stack behind Liu et al.'s decoder.

``depth`` counts weight layers (Omnigrok's "depth 3" = in -> width -> width -> out; Prieto's hidden [200, 200] is
depth 3; Gromov's two-layer net is depth 2). Each member may have its own hidden width (``widths``): hidden units
beyond it are padding, initialised to zero and held at zero (they receive no gradient), and every fan-in uses the
member's true width. Weights are stored input-major, W: [E, in, out], so a layer is ``x @ W + b``.

On operand pairs the first layer acts on the concatenated one-hot vectors of a and b; it is computed as the sum of
two rows of W_0 (rows a and n_symbols + b), which equals the one-hot matmul exactly.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from ..activations import activation, canonical_activation
from .base import EnsembleModel, gather_pair_sum, linear_init, member_matmul, stacked
from .pair_mlp import PairTiles, tiled_pair_mlp
from .pair_mlp_ce import pair_mlp_cross_entropy
from .pair_mlp_ce_eager import pair_cross_entropy_tiles

#: the activations MLPs and Liu's toy support ("identity" is accepted as an alias of "linear")
ACTIVATIONS = {name: activation(name) for name in ("relu", "tanh", "gelu", "quadratic", "linear")}


class EnsembleMLP(EnsembleModel):
    def __init__(self, n_members: int, in_dim: int, n_out: int, width: int = 200, depth: int = 3,
                 act: str = "relu", bias: bool = True, input_kind: str = "dense",
                 widths: Sequence[int] | None = None):
        super().__init__(n_members)
        act = canonical_activation(act)
        if act not in ACTIVATIONS:
            raise ValueError(f"act must be one of {sorted(ACTIVATIONS)}, got {act!r}")
        if depth < 1:
            raise ValueError(f"depth counts weight layers and must be >= 1, got {depth}")
        self.input_kind, self.in_dim, self.n_out, self.depth, self.act, self.bias = \
            input_kind, in_dim, n_out, depth, act, bias
        self.n_outputs = n_out
        widths = [width] * n_members if widths is None else [int(w) for w in widths]
        if len(widths) != n_members or min(widths) < 1:
            raise ValueError(f"need {n_members} widths >= 1, got {widths}")
        self.width = max(widths)
        self.register_buffer("widths", torch.tensor(widths), persistent=False)
        self.padded = depth > 1 and min(widths) < self.width
        self.register_buffer("hidden_mask", torch.arange(self.width)[None, :] < self.widths[:, None],
                             persistent=False)  # [E, H]
        sizes = [in_dim] + [self.width] * (depth - 1) + [n_out]
        self.weights = nn.ParameterList(stacked(n_members, i, o) for i, o in zip(sizes[:-1], sizes[1:]))
        self.biases = nn.ParameterList(stacked(n_members, o) for o in sizes[1:]) if bias else None

    def init_member(self, member, g):
        w = int(self.widths[member])
        true = [self.in_dim] + [w] * (self.depth - 1) + [self.n_out]
        padded = [self.in_dim] + [self.width] * (self.depth - 1) + [self.n_out]
        out = {}
        for i in range(self.depth):
            W, b = linear_init(g, true[i], true[i + 1], padded[i], padded[i + 1], self.bias)
            out[f"weights.{i}"] = W
            if self.bias:
                out[f"biases.{i}"] = b
        return out

    def hidden(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Post-activation hidden layers [E, B, H] (depth - 1 of them) and the output [E, B, n_out] last.
        x: [B, in] dense / [B, 2] pairs (shared) or [E, B, in] / [E, B, 2] (per member)."""
        act = ACTIVATIONS[self.act]
        outs = []
        for i, W in enumerate(self.weights):
            if i == 0 and self.input_kind == "pairs":
                per_member = x.dim() == 3
                n_sym = self.in_dim // 2
                h = gather_pair_sum(W, x[..., 0], x[..., 1] + n_sym, per_member)
            elif i == 0 and x.dim() == 2:  # shared dense input
                h = torch.matmul(x, W)  # [B, in] @ [E, in, out] -> [E, B, out]
            else:
                h = member_matmul(h if i else x, W)
            if self.bias:
                h = h + self.biases[i][:, None]
            if i < self.depth - 1:
                h = act(h)
                if self.padded:
                    h = torch.where(self.hidden_mask[:, None, :], h, 0.0)
            outs.append(h)
        return outs

    _tiles_cache: tuple | None = None  # (x, its version and the shapes, PairTiles): see _pair_tiles

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_rows(x, None)

    def forward_rows(self, x: torch.Tensor, rows: Sequence[int] | None) -> torch.Tensor:
        """One-hot pairs through a two-layer net on the CPU take the tiled kernel (``pair_mlp``): per-member
        pairs [E, B, 2] in training (forward + backward 2.1x faster than autograd's path on the main job's training
        rows, ``scripts/bench_main_job.py --parts kernel``; it skips each member's rows past ``rows[e]``) and the
        shared table [R, 2] in evaluation (the main job's ``evaluate()``: 9.7 vs 16.8 ms, E = 20, R = 961, one
        thread of the 2-core CPU); everything else, autocast and compilation included, takes autograd's path."""
        if self._tiled(x) and x.dim() == 2:  # pairs shared by every member (evaluation on the table)
            x = x.expand(self.n_members, *x.shape)
        if self._tiled(x):
            W0, b0, W1, b1, a, b, mask = self._pair_operands(x)
            return tiled_pair_mlp(W0, b0, W1, b1, a, b, self.act, mask, rows, self._pair_tiles(x, a, b, rows))
        return self.hidden(x)[-1]

    def _pair_tiles(self, x: torch.Tensor, a: torch.Tensor, b: torch.Tensor, rows) -> PairTiles:
        """The tiled kernel's index tensors for the batch x, kept while the same x comes back unchanged (a
        full-batch engine feeds one batch tensor every step)."""
        W0 = self.weights[0]
        key = (x._version, W0.shape, None if rows is None else tuple(rows))
        hit = self._tiles_cache
        if hit is None or hit[0] is not x or hit[1] != key:
            hit = (x, key, PairTiles(a, b, W0.shape[1], W0.shape[-1], rows))
            self._tiles_cache = hit
        return hit[2]

    def fused_mean_loss(self, x, y, valid, rows, head):
        """On the CPU, Gromov's two-layer net on per-member pairs with a softmax cross-entropy head computes loss
        and gradients in one pass of tiles: eagerly ``pair_mlp_ce_eager`` (lookups and activations once, the
        softmax on the tiles' rows only), under torch.compile ``pair_mlp_ce``, written for inductor to fuse."""
        if not (self._pairs_cpu(x) and x.dim() == 3 and getattr(head, "softmax_cross_entropy", False)):
            return None
        W0, b0, W1, b1, a, b, mask = self._pair_operands(x)
        if torch.compiler.is_compiling():
            return pair_mlp_cross_entropy(W0, b0, W1, b1, a, b, y, valid, self.act, mask, rows)
        return pair_cross_entropy_tiles(W0, b0, W1, b1, y, valid, self.act, mask, self._pair_tiles(x, a, b, rows))

    def _pair_operands(self, x: torch.Tensor):
        """What the pair kernels take: W0, b0 | None, W1, b1 | None, the pair's rows of W0 a, b [E, B] (b offset to
        the second operand's half) and the hidden-unit mask [E, H] of mixed widths (None: one width)."""
        W0, W1 = self.weights
        b0, b1 = (self.biases[0], self.biases[1]) if self.bias else (None, None)
        mask = self.hidden_mask if self.padded else None
        return W0, b0, W1, b1, x[..., 0], x[..., 1] + self.in_dim // 2, mask

    def _pairs_cpu(self, x: torch.Tensor) -> bool:
        """One-hot pairs through a two-layer net on the CPU, in float32/64 (no autocast)."""
        return (self.input_kind == "pairs" and self.depth == 2 and x.dim() in (2, 3) and x.device.type == "cpu"
                and not torch.is_autocast_enabled("cpu"))

    def _tiled(self, x: torch.Tensor) -> bool:
        return self._pairs_cpu(x) and not torch.compiler.is_compiling()

    def member_state(self, e):
        """nn.Linear layout (weight [out, in]) at the member's true width: loads into ``single.MLP``."""
        w = int(self.widths[e])
        sizes = [self.in_dim] + [w] * (self.depth - 1) + [self.n_out]
        state = {}
        for i, W in enumerate(self.weights):
            state[f"layers.{i}.weight"] = W[e, :sizes[i], :sizes[i + 1]].detach().T.clone()
            if self.bias:
                state[f"layers.{i}.bias"] = self.biases[i][e, :sizes[i + 1]].detach().clone()
        return state


class EnsembleLiuToy(EnsembleModel):
    """Liu et al. (2022)'s toy: learned embeddings of the operands, summed, decoded by an MLP.

    Embeddings [E, p, d] start U(-0.5, 0.5); the decoder d -> 200 -> 200 -> n_out (tanh) uses nn.Linear's default
    init. Parameter groups "embedding" (the representation) and "decoder", for Liu's two optimisers.
    """

    input_kind = "pairs"

    def __init__(self, n_members: int, n_symbols: int, n_out: int, d_embed: int = 1, width: int = 200,
                 depth: int = 3, act: str = "tanh", widths: Sequence[int] | None = None):
        super().__init__(n_members)
        self.n_symbols, self.d_embed = n_symbols, d_embed
        self.embedding = stacked(n_members, n_symbols, d_embed)
        self.decoder = EnsembleMLP(n_members, d_embed, n_out, width, depth, act, bias=True, input_kind="dense",
                                   widths=widths)
        self.param_groups = {n: "embedding" if n == "embedding" else "decoder" for n, _ in self.named_parameters()}
        self.n_outputs = n_out

    def init_member(self, member, g):
        out = {"embedding": torch.rand(self.n_symbols, self.d_embed, generator=g, dtype=torch.float64) - 0.5}
        out.update({f"decoder.{k}": v for k, v in self.decoder.init_member(member, g).items()})
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        per_member = x.dim() == 3
        z = gather_pair_sum(self.embedding, x[..., 0], x[..., 1], per_member)
        return self.decoder(z)  # z is already per member: [E, B, d]

    def member_state(self, e):
        state = {"embedding": self.embedding[e].detach().clone()}
        state.update({f"decoder.{k}": v for k, v in self.decoder.member_state(e).items()})
        return state
