"""Population stability index."""

from __future__ import annotations

from numpy.typing import ArrayLike

from monitor.stats._validation import paired_counts
from monitor.stats.rows import psi_rows

__all__ = ["psi"]


def psi(ref_counts: ArrayLike, cur_counts: ArrayLike, eps: float = 1e-4) -> float:
    r"""Population stability index between reference and current binned counts.

    .. math:: \mathrm{PSI} = \sum_i (q_i - p_i) \ln \frac{q_i}{p_i}

    with ``p`` the reference and ``q`` the current bin proportions. Empty bins are smoothed
    by clipping: each proportion is raised to at least ``eps`` (``max(count / total, eps)``)
    and the proportions are not renormalised afterwards, so a bin that is empty on both
    sides contributes exactly 0 and a bin empty on one side contributes a finite term.

    Parameters
    ----------
    ref_counts
        Reference counts per bin (numeric features: coarse bins from
        :func:`~monitor.stats.binning.coarsen`; categorical features: vocabulary + unseen).
    cur_counts
        Current counts over the same bins.
    eps
        Floor of each proportion, greater than 0.

    Returns
    -------
    float
        The PSI (at least 0), or nan if either total is 0.

    Examples
    --------
    >>> psi([10, 20, 30, 40], [10, 20, 30, 40])
    0.0
    >>> round(psi([25, 25, 25, 25], [10, 20, 30, 40]), 4)
    0.2282
    >>> psi([25, 25, 25, 25], [0, 0, 0, 0])
    nan

    """
    if not eps > 0:
        raise ValueError(f"eps must be greater than 0, got {eps}")
    ref, cur = paired_counts(ref_counts, cur_counts)
    return float(psi_rows(ref[None], cur[None], eps)[0])
