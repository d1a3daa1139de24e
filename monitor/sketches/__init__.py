"""Mergeable window state: integer counts over reference-derived bins.

A :class:`Sketch` holds, for one model version and one pane of time, the counts of every
monitored column over the bins of its reference profile. Merging adds counts (and takes
minima/maxima), so it is exact, associative and commutative: panes of a sliding window,
partitions, processes and restarts combine to the same answer as one pass.
"""

from monitor.sketches.geometry import Geometry
from monitor.sketches.sketch import Sketch, accumulate, groups

__all__ = ["Geometry", "Sketch", "accumulate", "groups"]
