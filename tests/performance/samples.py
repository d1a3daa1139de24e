"""Seeded labeled streams shared by the performance tests."""

from __future__ import annotations

from itertools import pairwise

import numpy as np


def binary_stream(
    seed: int, n: int, calibrated: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Codes (0 negative, 1 positive) of labels and predictions, and scores in (0, 1).

    Labels are Bernoulli(score) when ``calibrated``, else Bernoulli(score**3) (scores far too
    high); predictions are ``score >= 0.5``.
    """
    rng = np.random.default_rng(seed)
    score = rng.beta(2.0, 2.0, n)
    y_true = (rng.random(n) < (score if calibrated else score**3)).astype(np.int64)
    return y_true, (score >= 0.5).astype(np.int64), score


def multiclass_stream(seed: int, n: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Codes of labels and predictions over ``k`` classes; the last class never occurs."""
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, k - 1, n)
    right = rng.random(n) < 0.6
    return y_true, np.where(right, y_true, rng.integers(0, k - 1, n))


def splits(n: int, seed: int, parts: int) -> list[slice]:
    """``parts`` consecutive slices covering range(n), cut at seeded random points."""
    cuts = np.sort(np.random.default_rng(seed).integers(0, n + 1, parts - 1))
    bounds = [0, *cuts.tolist(), n]
    return [slice(a, b) for a, b in pairwise(bounds)]
