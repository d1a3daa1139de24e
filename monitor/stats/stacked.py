"""Kernel calls of many windows, run together: one call per kernel and row shape.

The p-value kernels (:func:`~monitor.stats.rows.ks_pvalue_rows`,
:func:`~monitor.stats.rise.rise_pvalue`, :func:`~monitor.stats.chi2.chi2_pvalue`) cost mostly
per call, not per element: the KS p-values of one 20-feature window take about 1 ms, those of 16
such windows together 3 ms. :class:`Stacked` collects the calls of every window closing at once
(every model's, at a checkpoint), stacks the arguments of the calls to one kernel, calls it once
and hands each call its own rows of the result. (The statistics themselves, over a thousand
fine bins a column, cost per element and are computed per window: stacking them would copy
more than it saves.)

An element's value does not depend on the elements beside it: the kernels are element-wise,
their sums run in an order of their own (tested). So a window gets the values it would alone,
whichever windows close with it (a replay closes them in other groups than a live run does).

>>> import numpy as np
>>> def total(rows):
...     return rows.sum(axis=1)
>>> calls = Stacked()
>>> a = calls.add(total, np.ones((2, 3)))
>>> b = calls.add(total, np.full((1, 3), 2.0))
>>> c = calls.add(total, np.ones((1, 5)))
>>> calls.run()
>>> calls[a].tolist(), calls[b].tolist(), calls[c].tolist()
([3.0, 3.0], [6.0], [5.0])
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["Kernel", "Stacked"]

#: A row kernel: arrays with one row per element first, to an array likewise.
Kernel = Callable[..., np.ndarray]


class Stacked:
    """Deferred row-kernel calls: :meth:`add` them, :meth:`run` them all, then read each
    call's result by its handle."""

    def __init__(self) -> None:
        self._calls: list[tuple[Kernel, tuple[np.ndarray, ...]]] = []
        self._results: list[np.ndarray] = []

    def add(self, kernel: Kernel, *args: Any) -> int:
        """Queue ``kernel(*args)`` (every argument an array of the same number of rows, at
        least one); returns its handle."""
        arrays = tuple(np.asarray(a) for a in args)
        self._calls.append((kernel, arrays))
        return len(self._calls) - 1

    def run(self) -> None:
        """Call each kernel once per shape of its arguments' rows, on the stacked rows."""
        groups: dict[tuple[Any, ...], list[int]] = {}
        for i, (kernel, args) in enumerate(self._calls):
            groups.setdefault((kernel, *(a.shape[1:] for a in args)), []).append(i)
        results: list[np.ndarray] = [np.empty(0)] * len(self._calls)
        for (kernel, *_), members in groups.items():
            calls = [self._calls[i][1] for i in members]
            stacked = [np.concatenate(column) for column in zip(*calls)]
            cuts = np.cumsum([len(args[0]) for args in calls])[:-1]
            for i, own in zip(members, np.split(kernel(*stacked), cuts)):
                results[i] = own
        self._results = results

    def __getitem__(self, handle: int) -> np.ndarray:
        """The call's result."""
        return self._results[handle]
