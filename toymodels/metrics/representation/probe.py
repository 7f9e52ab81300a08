"""One call that measures a model's representation on its task, batched over members: what the representation
callback records over training. Which measures apply depends on the model and task:

- every classifier: weight norm, softmax-collapse fraction on the training rows (working precision), effective
  rank of the last hidden layer, its linear CKA against its state at the first probe (initialisation) and
  between members ([E, E]);
- Liu's toy (operation liu_add): RQI, effective-theory loss over the training parallelograms P0 and over all,
  Liu's predicted test accuracy from the learned parallelograms;
- modular tasks with the full p x p table: Fourier-component norms of the embedding (transformer W_E; the MLP's
  first layer, a- and b-rows) and of the unembedding / neuron-logit map, their Gini coefficients, the number of
  key frequencies, and -- for a + b and a - b -- Nanda's restricted and excluded losses on the training rows.
"""
from __future__ import annotations

import torch

from ...models.mlp import EnsembleLiuToy
from ...models.transformer import EnsembleTransformer
from ...tasks.data import EnsembleData
from .collapse import softmax_collapse_fraction
from .fourier import (embedding_fourier_norms, fourier_ablation_losses, gini, key_frequencies,
                      neuron_logit_fourier_norms, unembedding_fourier_norms)
from .rqi import effective_loss, predicted_test_accuracy, rqi
from .similarity import effective_rank, linear_cka, linear_cka_matrix, weight_norms

FOURIER_SIGN = {"a+b": 1, "a-b": -1}


class RepresentationProbe:
    """Call with (model, data) after each update of interest; returns {name: [E] tensor} (and the matrices
    ``cka_members`` [E, E], ``fourier_embed`` / ``fourier_unembed`` [E, p // 2 + 1])."""

    def __init__(self, data: EnsembleData, operation: str, p: int, rows: int = 1024, rqi_delta: float = 0.01,
                 logits: bool = True):
        """``logits``: the model's outputs are logits (cross-entropy / StableMax heads), so softmax collapse
        and the Fourier ablation losses apply; False for MSE heads."""
        self.data, self.operation, self.p, self.delta, self.logits = data, operation, p, rqi_delta, logits
        R = data.table.rows
        # a fixed subset of rows for rank / CKA (every member sees the same rows, so CKA compares like with like)
        g = torch.Generator().manual_seed(0)
        self.rows = torch.randperm(R, generator=g)[: min(rows, R)].sort().values.to(data.labels.device)
        self.full_table = operation not in ("liu_add", "a/b") and not operation.startswith("s5") and R == p * p
        self.init_hidden: torch.Tensor | None = None

    @torch.no_grad()
    def _forward(self, model, x):
        """(last hidden layer [E, B, H] and its padding mask [E, H] or None, logits [E, B, C], extras)."""
        if isinstance(model, EnsembleTransformer):
            acts = model.activations(x)
            logits = torch.einsum("ebd,edv->ebv", acts["resid_post"], model.W_U)
            return acts["mlp_post"], None, logits
        mlp = model.decoder if isinstance(model, EnsembleLiuToy) else model
        if isinstance(model, EnsembleLiuToy):
            per_member = x.dim() == 3
            from ...models.base import gather_rows
            x = gather_rows(model.embedding, x[..., 0], per_member) + gather_rows(model.embedding, x[..., 1],
                                                                                  per_member)
        layers = mlp.hidden(x)
        hidden = layers[-2] if len(layers) > 1 else layers[-1]
        mask = mlp.hidden_mask if len(layers) > 1 else None
        return hidden, mask, layers[-1]

    @torch.no_grad()
    def __call__(self, model) -> dict[str, torch.Tensor]:
        d = self.data
        x = d.table.x
        out: dict[str, torch.Tensor] = {"weight_norm": weight_norms(model)["total"]}
        hidden_all, mask, logits_all = self._forward(model, x)
        if self.logits:
            out["softmax_collapse"] = softmax_collapse_fraction(logits_all, d.split.train_mask)
        h = hidden_all[:, self.rows]
        out["effective_rank"] = effective_rank(h, mask)
        if self.init_hidden is None:
            self.init_hidden = h.clone()
        out["cka_init"] = linear_cka(h, self.init_hidden, mask, mask)
        out["cka_members"] = linear_cka_matrix(h, mask)
        if isinstance(model, EnsembleLiuToy) and self.operation == "liu_add":
            emb = model.embedding
            out["rqi"] = rqi(emb, self.delta)
            out["l_eff_train"] = effective_loss(emb, d.split.train_mask)
            out["l_eff_all"] = effective_loss(emb)
            out["predicted_test_acc"] = predicted_test_accuracy(emb, d.split.train_mask, self.delta)
        if self.full_table and not isinstance(model, EnsembleLiuToy):
            p = self.p
            if isinstance(model, EnsembleTransformer):
                emb, W_out, W_U = model.W_E, model.W_out, model.W_U
                out["fourier_embed"] = embedding_fourier_norms(emb, p, per_frequency=True)
                out["fourier_unembed"] = unembedding_fourier_norms(W_U, p, per_frequency=True)
            else:  # one-hot MLP: the first layer's a-rows play the embedding, the neuron-logit map the unembedding
                W0 = model.weights[0]
                emb, W_out, W_U = W0[:, :p], model.weights[-1], None
                out["fourier_embed"] = embedding_fourier_norms(emb, p, per_frequency=True)
                out["fourier_unembed"] = neuron_logit_fourier_norms(W_out, None, p, True, mask) \
                    if len(model.weights) > 1 else out["fourier_embed"]
            out["gini_embed"] = gini(out["fourier_embed"][:, 1:])
            out["gini_unembed"] = gini(out["fourier_unembed"][:, 1:])
            keys = key_frequencies(hidden_all, p, mask)
            out["key_frequencies"] = keys.mask[:, 1:].sum(dim=1).to(torch.float64)
            sign = FOURIER_SIGN.get(self.operation)
            if sign is not None and self.logits and (isinstance(model, EnsembleTransformer) or len(model.weights) > 1):
                losses = fourier_ablation_losses(hidden_all, W_out, W_U, logits_all, d.labels, keys.mask,
                                                 d.split.train_mask, p, sign=sign, neuron_mask=mask)
                out["restricted_loss"], out["excluded_loss"] = losses["restricted"], losses["excluded"]
        return out
