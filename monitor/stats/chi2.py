"""Chi-square test of homogeneity for categorical counts."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike

from monitor.stats._validation import paired_counts

__all__ = ["Chi2Result", "chi2", "chi2_pvalue", "chi2_statistic"]


class Chi2Result(NamedTuple):
    """Result of :func:`chi2`."""

    statistic: float
    """Pearson's chi-square statistic; it grows with the sample sizes."""
    pvalue: float
    """Upper tail of the chi-square distribution with ``dof`` degrees of freedom."""
    dof: int
    """Number of non-empty categories minus 1."""


def chi2(ref_counts: ArrayLike, cur_counts: ArrayLike) -> Chi2Result:
    """Chi-square test that reference and current counts come from one distribution.

    The counts form the 2 x K contingency table ``[ref_counts, cur_counts]``; categories
    empty on both sides are dropped and the result equals
    ``scipy.stats.chi2_contingency(table, correction=False)`` on what remains. With fewer
    than 2 categories left there is nothing to compare: statistic 0.0, p-value 1.0, dof 0.

    Parameters
    ----------
    ref_counts
        Reference counts over the vocabulary plus the final unseen slot.
    cur_counts
        Current counts over the same categories.

    Returns
    -------
    Chi2Result
        Statistic, p-value and degrees of freedom; statistic and p-value are nan (dof 0)
        if either total is 0, where the test is undefined.

    Examples
    --------
    >>> chi2([10, 20, 0], [10, 20, 0])
    Chi2Result(statistic=0.0, pvalue=1.0, dof=1)
    >>> result = chi2([30, 10, 0], [10, 30, 0])
    >>> result.statistic, round(result.pvalue, 6), result.dof
    (20.0, 8e-06, 1)
    >>> chi2([5, 0], [7, 0])
    Chi2Result(statistic=0.0, pvalue=1.0, dof=0)

    """
    ref, cur = paired_counts(ref_counts, cur_counts)
    statistic, dof = chi2_statistic(ref, cur)
    return Chi2Result(statistic, float(chi2_pvalue(np.array([statistic]), np.array([dof]))[0]), dof)


def chi2_statistic(ref: np.ndarray, cur: np.ndarray) -> tuple[float, int]:
    """:func:`chi2`'s statistic and degrees of freedom for counts already checked: (nan, 0)
    if either total is 0, (0.0, 0) with fewer than 2 categories left."""
    n_ref = ref.sum()
    n_cur = cur.sum()
    if n_ref == 0 or n_cur == 0:
        return float("nan"), 0
    observed = np.stack([ref, cur])
    column_totals = observed.sum(axis=0)
    keep = column_totals > 0
    dof = int(np.count_nonzero(keep)) - 1
    if dof < 1:
        return 0.0, 0
    observed = observed[:, keep]
    expected = np.outer([n_ref, n_cur], column_totals[keep]) / (n_ref + n_cur)
    return float(np.sum((observed - expected) ** 2 / expected)), dof


def chi2_pvalue(statistic: np.ndarray, dof: np.ndarray) -> np.ndarray:
    """The p-values of :func:`chi2_statistic`'s results, element-wise (many columns, many
    windows in one call): the upper tail of the chi-square distribution; 1 where no degree
    of freedom is left, nan where the statistic is."""
    from scipy.special import chdtrc  # here, not at import: the CLI loads this module

    free = dof >= 1
    tail = chdtrc(np.where(free, dof, 1), np.where(free, statistic, 0.0))
    return np.where(free, tail, np.where(np.isnan(statistic), np.nan, 1.0))
