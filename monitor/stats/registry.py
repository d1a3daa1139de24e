"""Names of the drift statistics, as the configuration spells them."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

__all__ = ["DEFAULT_THRESHOLDS", "SEVERITIES", "STATISTICS", "Statistic", "higher_is_worse"]

_KINDS = frozenset({"numeric", "categorical"})


@dataclass(frozen=True)
class Statistic:
    """What a named statistic applies to and how to read it.

    Parameters
    ----------
    name
        The name used in the configuration.
    kinds
        Feature kinds it applies to, a non-empty subset of ``{"numeric", "categorical"}``.
    higher_is_worse
        True when larger values mean more drift (distances); False for p-values.
    description
        One line for humans.

    Examples
    --------
    >>> STATISTICS["ks"].kinds
    frozenset({'numeric'})
    >>> Statistic("x", frozenset({"text"}), True, "")
    Traceback (most recent call last):
    ...
    ValueError: kinds must be a non-empty subset of ['categorical', 'numeric'], got ['text']

    """

    name: str
    kinds: frozenset[str]
    higher_is_worse: bool
    description: str

    def __post_init__(self) -> None:
        if not self.kinds or not self.kinds <= _KINDS:
            raise ValueError(
                f"kinds must be a non-empty subset of {sorted(_KINDS)}, got {sorted(self.kinds)}"
            )


_NUMERIC = frozenset({"numeric"})
_CATEGORICAL = frozenset({"categorical"})
_BOTH = _NUMERIC | _CATEGORICAL

STATISTICS: dict[str, Statistic] = {
    statistic.name: statistic
    for statistic in (
        Statistic("psi", _BOTH, True, "Population stability index over coarse bins"),
        Statistic("ks", _NUMERIC, True, "Kolmogorov-Smirnov statistic over fine bins"),
        Statistic("ks_pvalue", _NUMERIC, False, "Asymptotic two-sided Kolmogorov-Smirnov p-value"),
        Statistic("chi2", _CATEGORICAL, True, "Chi-square statistic of homogeneity"),
        Statistic("chi2_pvalue", _CATEGORICAL, False, "Chi-square test of homogeneity p-value"),
        Statistic("js", _BOTH, True, "Jensen-Shannon distance, base 2, over coarse bins"),
        Statistic("wasserstein", _NUMERIC, True, "Wasserstein-1 distance / reference std"),
    )
}
"""The statistics by name."""

DEFAULT_THRESHOLDS: dict[str, tuple[float, float]] = {
    "psi": (0.1, 0.25),
    "ks": (0.1, 0.2),
    "js": (0.15, 0.25),
    "wasserstein": (0.2, 0.4),
}
"""(warning, critical) levels by statistic name. The p-values and the chi-square statistic
(which grows with the sample sizes) have none: they are reported only."""

SEVERITIES = ("ok", "warning", "critical")
"""The levels a judged value reaches against its thresholds, least severe first."""


@cache  # a few names, asked for each verdict of each column of each window
def higher_is_worse(stat: str) -> bool:
    """Which way ``stat`` gets worse: the registry says for drift statistics (a
    ``previous.`` prefix names the same statistic against the previous window); other names
    are shares and distances, except p-values.

    >>> higher_is_worse("previous.ks_pvalue"), higher_is_worse("missing_rate_change")
    (False, True)
    """
    base = stat.rpartition(".")[2]
    known = STATISTICS.get(base)
    return known.higher_is_worse if known is not None else not base.endswith("_pvalue")
