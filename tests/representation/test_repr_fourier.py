"""Nanda et al.'s Fourier measures against hand-built cases and plain (slow) references written here."""
import math

import numpy as np
import pytest
import torch

from toymodels.errors import ConfigError
from toymodels.metrics.representation import (embedding_fourier_norms, fourier_ablation_losses, fourier_basis,
                                              fourier_component_norms, gini, key_frequencies,
                                              neuron_logit_fourier_norms, unembedding_fourier_norms)


def grid(p):
    """Operands of the full table, row a * p + b (as operation_table)."""
    a, b = np.meshgrid(np.arange(p), np.arange(p), indexing="ij")
    return a.ravel(), b.ravel()


def ref_basis(p):
    """Nanda's make_fourier_basis for odd p, plainly."""
    rows = [np.ones(p)]
    for k in range(1, p // 2 + 1):
        rows.append(np.cos(2 * np.pi * k * np.arange(p) / p))
        rows.append(np.sin(2 * np.pi * k * np.arange(p) / p))
    B = np.array(rows)
    return B / np.linalg.norm(B, axis=1, keepdims=True)


# ------------------------------------------------------------------------------------------ basis, norms


@pytest.mark.parametrize("p", [5, 8, 13])
def test_basis_is_orthonormal_and_nandas(p):
    F = fourier_basis(p)
    assert torch.allclose(F @ F.T, torch.eye(p, dtype=torch.float64), atol=1e-12)
    if p % 2:
        assert np.allclose(F.numpy(), ref_basis(p), atol=1e-12)
    else:  # even p: the last row is the alternating cos(pi n) wave
        assert np.allclose(F[-1].numpy(), (-1.0) ** np.arange(p) / np.sqrt(p), atol=1e-12)


def test_pure_frequency_embedding_concentrates():
    p, d, k = 13, 6, 4
    g = torch.Generator().manual_seed(0)
    u, v = torch.randn(2, 2, d, generator=g, dtype=torch.float64)  # two members' directions
    n = torch.arange(p, dtype=torch.float64)
    ks = torch.tensor([k, 2])
    phase = 2 * math.pi * ks[:, None].double() * n[None] / p  # member 0 at k = 4, member 1 at k = 2
    sym = torch.cos(phase)[..., None] * u[:, None, :] + torch.sin(phase)[..., None] * v[:, None, :]  # [2, p, d]
    W_E = torch.cat([sym, 100 * torch.randn(2, 1, d, generator=g, dtype=torch.float64)], dim=1)  # "=" row
    per_f = embedding_fourier_norms(W_E, p, per_frequency=True)
    assert per_f.shape == (2, p // 2 + 1)
    for e, kk in enumerate(ks.tolist()):
        others = torch.cat([per_f[e, :kk], per_f[e, kk + 1:]])
        assert others.max() < 1e-12
        assert per_f[e, kk] == pytest.approx(sym[e].norm().item(), rel=1e-12)
    comp = embedding_fourier_norms(W_E, p)  # [E, p]: only the cos k and sin k rows are non-zero
    assert comp.shape == (2, p)
    assert set(torch.nonzero(comp[0] > 1e-9).flatten().tolist()) <= {2 * k - 1, 2 * k}
    # Gini of the per-frequency norms: one non-zero entry among p // 2 + 1 -> (n - 1) / n
    n = p // 2 + 1
    assert torch.allclose(gini(per_f), torch.full((2,), (n - 1) / n, dtype=torch.float64), atol=1e-10)
    # the unembedding: symbols along the output axis
    W_U = torch.cat([sym.transpose(1, 2), torch.randn(2, d, 1, generator=g, dtype=torch.float64)], dim=2)
    assert torch.allclose(unembedding_fourier_norms(W_U, p, per_frequency=True), per_f, atol=1e-12)


def test_norms_preserve_frobenius_and_neuron_logit_map():
    g = torch.Generator().manual_seed(1)
    W = torch.randn(3, 11, 5, generator=g, dtype=torch.float64)
    comp = fourier_component_norms(W)
    assert torch.allclose(comp.square().sum(-1), W.square().sum((1, 2)), rtol=1e-12)
    W_out = torch.randn(3, 7, 4, generator=g, dtype=torch.float64)
    W_U = torch.randn(3, 4, 12, generator=g, dtype=torch.float64)  # 11 symbols + "="
    want = fourier_component_norms((W_out @ W_U[:, :, :11]).transpose(1, 2))
    assert torch.allclose(neuron_logit_fourier_norms(W_out, W_U, 11), want, rtol=1e-12)


# ------------------------------------------------------------------------------------------------- gini


def ref_gini(x):
    x = np.asarray(x, dtype=np.float64)
    return np.abs(x[:, None] - x[None, :]).sum() / (2 * len(x) * x.sum())


def test_gini_known_values_and_reference():
    n = 9
    onehot = torch.zeros(1, n, dtype=torch.float64)
    onehot[0, 3] = 2.5
    assert gini(onehot).item() == pytest.approx((n - 1) / n, abs=1e-15)
    assert gini(torch.full((1, n), 0.7, dtype=torch.float64)).item() == pytest.approx(0.0, abs=1e-15)
    g = torch.Generator().manual_seed(2)
    x = torch.rand(4, 20, generator=g, dtype=torch.float64) ** 3
    want = torch.tensor([ref_gini(r.numpy()) for r in x], dtype=torch.float64)
    assert torch.allclose(gini(x), want, rtol=1e-12)


def test_gini_mask_ignores_padding():
    g = torch.Generator().manual_seed(3)
    x = torch.rand(3, 10, generator=g, dtype=torch.float64)
    widths = [10, 6, 3]
    mask = torch.arange(10)[None] < torch.tensor(widths)[:, None]
    padded = torch.where(mask, x, 123.0)  # garbage in the padding
    got = gini(padded, mask)
    for e, w in enumerate(widths):
        assert got[e].item() == pytest.approx(ref_gini(x[e, :w].numpy()), rel=1e-12)
    with pytest.raises(ConfigError):
        gini(-x)


# --------------------------------------------------------------------------------------- key frequencies


def ref_key_freqs(acts, p):
    """Nanda's calculate_key_freqs for one member, plainly: loops over neurons and frequencies, with the 3 x 3
    index set {0, 2f-1, 2f}; frequencies 1..p//2 (Nanda's loop stops at p//2 - 1)."""
    B = ref_basis(p)
    winners = []
    for m in range(acts.shape[1]):
        x = acts[:, m].reshape(p, p)
        x = x - x.mean()
        four = B @ x @ B.T
        total = (four ** 2).sum()
        best, best_f = -1.0, -1
        for f in range(1, p // 2 + 1):
            idx = [0, 2 * f - 1, 2 * f]
            frac = (four[np.ix_(idx, idx)] ** 2).sum() / total
            if frac > best:
                best, best_f = frac, f
        winners.append(best_f)
    return np.array(winners)


def planted_acts(p, freqs, g, relu=True):
    """Neurons relu(cos(w a + phi) + cos(w b + psi)) with planted frequencies freqs [E, M]: [E, p*p, M]."""
    a, b = (torch.from_numpy(t).double() for t in grid(p))
    w = 2 * math.pi * freqs.double() / p
    ph = torch.rand(2, *freqs.shape, generator=g, dtype=torch.float64) * 2 * math.pi
    pre = torch.cos(w[:, None] * a[None, :, None] + ph[0][:, None]) + torch.cos(w[:, None] * b[None, :, None]
                                                                                 + ph[1][:, None])
    return torch.relu(pre) if relu else pre


def test_key_frequencies_recover_planted():
    p, E, M = 17, 3, 10
    g = torch.Generator().manual_seed(4)
    freqs = torch.randint(1, p // 2 + 1, (E, M), generator=g)
    kf = key_frequencies(planted_acts(p, freqs, g), p)
    assert torch.equal(kf.neuron_freq, freqs)
    want = torch.zeros(E, p // 2 + 1, dtype=torch.bool)
    want.scatter_(1, freqs, True)
    assert torch.equal(kf.mask, want)
    assert torch.all(kf.frac_explained > 0.9)


def test_key_frequencies_match_reference_on_noisy_acts():
    p, E, M = 13, 2, 12
    g = torch.Generator().manual_seed(5)
    freqs = torch.randint(1, p // 2 + 1, (E, M), generator=g)
    acts = planted_acts(p, freqs, g) + 0.8 * torch.randn(E, p * p, M, generator=g, dtype=torch.float64)
    kf = key_frequencies(acts, p)
    for e in range(E):
        assert kf.neuron_freq[e].tolist() == ref_key_freqs(acts[e].numpy(), p).tolist()
    # batched == one member at a time
    for e in range(E):
        one = key_frequencies(acts[e:e + 1], p)
        assert torch.equal(one.neuron_freq[0], kf.neuron_freq[e]) and torch.equal(one.mask[0], kf.mask[e])


def test_key_frequencies_padding_and_dead_neurons():
    p = 11
    g = torch.Generator().manual_seed(6)
    freqs = torch.tensor([[1, 2, 3, 4, 5, 5]])
    acts = planted_acts(p, freqs, g)
    acts[0, :, 1] = 0.7  # dead (constant) neuron: no frequency
    mask = torch.tensor([[True, True, True, True, False, False]])  # neurons 4, 5 are padding
    kf = key_frequencies(acts, p, neuron_mask=mask)
    assert kf.neuron_freq.tolist() == [[1, -1, 3, 4, -1, -1]]
    assert kf.mask[0].nonzero().flatten().tolist() == [1, 3, 4]
    # padding with garbage activations changes nothing compared with the real neurons alone
    real = key_frequencies(acts[:, :, [0, 1, 2, 3]], p)
    assert torch.equal(real.mask, kf.mask)


# --------------------------------------------------------------------------------- restricted / excluded


def perfect_fourier_model(p, keys, n_noise, g, s=3.0, noise_w=0.3):
    """A member per key set: neurons cos(w_k(a+b)), sin(w_k(a+b)) for its keys, plus n_noise random
    'memorising' neurons; W_L maps the Fourier neurons to s * cos(w_k (a + b - c)) and is factored as W_out W_U
    (d_model >= neurons). Logits = acts W_out W_U + a per-member bias. Returns acts, W_out, W_U, logits."""
    a, b = (torch.from_numpy(t).double() for t in grid(p))
    c = torch.arange(p, dtype=torch.float64)
    M = 2 * max(len(k) for k in keys) + n_noise
    d = M + 3
    E = len(keys)
    acts = torch.zeros(E, p * p, M, dtype=torch.float64)
    W_L = torch.zeros(E, M, p, dtype=torch.float64)
    for e, ks in enumerate(keys):
        for i, k in enumerate(ks):
            w = 2 * math.pi * k / p
            acts[e, :, 2 * i] = torch.cos(w * (a + b))
            acts[e, :, 2 * i + 1] = torch.sin(w * (a + b))
            W_L[e, 2 * i] = s * torch.cos(w * c)
            W_L[e, 2 * i + 1] = s * torch.sin(w * c)
        acts[e, :, M - n_noise:] = torch.randn(p * p, n_noise, generator=g, dtype=torch.float64)
        W_L[e, M - n_noise:] = noise_w * torch.randn(n_noise, p, generator=g, dtype=torch.float64)
    W_out = torch.randn(E, M, d, generator=g, dtype=torch.float64)
    W_U = torch.linalg.pinv(W_out) @ W_L  # W_out W_U = W_L (W_out has full row rank)
    W_U = torch.cat([W_U, torch.randn(E, d, 1, generator=g, dtype=torch.float64)], dim=2)  # "=" output
    bias = torch.randn(E, 1, p + 1, generator=g, dtype=torch.float64)
    logits = acts @ W_out @ W_U + bias
    return acts, W_out, W_U, logits


def ref_ce(logits, labels):
    z = logits - logits.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return -logp[np.arange(len(labels)), labels].mean()


def ref_ablation(acts, W_out, W_U, logits, labels, keys, train, p, path):
    """Plain restricted / excluded loss for one member (numpy, explicit projection matrix)."""
    a, b = grid(p)
    P = np.zeros((p * p, p * p))
    for k in keys:
        for f in (np.cos, np.sin):
            u = f(2 * np.pi * k * (a + b) / p)
            u = u / np.linalg.norm(u)
            P += np.outer(u, u)
    out = logits[:, :p]
    if path == "neurons":
        proj = P @ acts @ W_out @ W_U[:, :p]
    else:
        proj = P @ out
    restricted = proj - proj.mean(0) + out.mean(0)
    excluded = out - proj
    return ref_ce(restricted[train], labels[train]), ref_ce(excluded[train], labels[train])


def test_restricted_low_excluded_high_on_perfect_fourier_model():
    p = 13
    g = torch.Generator().manual_seed(7)
    keys = [[2, 5, 3], [1, 3, 6], [4, 6, 2]]
    acts, W_out, W_U, logits = perfect_fourier_model(p, keys, n_noise=5, g=g, s=4.0)
    a, b = grid(p)
    labels = torch.from_numpy((a + b) % p)
    train = torch.rand(3, p * p, generator=g) < 0.3
    kf = key_frequencies(acts, p)
    # the random 'memorising' neurons vote for random frequencies: key sets include but may exceed the planted
    for e, ks in enumerate(keys):
        assert set(ks) <= set(kf.mask[e].nonzero().flatten().tolist())
    key_mask = torch.zeros(3, p // 2 + 1, dtype=torch.bool)
    for e, ks in enumerate(keys):
        key_mask[e, ks] = True
    got = fourier_ablation_losses(acts, W_out, W_U, logits, labels, key_mask, train, p)
    full = torch.stack([torch.nn.functional.cross_entropy(logits[e, train[e], :p], labels[train[e]])
                        for e in range(3)])
    assert torch.all(got["restricted"] < full)  # removing the memorising noise helps
    assert torch.all(got["restricted"] < 0.5)
    assert torch.all(got["excluded"] > math.log(p))  # no better than chance without the key frequencies
    for e in range(3):
        for path in ("neurons", "logits"):
            r, x = ref_ablation(acts[e].numpy(), W_out[e].numpy(), W_U[e].numpy(), logits[e].numpy(),
                                labels.numpy(), keys[e], train[e].numpy(), p, path)
            one = fourier_ablation_losses(acts, W_out, W_U, logits, labels, key_mask, train, p, path=path)
            assert one["restricted"][e].item() == pytest.approx(r, rel=1e-9)
            assert one["excluded"][e].item() == pytest.approx(x, rel=1e-9)


def test_ablation_batched_equals_member_loop_and_edge_cases():
    p = 11
    g = torch.Generator().manual_seed(8)
    keys = [[1, 4], [2], [3, 5]]
    acts, W_out, W_U, logits = perfect_fourier_model(p, keys, n_noise=4, g=g)
    a, b = grid(p)
    labels = torch.from_numpy((a + b) % p)
    train = torch.rand(3, p * p, generator=g) < 0.5
    kf = key_frequencies(acts, p)
    batched = fourier_ablation_losses(acts, W_out, W_U, logits, labels, kf.mask, train, p)
    for e in range(3):
        one = fourier_ablation_losses(acts[e:e + 1], W_out[e:e + 1], W_U[e:e + 1], logits[e:e + 1], labels,
                                      kf.mask[e:e + 1], train[e:e + 1], p)
        for k in ("restricted", "excluded"):
            assert one[k][0].item() == pytest.approx(batched[k][e].item(), rel=1e-12)
    # no key frequency: nothing is excluded (the model's own loss); restricted = the mean logits alone
    none = torch.zeros_like(kf.mask)
    res = fourier_ablation_losses(acts, W_out, W_U, logits, labels, none, train, p)
    for e in range(3):
        own = ref_ce(logits[e, :, :p].numpy()[train[e].numpy()], labels.numpy()[train[e].numpy()])
        assert res["excluded"][e].item() == pytest.approx(own, rel=1e-12)
        mean = np.broadcast_to(logits[e, :, :p].numpy().mean(0), (p * p, p))
        assert res["restricted"][e].item() == pytest.approx(
            ref_ce(mean[train[e].numpy()], labels.numpy()[train[e].numpy()]), rel=1e-12)
    with pytest.raises(ConfigError):
        fourier_ablation_losses(acts, W_out, W_U, logits, labels, kf.mask, train, p, path="attention")
    with pytest.raises(ConfigError):
        key_frequencies(acts[:, :-1], p)


def test_transformer_layout_end_to_end():
    """Runs on EnsembleTransformer's own tensors (shapes and the "=" row/column handling)."""
    from toymodels.models.transformer import EnsembleTransformer
    p = 7
    m = EnsembleTransformer(2, p, p, d_model=16, n_heads=2, d_head=8, d_mlp=24).reset_parameters([0, 1])
    a, b = grid(p)
    x = torch.from_numpy(np.stack([a, b], 1))
    with torch.no_grad():
        acts = m.activations(x)["mlp_post"]
        logits = m(x)
    kf = key_frequencies(acts, p)
    labels = torch.from_numpy((a + b) % p)
    out = fourier_ablation_losses(acts, m.W_out.detach(), m.W_U.detach(), logits, labels, kf.mask,
                                  torch.ones(2, p * p, dtype=torch.bool), p)
    assert out["restricted"].shape == (2,) and torch.all(torch.isfinite(out["excluded"]))
    assert embedding_fourier_norms(m.W_E.detach(), p, per_frequency=True).shape == (2, p // 2 + 1)
