"""Liu et al.'s RQI, effective loss and accuracy predictions, against hand-built cases and plain references."""
import itertools

import numpy as np
import pytest
import torch

from toymodels.errors import ConfigError
from toymodels.metrics.representation import (effective_loss, ideal_test_accuracy, parallelograms,
                                              predicted_test_accuracy, rqi)
from toymodels.tasks.operations import operation_table


def liu_rows(p):
    """Rows of Liu's table, from the task module (independent of the metric code)."""
    return [tuple(r) for r in operation_table("liu_add", p).pairs.tolist()]


def mask_of(p, train_pairs, E=1):
    rows = liu_rows(p)
    m = torch.tensor([r in set(train_pairs) for r in rows])
    return m.expand(E, -1).clone()


# ------------------------------------------------------------------------------------------- references


def ref_parallelograms(p):
    """Liu's code's RQI loop: i < j <= m < n with i + n = j + m, as (outer, inner) pairs."""
    out = set()
    for i in range(p):
        for j in range(i + 1, p):
            for m in range(j, p):
                for n in range(m + 1, p):
                    if i + n == j + m:
                        out.add(((i, n), (j, m)))
    return out


def ref_standardize(x):
    x = np.asarray(x, dtype=np.float64)
    return (x - x.mean(0)) / x.std(0, ddof=1)


def ref_rqi(emb, delta):
    s = ref_standardize(emb)
    quads = ref_parallelograms(len(emb))
    hold = sum(np.mean((s[i] + s[n] - s[j] - s[m]) ** 2) < delta for (i, n), (j, m) in quads)
    return hold / len(quads)


def ref_leff(emb, train=None):
    x = np.asarray(emb, dtype=np.float64)
    x = x - x.mean(0)
    num = 0.0
    for (i, n), (j, m) in ref_parallelograms(len(x)):
        if train is None or ((i, n) in train and (j, m) in train):
            num += np.sum((x[i] + x[n] - x[j] - x[m]) ** 2)
    return num / np.sum(x ** 2)


def ref_predicted(emb, train, delta):
    s = ref_standardize(emb)
    rows = liu_rows(len(s))
    test = [r for r in rows if r not in train]
    hit = 0
    for (a, b) in test:
        for (c, d) in train:
            if a + b == c + d and (a, b) != (c, d) and np.mean((s[a] + s[b] - s[c] - s[d]) ** 2) < delta:
                hit += 1
                break
    return hit / len(test)


def ref_ideal(p, train):
    """Liu's calculate_Dbar with P(D) from matrix ranks (numpy), written plainly."""
    rows = liu_rows(p)

    def vec(r1, r2):
        v = np.zeros(p)
        v[r1[0]] += 1
        v[r1[1]] += 1
        v[r2[0]] -= 1
        v[r2[1]] -= 1
        return v

    quads = ref_parallelograms(p)
    base = [vec(o, i) for o, i in quads if o in train and i in train]
    rank = np.linalg.matrix_rank(np.array(base)) if base else 0
    induced = set()
    for o, i in quads:
        aug = np.array(base + [vec(o, i)])
        if np.linalg.matrix_rank(aug) == rank:
            induced.add((o, i))
    test = [r for r in rows if r not in train]
    hit = 0
    for t in test:
        if any((t, s) in induced or (s, t) in induced for s in train):
            hit += 1
    return hit / len(test)


# ----------------------------------------------------------------------------------------------- tests


@pytest.mark.parametrize("p", [3, 4, 7, 10])
def test_parallelogram_set_is_liu_enumeration(p):
    pg = parallelograms(p)
    got = {((a, b), (c, d)) for a, b, c, d in pg.quads.tolist()}
    assert got == ref_parallelograms(p)
    assert len(got) == len(pg.quads)  # no duplicates
    rows = liu_rows(p)
    for (r1, r2), (a, b, c, d) in zip(pg.rows.tolist(), pg.quads.tolist()):
        assert rows[r1] == (a, b) and rows[r2] == (c, d) and r1 != r2


def test_rqi_is_one_for_linear_embeddings():
    g = torch.Generator().manual_seed(0)
    p, d, E = 10, 3, 4
    v = torch.randn(E, 1, d, generator=g, dtype=torch.float64)
    c = torch.randn(E, 1, d, generator=g, dtype=torch.float64)
    emb = torch.arange(p, dtype=torch.float64)[None, :, None] * v + c
    assert torch.equal(rqi(emb), torch.ones(E, dtype=torch.float64))


def test_rqi_low_for_random_embeddings_and_matches_reference():
    g = torch.Generator().manual_seed(1)
    emb = torch.rand(16, 10, 2, generator=g, dtype=torch.float64)
    got = rqi(emb)
    assert got.max() < 0.2
    want = torch.tensor([ref_rqi(e.numpy(), 0.01) for e in emb], dtype=torch.float64)
    assert torch.equal(got, want)


def test_rqi_partial_structure_matches_reference_and_member_loop():
    g = torch.Generator().manual_seed(2)
    p, d = 9, 2
    noise = torch.tensor([0.0, 0.01, 0.03, 0.1, 0.3])[:, None, None]
    emb = torch.arange(p, dtype=torch.float64)[None, :, None].expand(5, p, d) \
        + noise * torch.randn(5, p, d, generator=g, dtype=torch.float64) * p
    got = rqi(emb, delta=0.02)
    want = torch.tensor([ref_rqi(e.numpy(), 0.02) for e in emb], dtype=torch.float64)
    assert torch.equal(got, want)
    assert got[0] == 1 and got[-1] < got[0]
    assert torch.equal(got, torch.cat([rqi(emb[i:i + 1], delta=0.02) for i in range(5)]))


def test_rqi_invariant_to_standardisation():
    g = torch.Generator().manual_seed(3)
    emb = torch.arange(10, dtype=torch.float64)[None, :, None] + 0.2 * torch.randn(6, 10, 3, generator=g,
                                                                                   dtype=torch.float64)
    scale = torch.tensor([3.0, 0.01, 250.0], dtype=torch.float64)  # per dimension
    shift = torch.tensor([-7.0, 100.0, 0.5], dtype=torch.float64)
    assert torch.equal(rqi(emb), rqi(emb * scale + shift))
    assert 0 < rqi(emb).min() and rqi(emb).max() < 1  # a non-trivial case


def test_effective_loss_zero_for_linear_and_matches_reference():
    p = 8
    lin = (torch.arange(p, dtype=torch.float64)[None, :, None] * torch.tensor([[[1.0, -2.0]]], dtype=torch.float64)
           + 5.0)
    train = mask_of(p, liu_rows(p)[::2])
    assert effective_loss(lin).item() == pytest.approx(0.0, abs=1e-24)
    assert effective_loss(lin, train).item() == pytest.approx(0.0, abs=1e-24)

    g = torch.Generator().manual_seed(4)
    emb = torch.randn(3, p, 2, generator=g, dtype=torch.float64)
    masks = torch.rand(3, len(liu_rows(p)), generator=g) < 0.6
    got_all, got_d = effective_loss(emb), effective_loss(emb, masks)
    for e in range(3):
        train = {r for r, m in zip(liu_rows(p), masks[e].tolist()) if m}
        assert got_all[e].item() == pytest.approx(ref_leff(emb[e].numpy()), rel=1e-12)
        assert got_d[e].item() == pytest.approx(ref_leff(emb[e].numpy(), train), rel=1e-12)
    assert torch.all(got_d <= got_all)
    full = torch.ones_like(masks)
    assert torch.allclose(effective_loss(emb, full), got_all, rtol=1e-13)
    # scale and translation invariance (the embedding is centred first)
    assert torch.allclose(effective_loss(3.0 * emb + 2.0, masks), got_d, rtol=1e-12)


def test_predicted_test_accuracy_hand_case():
    # p = 4: sums of (0,2), (1,1) are 2 and of (0,3), (1,2) are 3. With a linear embedding every parallelogram
    # holds, so the test rows (1,1) and (1,2) close one with a training row: 2 of the 8 test rows.
    p = 4
    train = mask_of(p, [(0, 2), (0, 3)])
    lin = torch.arange(p, dtype=torch.float64)[None, :, None]
    assert predicted_test_accuracy(lin, train).item() == pytest.approx(2 / 8)
    # a representation where E_1 is far from (E_0 + E_2) / 2 and (E_0 + E_3) != (E_1 + E_2): nothing predictable
    bent = torch.tensor([[[0.0], [5.0], [2.0], [3.0]]], dtype=torch.float64)
    assert predicted_test_accuracy(bent, train).item() == 0.0


def test_predicted_test_accuracy_matches_reference():
    g = torch.Generator().manual_seed(5)
    p, E = 7, 6
    noise = torch.linspace(0, 0.05, E, dtype=torch.float64)[:, None, None]
    emb = torch.arange(p, dtype=torch.float64)[None, :, None] + noise * p * torch.randn(E, p, 1, generator=g,
                                                                                         dtype=torch.float64)
    masks = torch.rand(E, len(liu_rows(p)), generator=g) < 0.5
    got = predicted_test_accuracy(emb, masks)
    for e in range(E):
        train = [r for r, m in zip(liu_rows(p), masks[e].tolist()) if m]
        assert got[e].item() == pytest.approx(ref_predicted(emb[e].numpy(), train, 0.01), abs=1e-15)


def test_ideal_test_accuracy_hand_cases():
    # p = 3: the only parallelogram is (0,2)-(1,1). Training on (0,2) alone implies no parallelogram (P0(D) needs
    # both rows), so nothing is predictable from the data: 0 of 5 test rows.
    assert ideal_test_accuracy(mask_of(3, [(0, 2)]), 3).item() == 0.0
    # p = 4: P0(D) = {E0+E2=2E1, E0+E3=E1+E2} induces E1+E3=2E2, which links test (1,3) to training (2,2):
    # 1 of the 5 test rows.
    train = mask_of(4, [(0, 2), (1, 1), (0, 3), (1, 2), (2, 2)])
    assert ideal_test_accuracy(train, 4).item() == pytest.approx(1 / 5)


def test_ideal_test_accuracy_matches_rank_reference():
    g = torch.Generator().manual_seed(6)
    p, E = 6, 5
    masks = torch.rand(E, len(liu_rows(p)), generator=g) < torch.linspace(0.3, 0.8, E)[:, None]
    got = ideal_test_accuracy(masks, p)
    for e in range(E):
        train = [r for r, m in zip(liu_rows(p), masks[e].tolist()) if m]
        assert got[e].item() == pytest.approx(ref_ideal(p, set(train)), abs=1e-15)


def test_bad_inputs_raise_config_error():
    with pytest.raises(ConfigError):
        rqi(torch.zeros(10, 2))
    with pytest.raises(ConfigError):
        rqi(torch.zeros(1, 10, 2), delta=0.0)
    with pytest.raises(ConfigError):
        effective_loss(torch.zeros(2, 5, 1), torch.ones(2, 3, dtype=torch.bool))
    with pytest.raises(ConfigError):
        predicted_test_accuracy(torch.zeros(1, 4, 1), torch.ones(1, 10))  # not boolean


def test_liu_toy_embedding_layout():
    """Works on EnsembleLiuToy's embedding parameter as is."""
    from toymodels.models.mlp import EnsembleLiuToy
    m = EnsembleLiuToy(3, 10, 19).reset_parameters([0, 1, 2])
    r = rqi(m.embedding.detach())
    assert r.shape == (3,) and torch.all((0 <= r) & (r <= 1))


def test_every_pair_combination_once():
    """Each unordered pair of equal-sum rows appears exactly once (combinatorial count)."""
    for p in (5, 8):
        rows = liu_rows(p)
        n = sum(1 for r1, r2 in itertools.combinations(rows, 2) if sum(r1) == sum(r2))
        assert len(parallelograms(p).quads) == n
