"""Drift statistics: pure functions of binned counts.

Each statistic compares reference counts with current counts over the same bins, as the
sketches produce them (:mod:`monitor.stats.binning`), and is tested against scipy on the
raw data. :data:`STATISTICS` maps configuration names to what they apply to.

The registry is imported here; the statistics (numpy) on first use (PEP 562), so that the config
and the read-only commands, which need only the registry, do not load numpy
(``python -X importtime -m monitor windows ...``).

"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

from monitor.stats.registry import DEFAULT_THRESHOLDS, STATISTICS, Statistic

if TYPE_CHECKING:  # what the lazy names resolve to, for type checkers and editors
    from monitor.stats.binning import bin_index, coarse_edges, coarse_groups, coarsen, histogram
    from monitor.stats.chi2 import Chi2Result, chi2
    from monitor.stats.jensen_shannon import js_distance
    from monitor.stats.ks import KsResult, ks
    from monitor.stats.psi import psi
    from monitor.stats.wasserstein import bin_points, wasserstein

#: module -> the public names it holds, imported on first use
_LAZY = {
    "monitor.stats.binning": ("bin_index", "coarse_edges", "coarse_groups", "coarsen", "histogram"),
    "monitor.stats.chi2": ("Chi2Result", "chi2"),
    "monitor.stats.jensen_shannon": ("js_distance",),
    "monitor.stats.ks": ("KsResult", "ks"),
    "monitor.stats.psi": ("psi",),
    "monitor.stats.wasserstein": ("bin_points", "wasserstein"),
}
_MODULE_OF = {name: module for module, names in _LAZY.items() for name in names}

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
    "preload",
    "psi",
    "wasserstein",
]


def preload() -> None:
    """Import what the window statistics import on first use (scipy.special: 0.2 s or more),
    for a loop that must not stall at its first window's close (``monitor run`` calls it
    before it consumes)."""
    import scipy.special  # noqa: F401


def __getattr__(name: str) -> Any:
    """Import a statistic's module on first use (PEP 562) and keep all its public names: importing
    ``monitor.stats.chi2`` binds the submodule as ``chi2`` here, which the function replaces."""
    try:
        module = import_module(_MODULE_OF[name])
    except KeyError:
        raise AttributeError(f"module 'monitor.stats' has no attribute {name!r}") from None
    for public in _LAZY[module.__name__]:
        globals()[public] = getattr(module, public)
    return globals()[name]


def __dir__() -> list[str]:
    return sorted({*globals(), *_MODULE_OF})
