"""Segments: sub-populations of a model version named by a key of the events' ``segments``.

Which values of a key are monitored on their own is decided by the reference, never by the
order events arrive in: the values with at least ``min_reference_rows`` reference rows, ranked by
their reference count (most first, ties by value), the first ``top_k`` of them; every other value
(rarer ones, and values the reference never saw) counts as ``other``. So every pane, partition,
process and replay maps a value to the same segment, and their sketches merge exactly; the
cardinality is at most ``keys × (top_k + 1)``.

Inside the engine a segment's panes are kept next to its model version's under a *population*
key: the version for the whole population, ``version + SEP + "key=value"`` for a segment.

>>> plan = SegmentPlan({"region": ("eu", "us")})
>>> plan.codes(["eu", None, "br"], "region")
(('eu', 'us', 'other'), array([ 0, -1,  2]))
>>> split(population("2", "region=eu"))
('2', 'region=eu')
>>> split("2")
('2', '')
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from monitor.limits import MAX_SEGMENT_VALUE_CHARS
from monitor.values import categories

__all__ = ["OTHER", "SEP", "SegmentPlan", "population", "split", "top_values"]

#: The segment value that collects the values beyond the monitored ones.
OTHER = "other"
#: Separates the model version from the segment in a population key (never in a version).
SEP = "\x1f"


def population(version: str, segment: str) -> str:
    """The population key of ``segment`` of ``version`` (the version itself for "")."""
    return f"{version}{SEP}{segment}" if segment else version


def split(key: str) -> tuple[str, str]:
    """(version, segment) of a population key; segment "" for the whole version."""
    version, _, segment = key.partition(SEP)
    return version, segment


def top_values(values: Iterable[Any], top_k: int, min_rows: int) -> tuple[str, ...]:
    """The values monitored on their own: at least ``min_rows`` occurrences, most frequent
    first (ties by value), at most ``top_k``; None (no value) never counts, nor a value longer
    than an event may carry (events with it are dead letters, so it can have no window).

    >>> top_values(["b", "a", "a", "b", "c", None, None, None], top_k=2, min_rows=2)
    ('a', 'b')
    """
    counts = Counter(str(v) for v in values if v is not None)
    ranked = sorted(
        (
            kv
            for kv in counts.items()
            if kv[1] >= min_rows and kv[0] != OTHER and len(kv[0]) <= MAX_SEGMENT_VALUE_CHARS
        ),
        key=lambda kv: (-kv[1], kv[0]),
    )
    return tuple(v for v, _ in ranked[:top_k])


@dataclass(frozen=True)
class SegmentPlan:
    """The monitored values of each segment key (from the reference)."""

    values: Mapping[str, Sequence[str]]

    def codes(self, values: Sequence[str | None], key: str) -> tuple[tuple[str, ...], np.ndarray]:
        """The segment values of ``key`` (the monitored ones, then ``other``) and, per event,
        the index of its value among them (-1: the event has none). The one place the rule is
        applied: the engine's sketches, the reference's parts and the performance panes all
        group through it. Values are spelled as the reference's are (``"True"`` is ``"true"``,
        ``"1.0"`` is ``"1"``: :mod:`monitor.values`)."""
        names = (*self.values[key], OTHER)
        index = {v: i for i, v in enumerate(names[:-1])}
        other = len(names) - 1
        codes = np.fromiter(
            (-1 if v is None else index.get(v, other) for v in categories(values)),
            np.int64,
            len(values),
        )
        return names, codes
