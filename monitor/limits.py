"""Bounds that the event contract and the SQL schema share.

The decoder (:mod:`monitor.events`) rejects a value beyond them as a dead letter, and the schema
(:mod:`monitor.store.schema`) sizes its columns by them, so the database never receives a value
it cannot store (on PostgreSQL a VARCHAR longer than its column is an error, not a truncation).

>>> MAX_SEGMENT_KEY_CHARS + len("=") + MAX_SEGMENT_VALUE_CHARS <= MAX_SEGMENT_CHARS
True
>>> from monitor.segments import population
>>> len(population("v" * MAX_ID_CHARS, "s" * MAX_SEGMENT_CHARS)) <= MAX_POPULATION_CHARS
True
"""

from __future__ import annotations

__all__ = [
    "MAX_ID_CHARS",
    "MAX_POPULATION_CHARS",
    "MAX_SEGMENT_CHARS",
    "MAX_SEGMENT_KEY_CHARS",
    "MAX_SEGMENT_VALUE_CHARS",
    "MAX_SUBJECT_CHARS",
    "MAX_VALUE_CHARS",
]

#: Ids: ``model_id``, ``model_version``, ``prediction_id`` (and feature names in the schema).
MAX_ID_CHARS = 200
#: A category as the database stores it: a categorical prediction, a label, a category value.
MAX_VALUE_CHARS = 200
#: A monitored segment as stored, ``"key=value"``.
MAX_SEGMENT_CHARS = 400
#: A segment key and a segment value in an event, so that ``"key=value"`` always fits.
MAX_SEGMENT_KEY_CHARS = 100
MAX_SEGMENT_VALUE_CHARS = MAX_SEGMENT_CHARS - MAX_SEGMENT_KEY_CHARS - 1
#: A population key as the panes table stores it: a version, a separator, a segment.
MAX_POPULATION_CHARS = MAX_ID_CHARS + 1 + MAX_SEGMENT_CHARS
#: An alert's subject: a feature (a config name, at most MAX_ID_CHARS), or "key=value/feature".
MAX_SUBJECT_CHARS = MAX_SEGMENT_CHARS + 1 + MAX_ID_CHARS
