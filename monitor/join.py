"""The label join: delayed labels meet their predictions, performance fills in per window.

Labels arrive minutes to weeks after their predictions, sometimes before them, sometimes never,
sometimes twice. Predictions of models that expect labels are kept as *join records* keyed by
prediction id within their partition (predictions and labels are keyed by prediction id and
co-partitioned, so a label finds its prediction in the same process):

- a label whose prediction is known is joined at once; its pair counts in the *performance pane*
  of the prediction's event time (not the label's), so a window's performance fills in as its
  labels arrive;
- a label that comes first waits as an early label; its prediction joins it on arrival;
- a second label for the same prediction replaces the first (last one wins): the first pair is
  subtracted from its pane and the new one added;
- a label whose time is past its prediction's time + ``labels.horizon`` is not joined: it is
  counted (``labels_after_horizon``) in the prediction's pane. The rule reads the two event
  times only, so a replay, a restart, the memory and the SQL path decide alike;
- records older than the label horizon expire, from SQL and from memory at the same checkpoint
  and cutoff (the watermark - the horizon): an unlabeled prediction stays unlabeled, an early
  label whose prediction never came counts as an orphan. A label whose prediction expired before
  it came cannot be told from one whose prediction never came: it is an orphan too.

Records live in SQL (written with every checkpoint, in the same transaction as positions and
panes); at most ``labels.max_pending`` of them are kept in memory, the most recent, and a label
whose record is not in memory is looked up in SQL. Memory is therefore bounded by the cap, not by
the horizon.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import compress, count, islice, repeat
from operator import itemgetter, not_
from typing import Any, cast

import numpy as np

from monitor.config import Config
from monitor.events import BadEvent, LabelBatch, ModelBatch
from monitor.performance.pane import PerformancePane
from monitor.performance.record import LABEL, LABEL_TS, MODEL, TS, VERSION, Record
from monitor.segments import SegmentPlan
from monitor.windows import WindowSpec

__all__ = ["JoinDelta", "LabelJoin", "Record", "join_key"]

log = logging.getLogger(__name__)


def _waiting(record: Record) -> bool:
    """A prediction whose label has not come yet."""
    return record[VERSION] is not None and record[LABEL] is None


def _expiring_at(record: Record) -> int:
    """The time the horizon counts from: the prediction's, or an early label's."""
    t = record[TS] if record[TS] is not None else record[LABEL_TS]
    assert t is not None  # a record is a prediction's or a label's
    return t


def join_key(source: str) -> str:
    """Predictions and labels of the same partition number meet under the same key.

    >>> join_key("predictions:3"), join_key("labels:3"), join_key("replay")
    ('3', '3', 'replay')
    """
    return source.rsplit(":", 1)[1] if ":" in source else source


@dataclass
class JoinDelta:
    """What the join changed since the last checkpoint."""

    records: dict[tuple[str, str], Record] = field(
        default_factory=dict
    )  # (key, prediction id) -> record
    panes: dict[tuple[str, str, str, int], bytes] = field(
        default_factory=dict
    )  # (key, model, version, pane) -> state
    touched: set[tuple[str, str, int]] = field(
        default_factory=set
    )  # (model, version, pane) whose windows to refresh
    #: records already stored that only got a (new) label, apart from ``records``: the store
    #: may update just their label (it writes them whole if a row is not there)
    relabeled: dict[tuple[str, str], Record] = field(default_factory=dict)
    #: (key, model) -> labels that came after their prediction's horizon (not joined)
    after_horizon: Counter[tuple[str, str]] = field(default_factory=Counter)

    def then(self, newer: JoinDelta) -> JoinDelta:
        records, relabeled = (
            {**self.records, **newer.records},
            {**self.relabeled, **newer.relabeled},
        )
        for k in newer.records.keys() & self.relabeled.keys():
            del relabeled[k]
        for k in newer.relabeled.keys() & self.records.keys():  # not stored: this one failed
            records[k] = relabeled.pop(k)
        return JoinDelta(
            records,
            {**self.panes, **newer.panes},
            self.touched | newer.touched,
            relabeled,
            self.after_horizon + newer.after_horizon,
        )


class LabelJoin:
    """Join labels to predictions; keep per-pane performance state.

    ``lookup(key, ids)`` finds records not in memory (the SQL store in production).
    """

    def __init__(
        self,
        config: Config,
        lookup: Callable[[str, list[str]], dict[str, Record]],
        classes: Callable[[str, str], tuple[str, ...]],
        plan: Callable[[str, str], SegmentPlan],
        every_model: bool = False,
    ) -> None:
        self.config = config
        # Models expect labels when they have a labels topic (or, in a replay with label files,
        # all of them): only their predictions are kept as join records.
        self.models = {m: c for m, c in config.models.items() if c.topics.labels or every_model}
        self.specs = {m: WindowSpec.of(c) for m, c in self.models.items()}
        self.horizons = {m: c.labels.horizon for m, c in self.models.items()}
        self.lookup = lookup
        self.classes = classes
        self.plan = plan
        self.records: dict[tuple[str, str], Record] = {}
        self.panes: dict[tuple[str, str, str, int], PerformancePane] = {}
        # changed records since the last drain, as JoinDelta.records and .relabeled (disjoint)
        self._dirty_records: dict[tuple[str, str], Record] = {}
        self._relabeled: dict[tuple[str, str], Record] = {}
        self._dirty_panes: set[tuple[str, str, str, int]] = set()
        self._after_horizon: Counter[tuple[str, str]] = Counter()
        #: model -> predictions held in memory that still wait for their label (kept up to date
        #: by every change of ``records``, so reading it costs nothing)
        self.pending: Counter[str] = Counter()
        #: every (model, version) -> recent correctness, for the "last N labeled" gauge
        self.recent: dict[tuple[str, str], list[float]] = {}
        self._errors: dict[tuple[str, str], list[tuple[float, int]]] = {}
        #: at most the earliest time (prediction time, or label time of an early label) of the
        #: records in memory: :meth:`expire` skips its scan of them while nothing can be old
        self._floor: float = math.inf

    def expects_labels(self, model_id: str) -> bool:
        return model_id in self.models

    # -- predictions ------------------------------------------------------------------------
    def add_predictions(
        self,
        source: str,
        batch: ModelBatch,
        version: str,
        predictions: list[Any],
        scores: np.ndarray | None,
    ) -> None:
        """Record the prediction events (not feature-only events) of a label-expecting model;
        ``predictions`` are spelled as the classes are (str) or floats (regression)."""
        key = join_key(source)
        model_id = batch.model_id
        rows = np.flatnonzero(batch.has_prediction)
        if rows.size == 0:
            return
        take = rows.tolist()
        whole = rows.size == len(batch)
        pids = batch.prediction_ids if whole else [batch.prediction_ids[i] for i in take]
        keys = list(zip(repeat(key), pids))
        timestamps = batch.timestamps[rows].tolist()
        preds = predictions if whole else [predictions[i] for i in take]
        score_list = (
            repeat(None)
            if scores is None
            else [None if s != s else s for s in scores[rows].tolist()]  # noqa: PLR0124 (s != s: NaN)
        )
        segments = (
            (batch.segments if whole else [batch.segments[i] for i in take])
            if batch.segments
            else repeat(None)
        )
        # The records built in bulk (C-level zip): a prediction's, no label yet.
        new = list(
            zip(
                repeat(model_id),
                repeat(version),
                timestamps,
                preds,
                score_list,
                segments,
                repeat(None),
                repeat(None),
            )
        )
        records = self.records
        self._floor = min(self._floor, min(timestamps))
        olds = list(map(records.get, keys))
        joined: list[Record] = []
        late: list[Record] = []  # early labels past their prediction's horizon
        if olds.count(None) == len(olds) and len(set(keys)) == len(keys):
            # None known yet, each once (the usual batch): no early label to take, nothing
            # waiting replaced, every new record waits.
            records.update(zip(keys, new))
            self._dirty_records.update(zip(keys, new))
            if self._relabeled and not self._relabeled.keys().isdisjoint(keys):
                for k in keys:
                    self._relabeled.pop(k, None)
            self.pending[model_id] += len(new)
        else:
            horizon = self.horizons[model_id]
            for i, k in enumerate(keys):
                early = records.get(k)
                if early is not None and early[VERSION] is None:  # its label came first
                    record = new[i]
                    if early[LABEL_TS] > record[TS] + horizon:
                        late.append(record)
                    else:
                        new[i] = record = record[:LABEL] + (early[LABEL], early[LABEL_TS])
                        joined.append(record)
                self._set(k, new[i])
        panes = self.specs[model_id].pane_of(batch.timestamps[rows])
        # Per pane (in order of first appearance), its rows in batch order: a stable sort.
        order = np.argsort(panes, kind="stable")
        cuts = np.flatnonzero(np.diff(panes[order])) + 1
        for members in sorted(np.split(order, cuts), key=lambda m: int(m[0])):
            pane = int(panes[members[0]])
            picked = members.tolist()
            self._pane(key, model_id, version, pane).count_predictions(
                None if scores is None else scores[rows[members]], [preds[i] for i in picked]
            )
        self._count_after_horizon(key, late)
        self._apply(key, joined, [])

    # -- labels -----------------------------------------------------------------------------
    def add_labels(self, source: str, batch: LabelBatch) -> list[BadEvent]:
        """Join a batch of labels; returns labels refused (an unknown class)."""
        key = join_key(source)
        records = self.records
        keys = list(zip(repeat(key), batch.prediction_ids))
        found = list(map(records.get, keys))
        if found.count(None):
            missing = [k[1] for k, record in zip(keys, found) if record is None]
            self._load({(key, pid): record for pid, record in self.lookup(key, missing).items()})
            found = list(map(records.get, keys))
        if self._plain(batch, keys, found):
            return self._join_plain(key, batch, keys, cast("list[Record]", found))  # no None
        return self._join_each(key, batch, keys)

    def _plain(self, batch: LabelBatch, keys: list[tuple[str, str]], found: list[Any]) -> bool:
        """Whether every label of ``batch`` joins a prediction of the batch's model and version,
        within the horizon, with one of its classes, each prediction once: the usual batch,
        which :meth:`_join_plain` joins in bulk."""
        if found.count(None) or len(set(keys)) != len(keys):
            return False
        model_id = batch.model_id
        versions = set(map(itemgetter(VERSION), found))
        if set(map(itemgetter(MODEL), found)) != {model_id} or len(versions) != 1:
            return False
        (version,) = versions
        if version is None:  # early labels: a second label for a prediction not yet come
            return False
        if self.models[model_id].task == "classification" and not set(batch.labels) <= set(
            self.classes(model_id, version)
        ):
            return False
        predicted_at = np.fromiter(map(itemgetter(TS), found), np.int64, len(found))
        return not bool((batch.timestamps > predicted_at + self.horizons[model_id]).any())

    def _join_plain(
        self, key: str, batch: LabelBatch, keys: list[tuple[str, str]], found: list[Record]
    ) -> list[BadEvent]:
        """:meth:`_join_each` for a batch :meth:`_plain` accepts, in C-level maps."""
        records, dirty = self.records, self._dirty_records
        joined = list(
            map(
                tuple.__add__,
                map(itemgetter(slice(0, LABEL)), found),
                zip(batch.labels, batch.timestamps.tolist()),
            )
        )
        previous = list(map(itemgetter(LABEL), found))
        waiting = previous.count(None)
        replaced = (
            [r for r, label in zip(found, previous) if label is not None]
            if waiting < len(found)
            else []
        )
        records.update(zip(keys, joined))
        if dirty:  # a record not yet stored is written whole; a stored one only relabeled
            unstored = list(map(dirty.__contains__, keys))
            dirty.update(compress(zip(keys, joined), unstored))
            self._relabeled.update(compress(zip(keys, joined), map(not_, unstored)))
        else:
            self._relabeled.update(zip(keys, joined))
        self.pending[batch.model_id] -= waiting
        self._apply(key, joined, replaced)
        return []

    def _join_each(
        self, key: str, batch: LabelBatch, keys: list[tuple[str, str]]
    ) -> list[BadEvent]:
        """Join the labels of ``batch`` one by one, in order (their records loaded)."""
        refused: list[BadEvent] = []
        records = self.records
        joined: list[Record] = []
        replaced: list[Record] = []  # the records of labels that joined replace
        late: list[Record] = []  # the records of labels past their prediction's horizon
        horizon = self.horizons[batch.model_id]
        classification = self.models[batch.model_id].task == "classification"
        classes: dict[str, frozenset[str]] = {}
        dirty, relabeled = self._dirty_records, self._relabeled
        labeled: list[str] = []  # models of the waiting predictions that got their label
        for i, (k, label, label_ts) in enumerate(
            zip(keys, batch.labels, batch.timestamps.tolist())
        ):
            record = records.get(k)
            if record is not None and (version := record[VERSION]) is not None:
                if version not in classes:
                    classes[version] = frozenset(self.classes(batch.model_id, version))
                if classification and label not in classes[version]:
                    refused.append(
                        BadEvent(
                            int(batch.positions[i]),
                            "unknown_class",
                            f"label {label!r} is not a class of model {batch.model_id!r}",
                        )
                    )
                    continue
                predicted_at = record[TS]
                assert predicted_at is not None  # a record with a version is a prediction's
                if label_ts > predicted_at + horizon:  # event times only: replay and live agree
                    late.append(record)
                    continue
                if record[LABEL] is None:
                    labeled.append(record[MODEL])
                else:
                    replaced.append(record)
                # Set in place of _set, per label on the hot path: only the label changes, and
                # ``pending`` is kept right through ``labeled``.
                records[k] = record = record[:LABEL] + (label, label_ts)
                if k in dirty:
                    dirty[k] = record
                else:
                    relabeled[k] = record
                joined.append(record)
            else:  # the label came first: wait for the prediction (a later label replaces it)
                self._set(k, (batch.model_id, None, None, None, None, None, label, label_ts))
        self.pending.subtract(Counter(labeled))
        self._count_after_horizon(key, late)
        self._apply(key, joined, replaced)
        return refused

    def _count_after_horizon(self, key: str, records: Sequence[Record]) -> None:
        """Count labels that came after their predictions' horizon (``records``: the
        predictions' records) in the panes of the predictions' event time."""
        for (model_id, version, pane), members in self._by_pane(records).items():
            self._pane(key, model_id, version, pane).count_after_horizon(len(members))
            self._after_horizon[(key, model_id)] += len(members)

    def _apply(self, key: str, joined: list[Record], replaced: list[Record]) -> None:
        """Count joined records in the panes of their predictions' event time, in one
        vectorised update per pane; the records their labels replaced are taken back first."""
        for (model_id, version, pane), members in self._by_pane(replaced).items():
            self._pane(key, model_id, version, pane).add_labels(members, sign=-1)
        for (model_id, version, pane), members in self._by_pane(joined).items():
            outcome = self._pane(key, model_id, version, pane).add_labels(members)
            self.recent.setdefault((model_id, version), []).extend(outcome.tolist())
            errors = outcome if self.models[model_id].task == "regression" else 1.0 - outcome
            self._errors.setdefault((model_id, version), []).extend(
                zip(errors.tolist(), map(itemgetter(LABEL_TS), members))
            )

    def _by_pane(self, records: Sequence[Record]) -> dict[tuple[str, str, int], list[Record]]:
        """Records grouped by (model, version, pane of the prediction's event time), the groups
        and the records in each in order of first appearance (the order in which their errors
        reach the concept-drift detector)."""
        if not records:
            return {}
        # Columns through C-level maps (zip(*records) would make an iterator per record, which
        # the garbage collector tracks: full collections over all the records follow).
        models, versions = (
            list(map(itemgetter(MODEL), records)),
            list(map(itemgetter(VERSION), records)),
        )
        seen: dict[tuple[str, str], int] = {}
        # a code per (model, version): a counter value at its first record (setdefault in C)
        codes = np.fromiter(
            map(seen.setdefault, zip(models, versions), count()), np.int64, len(records)
        )
        times = np.fromiter(map(itemgetter(TS), records), np.int64, len(records))
        panes = np.empty(len(records), np.int64)
        for (model_id, _), code in seen.items():
            rows = codes == code
            spec = self.specs[model_id]
            panes[rows] = (times[rows] - spec.origin_ms) // spec.slide_ms
        order = np.lexsort((panes, codes))  # stable: each group keeps its records' order
        cuts = np.flatnonzero((np.diff(codes[order]) != 0) | (np.diff(panes[order]) != 0)) + 1
        groups: dict[tuple[str, str, int], list[Record]] = {}
        for members in sorted(np.split(order, cuts), key=lambda m: int(m[0])):
            first = int(members[0])
            groups[(models[first], versions[first], int(panes[first]))] = list(
                map(records.__getitem__, members.tolist())
            )
        return groups

    def take_errors(self) -> dict[tuple[str, str], list[tuple[float, int]]]:
        """The errors of the pairs joined since the last call, per model version, in order."""
        errors, self._errors = self._errors, {}
        return errors

    # -- state ------------------------------------------------------------------------------
    def _set(self, k: tuple[str, str], record: Record) -> None:
        """Every change of ``records`` goes through here (and :meth:`_load`, :meth:`_drop`, and
        the label of a known prediction in :meth:`add_labels`), which keeps :attr:`pending`
        right."""
        old = self.records.get(k)
        if old is not None and _waiting(old):
            self.pending[old[MODEL]] -= 1
        if _waiting(record):
            self.pending[record[MODEL]] += 1
        self.records[k] = record
        self._dirty_records[k] = record
        self._floor = min(self._floor, _expiring_at(record))
        self._relabeled.pop(k, None)

    def _load(self, stored: dict[tuple[str, str], Record]) -> None:
        """Bring back records from SQL (none of them in memory; unchanged, so not dirty)."""
        self.records.update(stored)
        self._floor = min(self._floor, min(map(_expiring_at, stored.values()), default=math.inf))
        self.pending.update(map(itemgetter(MODEL), filter(_waiting, stored.values())))

    def _drop(self, keys: list[tuple[str, str]]) -> None:
        old = [self.records.pop(k) for k in keys]
        self.pending.subtract(map(itemgetter(MODEL), filter(_waiting, old)))

    def _pane(self, key: str, model_id: str, version: str, pane: int) -> PerformancePane:
        pk = (key, model_id, version, pane)
        state = self.panes.get(pk)
        if state is None:
            cfg = self.models[model_id]
            state = self.panes[pk] = PerformancePane.empty(
                cfg, self.classes(model_id, version), self.plan(model_id, version)
            )
        self._dirty_panes.add(pk)
        return state

    def drain(self) -> JoinDelta:
        delta = JoinDelta(
            self._dirty_records,
            {k: self.panes[k].to_bytes() for k in self._dirty_panes if k in self.panes},
            {(m, v, p) for (_, m, v, p) in self._dirty_panes},
            self._relabeled,
            self._after_horizon,
        )
        self._dirty_records, self._relabeled, self._dirty_panes = {}, {}, set()
        self._after_horizon = Counter()
        self._evict()
        for key in self.recent:
            self.recent[key] = self.recent[key][-1000:]
        return delta

    def _evict(self) -> None:
        """Keep the most recent ``max_pending`` records in memory (all are in SQL once drained)."""
        cap = min((c.labels.max_pending for c in self.models.values()), default=0)
        excess = len(self.records) - cap
        if excess > 0:
            self._drop(list(islice(self.records, excess)))

    def expire(self, watermark: int) -> None:
        """Drop the records the store drops at ``watermark`` (a prediction older than the
        watermark - the horizon, an early label whose label time is): after a checkpoint, memory
        holds no record SQL no longer has, so a label meets the same records either way. Call it
        once the records are drained (the store counts the orphans among them).

        >>> from monitor.config import parse_config
        >>> cfg = parse_config({"models": {"m": {"features": {"x": {"kind": "numeric"}},
        ...     "topics": {"labels": "labels"}, "labels": {"horizon": "1s"}}}})
        >>> join = LabelJoin(cfg, lambda key, ids: {}, lambda m, v: ("0", "1"), None)
        >>> join._set(("0", "a"), ("m", "v1", 1_000, "1", None, None, None, None))
        >>> join._set(("0", "b"), ("m", None, None, None, None, None, "1", 5_000))
        >>> join.expire(3_000)
        >>> list(join.records), join.pending["m"]
        ([('0', 'b')], 0)
        """
        if not self.records or self._floor >= watermark - min(self.horizons.values()):
            return
        keys, records = list(self.records), list(self.records.values())
        times = np.fromiter(map(_expiring_at, records), np.float64, len(records))
        horizons = map(self.horizons.__getitem__, map(itemgetter(MODEL), records))
        old = times < watermark - np.fromiter(horizons, np.float64, len(records))
        self._drop([keys[i] for i in np.flatnonzero(old).tolist()])
        self._floor = float(times[~old].min()) if self.records else math.inf

    def forget(self, keys: set[str]) -> None:
        self._drop([k for k in self.records if k[0] in keys])
        for changed in (self._dirty_records, self._relabeled, self._after_horizon):
            for k in [k for k in changed if k[0] in keys]:
                del changed[k]
        for pane_key in [k for k in self.panes if k[0] in keys]:
            del self.panes[pane_key]
