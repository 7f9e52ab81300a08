"""Operation tables, per-member splits, label noise and minibatch sampling."""
import itertools

import numpy as np
import pytest
import torch

from toymodels.errors import ConfigError
from toymodels.rng import hash_uniform
from toymodels.tasks import OPERATIONS, operation_table, sample_batch
from toymodels.tasks.splits import corrupt_labels, member_splits


def test_division_table_inverts_multiplication():
    p = 7
    t = operation_table("a/b", p)
    assert t.rows == p * (p - 1)
    a, b = t.pairs.T
    assert np.all(b != 0)
    assert np.all((t.answers * b) % p == a)  # a / b = c  <=>  a = b c
    assert len({(x, y) for x, y in t.pairs}) == t.rows  # each (a, b) once: a function of the operands
    with pytest.raises(ConfigError, match="prime"):
        operation_table("a/b", 8)


def test_modular_formulas_against_python():
    p = 11
    formulas = {
        "a+b": lambda a, b: a + b, "a-b": lambda a, b: a - b, "a*b": lambda a, b: a * b,
        "a^2+b": lambda a, b: a * a + b, "a^3+b": lambda a, b: a**3 + b, "a^2+b^2": lambda a, b: a * a + b * b,
        "a^2+ab+b^2": lambda a, b: a * a + a * b + b * b, "a^2+ab+b^2+a": lambda a, b: a * a + a * b + b * b + a,
        "a^3+ab": lambda a, b: a**3 + a * b, "a^3+ab^2+b": lambda a, b: a**3 + a * b * b + b,
        "a/b if b odd else a-b": lambda a, b: a * pow(b, -1, p) if b % 2 == 1 else a - b,
        "a+b if a even else a*b": lambda a, b: a + b if a % 2 == 0 else a * b,
        "a+b if a even else a-b": lambda a, b: a + b if a % 2 == 0 else a - b,
    }
    for name, f in formulas.items():
        t = operation_table(name, p)
        expect = [f(int(a), int(b)) % p for a, b in t.pairs]
        assert t.answers.tolist() == expect, name
    assert operation_table("+", p).operation == "a+b" and operation_table("**2+", p).operation == "a^2+b"


def test_mixed_operation_is_modular_division_for_odd_b():
    """Power et al. / openai/grok: x / y mod p for odd y (grok's ``//`` on mod.Mod is the modular inverse)."""
    p = 97
    t = operation_table("a/b if b odd else a-b", p)
    a, b = t.pairs.T
    odd = b % 2 == 1
    assert t.rows == p * p
    assert np.all((t.answers[odd] * b[odd]) % p == a[odd])  # c = a / b  <=>  c * b = a (mod p)
    assert np.all(t.answers[~odd] == (a[~odd] - b[~odd]) % p)
    floor = np.where(odd, a // np.maximum(b, 1), a - b) % p
    assert int((t.answers != floor).sum()) == 4347  # of the 9409 answers, as many differ from floor division
    for alias in ("a//b if b odd else a-b", "(x//y)if(y%2==1)else(x-y)",
                  "(x._value//y)if(y._value%2==1)else(x-y)_mod_97"):
        other = operation_table(alias, p)
        assert other.operation == t.operation and np.array_equal(other.answers, t.answers), alias
    with pytest.raises(ConfigError, match="prime"):
        operation_table("a/b if b odd else a-b", 15)  # 3 is odd but has no inverse mod 15


@pytest.mark.parametrize("grok, name", [
    ("x**2+y**2_mod_97", "a^2+b^2"), ("x**2+y**2+x*y_mod_97", "a^2+ab+b^2"),
    ("x**2+y**2+x*y+x_mod_97", "a^2+ab+b^2+a"), ("x**3+x*y_mod_97", "a^3+ab"),
    ("x**3+x*y**2+y_mod_97", "a^3+ab^2+b"), ("(x._value//y)if(y._value%2==1)else(x-y)_mod_97", "a/b if b odd else a-b"),
])
def test_grok_mod_97_strings(grok, name):
    t = operation_table(grok, 97)
    assert t.operation == name and np.array_equal(t.answers, operation_table(name, 97).answers)
    with pytest.raises(ConfigError, match="modulus 97"):
        operation_table(grok, 11)


def _compose(x, y):  # (x o y)(i) = x(y(i))
    return tuple(x[y[i]] for i in range(5))


def test_s5_tables():
    perms = list(itertools.permutations(range(5)))
    index = {q: i for i, q in enumerate(perms)}
    inv = lambda q: tuple(np.argsort(q))  # noqa: E731
    for name, f in {"s5": lambda a, b: _compose(b, a),  # openai/grok: c = b[a]
                    "s5_conj": lambda a, b: _compose(inv(a), _compose(b, a)),  # sympy's a*b*a^-1
                    "s5_aba": lambda a, b: _compose(a, _compose(b, a))}.items():
        t = operation_table(name, 0)
        assert t.rows == 120 * 120 and t.n_classes == 120
        for r in range(0, t.rows, 97):
            a, b = perms[t.pairs[r, 0]], perms[t.pairs[r, 1]]
            assert t.answers[r] == index[f(a, b)], name
    s5 = operation_table("s5", 0)
    e = index[tuple(range(5))]
    rows = s5.pairs[:, 0] == e
    assert np.all(s5.answers[rows] == s5.pairs[rows, 1])  # identity composes trivially


def test_liu_addition():
    t = operation_table("liu_add", 10)
    assert t.rows == 55 and t.n_classes == 19
    assert np.all(t.pairs[:, 0] <= t.pairs[:, 1]) and np.all(t.answers == t.pairs.sum(1))


@pytest.mark.parametrize("op", OPERATIONS)
def test_every_operation_builds(op):
    t = operation_table(op, 13)
    assert t.answers.min() >= 0 and t.answers.max() < t.n_classes and t.rows > 0


def test_bad_operations():
    with pytest.raises(ConfigError, match="task.operation"):
        operation_table("a**b", 7)
    with pytest.raises(ConfigError, match="task.p"):
        operation_table("a+b", 1)


def test_split_depends_only_on_seed_and_size():
    pool = torch.arange(200)
    alone = member_splits(pool, None, [60], [5])
    mixed = member_splits(pool, None, [10, 60, 100, 60], [1, 5, 5, 9])
    assert torch.equal(alone.train_mask[0], mixed.train_mask[1])
    assert not torch.equal(mixed.train_mask[1], mixed.train_mask[3])  # another seed, another split
    assert torch.equal(mixed.train_mask[1] | mixed.test_mask[1], torch.ones(200, dtype=torch.bool))
    assert not torch.any(mixed.train_mask & mixed.test_mask)
    assert mixed.n_train.tolist() == [10, 60, 100, 60]


def test_label_noise_corrupts_exactly_k_training_rows():
    pool = torch.arange(100)
    labels = torch.arange(100) % 7
    split = member_splits(pool, None, [40, 40], [0, 0])
    noisy = corrupt_labels(labels, split, [0, 5], [3, 3], 7)
    assert torch.equal(noisy[0], labels)
    changed = noisy[1] != labels
    assert changed.sum() == 5 and torch.all(split.train_mask[1][changed])


def test_minibatches_cover_each_epoch_once_and_are_position_independent():
    pool = torch.arange(50)
    split = member_splits(pool, None, [23, 40], [0, 1])
    seeds = torch.tensor([7, 8])
    B = 5
    seen = [[], []]
    for step in range(5):  # member 0: ceil(23 / 5) = 5 batches per epoch
        idx, valid = sample_batch(split, seeds, step, B)
        seen[0] += idx[0][valid[0]].tolist()
    assert sorted(seen[0]) == sorted(split.train_idx[0, :23].tolist())
    alone = member_splits(pool, None, [40], [1])
    for step in (0, 3, 17):
        a, va = sample_batch(alone, seeds[1:], step, B)
        b, vb = sample_batch(split, seeds, step, B)
        assert torch.equal(a[0], b[1]) and torch.equal(va[0], vb[1])


def test_hash_uniform_is_uniform_and_deterministic():
    u = hash_uniform(torch.tensor([1, 2]), torch.tensor([0, 0]), torch.arange(20000))
    assert torch.equal(u, hash_uniform(torch.tensor([1, 2]), torch.tensor([0, 0]), torch.arange(20000)))
    assert abs(u.mean().item() - 0.5) < 0.01 and u.min() >= 0 and u.max() < 1
    assert not torch.equal(u[0], u[1])
