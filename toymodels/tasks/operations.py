"""Binary operations of the grokking literature, as full tables of (a, b) -> c.

The operation names follow the expressions in SCIENCE.md; openai/grok's operator strings are accepted as aliases,
with or without its ``_mod_<p>`` suffix (the suffix must then equal p). Division follows openai/grok: for b != 0 and
every answer c, the row is (a = b*c mod p, b) -> c, so each row has a unique answer only when p is prime.
The mixed operation ``a/b if b odd else a-b`` is Power et al.'s x/y mod p for odd y, else x - y: openai/grok evaluates
``(x._value//y)if(y._value%2==1)else(x-y)`` on ``mod.Mod`` numbers, whose ``//`` is multiplication by the modular
inverse (not floor division). Its former name ``a//b if b odd else a-b`` is an alias with this meaning.
The S5 operations act on the 120 permutations of {0..4} (p is ignored).
``liu_add`` is Liu et al.'s non-modular toy: a + b on 0..p-1 with only the pairs a <= b, answers 0..2p-2.
"""
from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..errors import ConfigError


def _is_prime(n: int) -> bool:
    return n >= 2 and all(n % k for k in range(2, int(n**0.5) + 1))


# Elementwise formulas on int64 arrays a, b (values 0..p-1), reduced mod p by the caller.
_MODULAR: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "a+b": lambda a, b: a + b,
    "a-b": lambda a, b: a - b,
    "a*b": lambda a, b: a * b,
    "a^2+b": lambda a, b: a**2 + b,
    "a^3+b": lambda a, b: a**3 + b,
    "a^2+b^2": lambda a, b: a**2 + b**2,
    "a^2+ab+b^2": lambda a, b: a**2 + a * b + b**2,
    "a^2+ab+b^2+a": lambda a, b: a**2 + a * b + b**2 + a,
    "a^3+ab": lambda a, b: a**3 + a * b,
    "a^3+ab^2+b": lambda a, b: a**3 + a * b**2 + b,
    "a+b if a even else a*b": lambda a, b: np.where(a % 2 == 0, a + b, a * b),
    "a+b if a even else a-b": lambda a, b: np.where(a % 2 == 0, a + b, a - b),
}
_SPECIAL = ("a/b", "a/b if b odd else a-b", "s5", "s5_conj", "s5_aba", "liu_add")

ALIASES = {
    "+": "a+b", "add": "a+b", "-": "a-b", "subtract": "a-b", "*": "a*b", "/": "a/b", "**2+": "a^2+b",
    "**3+": "a^3+b", "x**2+y**2": "a^2+b^2", "x**2+y**2+x*y": "a^2+ab+b^2", "x2xyy2": "a^2+ab+b^2",
    "x**2+y**2+x*y+x": "a^2+ab+b^2+a", "x**3+x*y": "a^3+ab", "x**3+x*y**2+y": "a^3+ab^2+b",
    "+*": "a+b if a even else a*b", "+-": "a+b if a even else a-b", "s5conj": "s5_conj", "s5aba": "s5_aba",
    "(x//y)if(y%2==1)else(x-y)": "a/b if b odd else a-b",
    "(x._value//y)if(y._value%2==1)else(x-y)": "a/b if b odd else a-b",  # openai/grok's mix1
    "a//bifboddelsea-b": "a/b if b odd else a-b",  # the former (misleading) name
}
OPERATIONS = tuple(_MODULAR) + _SPECIAL
_BY_KEY = {name.replace(" ", ""): name for name in OPERATIONS}
_SUFFIX = re.compile(r"^(.+)_mod_(\d+)$")  # openai/grok's "<expression>_mod_97"
_PRIME_ONLY = ("a/b", "a/b if b odd else a-b")


def _inverse_mod(b: np.ndarray, p: int) -> np.ndarray:
    """b^-1 mod p for b: [R] int64 in 1..p-1 and p prime."""
    inverse = np.array([0] + [pow(k, -1, p) for k in range(1, p)], dtype=np.int64)  # [p]
    return inverse[b]


@dataclass(frozen=True)
class OperationTable:
    """The full table of one operation.

    pairs: [R, 2] int64 operands (a, b) as symbol indices 0..n_symbols-1; answers: [R] int64 in 0..n_classes-1.
    """

    operation: str
    pairs: np.ndarray
    answers: np.ndarray
    n_symbols: int
    n_classes: int

    @property
    def rows(self) -> int:
        return len(self.answers)


def _split_suffix(operation: str) -> tuple[str, int | None]:
    """(expression without spaces, p of a ``_mod_<p>`` suffix or None)."""
    key = operation.replace(" ", "")
    match = _SUFFIX.match(key)
    return (match[1], int(match[2])) if match else (key, None)


def canonical(operation: str) -> str:
    """The canonical name of ``operation`` (an alias, or a canonical name with any spacing, either with an
    openai/grok ``_mod_<p>`` suffix)."""
    key, _ = _split_suffix(operation)
    name = ALIASES.get(key) or _BY_KEY.get(key)
    if name is None:
        raise ConfigError("task.operation", f"unknown operation {operation!r}; allowed: {', '.join(OPERATIONS)}")
    return name


def _permutation_table(kind: str) -> OperationTable:
    perms = np.array(list(itertools.permutations(range(5))), dtype=np.int64)  # [120, 5], lexicographic
    index = {tuple(q): i for i, q in enumerate(perms)}
    inverse = np.argsort(perms, axis=1)
    a_idx, b_idx = np.meshgrid(np.arange(120), np.arange(120), indexing="ij")
    a_idx, b_idx = a_idx.ravel(), b_idx.ravel()
    a, b = perms[a_idx], perms[b_idx]
    take = lambda x, y: np.take_along_axis(x, y, axis=1)  # noqa: E731  take(x, y)[i] = x[y[i]]
    if kind == "s5":  # openai/grok: c = b[a]
        c = take(b, a)
    elif kind == "s5_conj":  # a * b * a^-1, sympy order (left factor applied first): i -> a^-1(b(a(i)))
        c = take(take(inverse[a_idx], b), a)
    else:  # s5_aba: i -> a(b(a(i)))
        c = take(take(a, b), a)
    answers = np.array([index[tuple(row)] for row in c], dtype=np.int64)
    return OperationTable(kind, np.stack([a_idx, b_idx], 1), answers, 120, 120)


def operation_table(operation: str, p: int) -> OperationTable:
    """The full table of ``operation`` at modulus ``p`` (rows in lexicographic order of the operands)."""
    name = canonical(operation)
    suffix_p = _split_suffix(operation)[1]
    if suffix_p is not None and suffix_p != p:
        raise ConfigError("task.p", f"operation {operation!r} names modulus {suffix_p}, but p = {p}")
    if name.startswith("s5"):
        return _permutation_table(name)
    if p < 2:
        raise ConfigError("task.p", f"must be an integer >= 2 (got {p})")
    if name == "liu_add":
        a, b = np.triu_indices(p)  # a <= b
        return OperationTable(name, np.stack([a, b], 1).astype(np.int64), (a + b).astype(np.int64), p, 2 * p - 1)
    a, b = (g.ravel().astype(np.int64) for g in np.meshgrid(np.arange(p), np.arange(p), indexing="ij"))
    if name in _PRIME_ONLY and not _is_prime(p):
        raise ConfigError("task.p", f"division needs a prime modulus (got {p})")
    if name == "a/b":
        keep = b != 0
        b, c = b[keep], a[keep]  # answer c, divisor b
        return OperationTable(name, np.stack([(b * c) % p, b], 1), c, p, p)
    if name == "a/b if b odd else a-b":  # Power et al.: x / y mod p for odd y, else x - y
        c = np.where(b % 2 == 1, a * _inverse_mod(b, p), a - b) % p  # odd b >= 1, so b^-1 exists
    else:
        c = _MODULAR[name](a, b) % p
    return OperationTable(name, np.stack([a, b], 1), c.astype(np.int64), p, p)
