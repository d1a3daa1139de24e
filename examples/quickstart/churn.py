"""A stand-in for your model and its customers: what the reference and the app share."""

from __future__ import annotations

import math

import numpy as np

PLANS = ["basic", "standard", "premium"]


def customers(rng: np.random.Generator, n: int, shift: float = 0.0) -> dict[str, list]:
    """``n`` customers' features; ``shift`` moves monthly charges up by that many std."""
    return {
        "tenure_months": rng.integers(1, 72, n).tolist(),
        "monthly_charges": np.round(rng.normal(65 + 30 * shift, 30, n), 2).tolist(),
        "plan": rng.choice(PLANS, n, p=[0.5, 0.3, 0.2]).tolist(),
    }


def score(tenure_months: int, monthly_charges: float, plan: str) -> float:
    """The model: the probability that the customer churns."""
    z = 1.0 - 0.05 * tenure_months + 0.02 * (monthly_charges - 65) - 0.5 * PLANS.index(plan)
    return 1 / (1 + math.exp(-z))


def outcome(rng: np.random.Generator, p: float) -> int:
    """What happened (the label), known later in a real app."""
    return int(rng.random() < p)
