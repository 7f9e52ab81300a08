"""Standalone single-member models: what ``toylab export`` writes, and the independent reference the
ensemble-equivalence tests train with torch.optim.

These are written the plain way on purpose (full causal attention over all positions, explicit one-hot inputs,
nn.Linear layers), so that they check the ensemble models' shortcuts rather than repeat them.
"""
from __future__ import annotations

import json

import torch
import torch.nn.functional as F
from torch import nn

from ..activations import activation
from ..errors import LoadError
from ..safe_load import load as safe_load
from ..safe_load import load_safetensors, require, tensor_dict


class _Params(nn.Module):
    def __init__(self, **shapes):
        super().__init__()
        for name, shape in shapes.items():
            setattr(self, name, nn.Parameter(torch.zeros(*shape)))


class Transformer(nn.Module):
    """Nanda et al.'s one-layer transformer with TransformerLens parameter names (embed.W_E, blocks.0.attn.W_Q,
    ...). forward(tokens [B, 3]) -> logits [B, 3, d_vocab_out] at every position (causal attention)."""

    def __init__(self, d_vocab: int, d_vocab_out: int, d_model=128, n_heads=4, d_head=32, d_mlp=512, act="relu"):
        super().__init__()
        self.cfg = dict(d_vocab=d_vocab, d_vocab_out=d_vocab_out, d_model=d_model, n_heads=n_heads, d_head=d_head,
                        d_mlp=d_mlp, act=act)
        H = n_heads
        self.embed = _Params(W_E=(d_vocab, d_model))
        self.pos_embed = _Params(W_pos=(3, d_model))
        attn = _Params(W_Q=(H, d_model, d_head), W_K=(H, d_model, d_head), W_V=(H, d_model, d_head),
                       W_O=(H, d_head, d_model))
        mlp = _Params(W_in=(d_model, d_mlp), b_in=(d_mlp,), W_out=(d_mlp, d_model), b_out=(d_model,))
        self.blocks = nn.ModuleList([nn.ModuleDict({"attn": attn, "mlp": mlp})])
        self.unembed = _Params(W_U=(d_model, d_vocab_out))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        blk = self.blocks[0]
        a, m = blk["attn"], blk["mlp"]
        x = self.embed.W_E[tokens] + self.pos_embed.W_pos[: tokens.shape[1]]  # [B, P, d]
        q = torch.einsum("bpd,hdk->bhpk", x, a.W_Q)
        k = torch.einsum("bpd,hdk->bhpk", x, a.W_K)
        v = torch.einsum("bpd,hdk->bhpk", x, a.W_V)
        scores = torch.einsum("bhqk,bhpk->bhqp", q, k) / a.W_Q.shape[-1] ** 0.5
        P = tokens.shape[1]
        causal = torch.tril(torch.ones(P, P, dtype=torch.bool, device=tokens.device))
        scores = scores.masked_fill(~causal, float("-inf"))
        z = torch.einsum("bhqp,bhpk->bhqk", scores.softmax(-1), v)
        x = x + torch.einsum("bhqk,hkd->bqd", z, a.W_O)
        act = F.relu if self.cfg["act"] == "relu" else F.gelu
        x = x + act(x @ m.W_in + m.b_in) @ m.W_out + m.b_out
        return x @ self.unembed.W_U


class MLP(nn.Module):
    """A plain MLP of nn.Linear layers. With ``n_symbols`` set, forward takes operand pairs [B, 2] and feeds the
    concatenated one-hot vectors; otherwise dense inputs [B, in_dim]."""

    def __init__(self, sizes: list[int], act="relu", bias=True, n_symbols: int = 0):
        super().__init__()
        self.cfg = dict(sizes=list(sizes), act=act, bias=bias, n_symbols=n_symbols)
        self.layers = nn.ModuleList(nn.Linear(i, o, bias=bias) for i, o in zip(sizes[:-1], sizes[1:]))

    def features(self, x):
        n = self.cfg["n_symbols"]
        if n:
            x = torch.cat([F.one_hot(x[:, 0], n), F.one_hot(x[:, 1], n)], dim=1).to(self.layers[0].weight.dtype)
        return x

    def forward(self, x):
        h = self.features(x)
        for i, layer in enumerate(self.layers):
            h = layer(h)
            if i < len(self.layers) - 1:
                h = activation(self.cfg["act"])(h)
        return h


class LiuToy(nn.Module):
    """Liu et al.'s toy: embedding [p, d]; decoder MLP applied to E_a + E_b."""

    def __init__(self, n_symbols: int, d_embed: int, sizes: list[int], act="tanh"):
        super().__init__()
        self.cfg = dict(n_symbols=n_symbols, d_embed=d_embed, sizes=list(sizes), act=act)
        self.embedding = nn.Parameter(torch.zeros(n_symbols, d_embed))
        self.decoder = MLP(sizes, act=act)

    def forward(self, x):
        return self.decoder(self.embedding[x[:, 0]] + self.embedding[x[:, 1]])


def build(kind: str, cfg: dict) -> nn.Module:
    """Rebuild an exported model from its kind and config (see ``toylab export``)."""
    return {"transformer": Transformer, "mlp": MLP, "liu_toy": LiuToy}[kind](**cfg)


EXPORT = "a toylab export (a dict with kind, config, state_dict)"


def load(path) -> nn.Module:
    """Load a model written by ``toylab export``: a torch file (read with ``weights_only``: no code in it runs) or
    a .safetensors file (kind, config, ... in its metadata). Any bad file -> ``toymodels.errors.LoadError``."""
    if str(path).endswith(".safetensors"):
        tensors, meta = load_safetensors(path, EXPORT)
        try:
            blob = {"kind": meta["kind"], "config": json.loads(meta["config"]), "state_dict": tensors}
        except (KeyError, ValueError) as err:
            raise LoadError(path, EXPORT, f"its metadata lacks a readable {err}") from None
    else:
        blob = require(safe_load(path, EXPORT), path, EXPORT, ("kind", "config", "state_dict"))
    state = tensor_dict(blob["state_dict"], path, EXPORT)
    if blob["kind"] not in ("transformer", "mlp", "liu_toy") or not isinstance(blob["config"], dict) or not state:
        raise LoadError(path, EXPORT, f"unknown kind {blob['kind']!r} or empty config / state dict")
    try:
        net = build(blob["kind"], blob["config"])
        net = net.to(next(iter(state.values())).dtype)
        net.load_state_dict(state)
    except (TypeError, ValueError, KeyError, RuntimeError) as err:
        raise LoadError(path, EXPORT, " ".join(str(err).split())[:200]) from None
    return net
