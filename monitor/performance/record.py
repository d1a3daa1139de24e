"""The label join's record: a prediction waiting for its label, or an early label waiting for
its prediction. The one home of its fields, read by the join (monitor.join), the performance
panes (monitor.performance.pane) and the store (monitor.store.performance).

A record is a plain tuple, typed field by field, and its fields are read by the position
constants below. Not a ``NamedTuple``: CPython's garbage collector untracks plain tuples of atomic
values but never a tuple subclass, and the join holds hundreds of thousands of records (tracked
containers cost the join about a quarter of its time in full collections); a ``NamedTuple`` is
also 18 times slower to build (0.33 s against 0.018 s per million, measured with ``timeit``).

>>> record: Record = ("fraud", "3", 1_000, "1", 0.9, {"region": "eu"}, None, None)
>>> record[MODEL], record[TS], record[LABEL] is None
('fraud', 1000, True)
>>> early: Record = ("fraud", None, None, None, None, None, "1", 5_000)  # a label, first
>>> early[VERSION] is None, early[LABEL_TS]
(True, 5000)
"""

from __future__ import annotations

from typing import Any, Final

__all__ = ["LABEL", "LABEL_TS", "MODEL", "PRED", "SCORE", "SEGMENTS", "TS", "VERSION", "Record"]

#: (model id, model version, prediction time, prediction, score, segments, label, label time);
#: version and prediction time are None in an early label, label and label time None in a
#: prediction not yet labeled.
Record = tuple[
    str, str | None, int | None, Any, float | None, dict[str, Any] | None, Any, int | None
]

MODEL: Final = 0
VERSION: Final = 1
TS: Final = 2
PRED: Final = 3
SCORE: Final = 4
SEGMENTS: Final = 5
LABEL: Final = 6
LABEL_TS: Final = 7
