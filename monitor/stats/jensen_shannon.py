"""Jensen-Shannon distance."""

from __future__ import annotations

from numpy.typing import ArrayLike

from monitor.stats._validation import paired_counts
from monitor.stats.rows import js_rows

__all__ = ["js_distance"]


def js_distance(ref_counts: ArrayLike, cur_counts: ArrayLike) -> float:
    r"""Jensen-Shannon distance (base 2) between reference and current binned counts.

    With ``p`` and ``q`` the bin proportions and ``m = (p + q) / 2``,

    .. math:: \mathrm{JS} = \sqrt{\tfrac12 \mathrm{KL}(p \| m) + \tfrac12 \mathrm{KL}(q \| m)}

    with logarithms in base 2, so the distance lies in ``[0, 1]``; terms with ``p_i = 0``
    are 0 (no smoothing is needed because ``m_i > 0`` wherever ``p_i > 0`` or ``q_i > 0``).
    It equals ``scipy.spatial.distance.jensenshannon(p, q, base=2)``, clipped to ``[0, 1]``
    against rounding.

    Parameters
    ----------
    ref_counts
        Reference counts per bin.
    cur_counts
        Current counts over the same bins.

    Returns
    -------
    float
        The distance in ``[0, 1]``, or nan if either total is 0.

    Examples
    --------
    >>> js_distance([1, 1], [1, 1])
    0.0
    >>> js_distance([1, 0], [0, 1])
    1.0
    >>> round(js_distance([2, 0], [1, 1]), 4)
    0.5579

    """
    ref, cur = paired_counts(ref_counts, cur_counts)
    return float(js_rows(ref[None], cur[None])[0])
