"""Learning phases of Liu et al. (2022), "Towards Understanding Grokking", from per-member training histories.

s_train / s_test: the first evaluated step at which train / test accuracy reaches the threshold (never reached
within the budget B: s = B). With a gap G:
    comprehension  both reached and s_test - s_train <  G
    grokking       both reached and s_test - s_train >= G
    memorization   train reached, test not
    confusion      train not reached
Liu et al. use threshold 0.9, G = 1e3 (2e3 in one figure) and budgets 1e4..1e5: all are parameters here.
"""
from __future__ import annotations

from collections import Counter

import numpy as np

PHASES = ("comprehension", "grokking", "memorization", "confusion")


def first_crossing(steps: np.ndarray, values: np.ndarray, threshold: float, budget: int | None = None) -> np.ndarray:
    """First step with values >= threshold, per member. steps [T]; values [E, T] -> [E] int (-1: never, or only
    after the budget)."""
    hit = values >= threshold - 1e-6  # accuracies are float32 ratios: 9/10 is stored as 0.8999999762
    if budget is not None:
        hit &= steps[None, :] <= budget
    first = np.where(hit.any(1), steps[np.argmax(hit, axis=1)], -1)
    return first.astype(np.int64)


def classify(s_train: np.ndarray, s_test: np.ndarray, gap: float) -> np.ndarray:
    """Phase names [E] from first-crossing steps [E] (-1 = not reached within the budget)."""
    s_train, s_test = np.asarray(s_train), np.asarray(s_test)
    train, test = s_train >= 0, s_test >= 0
    grok = train & test & (s_test - s_train >= gap)
    comp = train & test & ~grok
    return np.select([comp, grok, train & ~test], PHASES[:3], default=PHASES[3])


def phases_from_history(steps: np.ndarray, train_acc: np.ndarray, test_acc: np.ndarray, threshold: float = 0.9,
                        gap: float = 1000, budget: int | None = None):
    """(phase [E], s_train [E], s_test [E]) from accuracy histories [E, T]."""
    s_train = first_crossing(steps, train_acc, threshold, budget)
    s_test = first_crossing(steps, test_acc, threshold, budget)
    return classify(s_train, s_test, gap), s_train, s_test


def majority(phases: list[str]) -> tuple[str, float]:
    """Majority phase of a grid point's seeds and the share of seeds that agree (ties go to the earlier phase in
    PHASES order)."""
    counts = Counter(phases)
    best = max(PHASES, key=lambda p: (counts.get(p, 0), -PHASES.index(p)))
    return best, counts[best] / len(phases)


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman's rank correlation (average ranks for ties); with two points the sign of their slope; NaN with
    fewer, or when either variable is constant."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if len(x) < 2:
        return float("nan")

    def ranks(v):
        order = np.argsort(v, kind="mergesort")
        r = np.empty(len(v))
        r[order] = np.arange(len(v), dtype=float)
        for u in np.unique(v):  # ties share their mean rank
            r[v == u] = r[v == u].mean()
        return r

    rx, ry = ranks(x), ranks(y)
    if rx.std() == 0 or ry.std() == 0:
        return float("nan")
    return float(np.corrcoef(rx, ry)[0, 1])
