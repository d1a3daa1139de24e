"""Drift statistics: pure functions of binned counts.

Each statistic compares reference counts with current counts over the same bins, as the
sketches produce them (:mod:`monitor.stats.binning`), and is tested against scipy on the
raw data. :data:`STATISTICS` maps configuration names to what they apply to.

"""

from monitor.stats.binning import bin_index, coarse_edges, coarse_groups, coarsen, histogram
from monitor.stats.chi2 import Chi2Result, chi2
from monitor.stats.jensen_shannon import js_distance
from monitor.stats.ks import KsResult, ks
from monitor.stats.psi import psi
from monitor.stats.registry import DEFAULT_THRESHOLDS, STATISTICS, Statistic
from monitor.stats.wasserstein import bin_points, wasserstein

__all__ = [
    "DEFAULT_THRESHOLDS",
    "STATISTICS",
    "Chi2Result",
    "KsResult",
    "Statistic",
    "bin_index",
    "bin_points",
    "chi2",
    "coarse_edges",
    "coarse_groups",
    "coarsen",
    "histogram",
    "js_distance",
    "ks",
    "psi",
    "wasserstein",
]
