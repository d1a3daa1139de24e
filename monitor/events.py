"""The event contract: decode batches of raw prediction/feature events into columns.

Decoding is typed (msgspec structs generated from the config, one per model, as a tagged union
on ``model_id``), so a whole batch is validated and converted in C; only a batch that contains
a bad event falls back to event-by-event decoding, which pins each failure on its event with a
reason. A bad event never raises: it comes back in :attr:`Decoded.errors`.

>>> from monitor.config import parse_config
>>> cfg = parse_config({"models": {"m": {"features": {"x": {"kind": "numeric"}}}}})
>>> dec = EventDecoder(cfg)
>>> out = dec.decode_lines(b'{"model_id": "m", "model_version": "1", "prediction_id": "a", '
...     b'"timestamp": 1000, "features": {"x": 2.5}, "prediction": 1, "score": 0.9}\\n'
...     b'{"model_id": "nope"}\\n')
>>> batch = out.batches["m"]
>>> batch.numeric.tolist(), batch.timestamps.tolist()
([[2.5, 0.9]], [1000])
>>> [(e.position, e.reason) for e in out.errors]
[(1, 'unknown_model')]
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import chain
from operator import attrgetter
from typing import Any, Union

import msgspec
import numpy as np

from monitor.config import Config, ModelConfig
from monitor.layout import SCORE, Layout
from monitor.reference import category

__all__ = ["EventDecoder", "Decoded", "ModelBatch", "BadEvent", "REASONS", "LabelDecoder", "LabelBatch", "DecodedLabels"]

#: Stable reason codes of rejected events (counter labels and dead-letter headers).
REASONS = ("invalid_json", "not_an_object", "missing_field", "wrong_type", "unknown_model", "bad_timestamp")

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
_MS = dt.timedelta(milliseconds=1)
_Category = str | int | float | bool | None


@dataclass(frozen=True)
class BadEvent:
    """An event that could not be used: its position in the batch, a reason code and detail."""

    position: int
    reason: str
    detail: str


@dataclass(eq=False)
class ModelBatch:
    """The events of one model in a batch, as columns in the model's :class:`Layout` order."""

    model_id: str
    versions: list[str]
    timestamps: np.ndarray  # int64 epoch ms
    numeric: np.ndarray  # float64 (n, len(layout.numeric)); NaN or inf = missing
    categorical: list[list[Any]]  # one list per layout.categorical column; None = missing
    has_prediction: np.ndarray  # bool: prediction events (feature-only events have no prediction)
    prediction_ids: list[str]
    positions: np.ndarray  # int64 position of each event in the decoded batch
    segments: list[dict[str, str] | None] = field(default_factory=list)

    def __len__(self) -> int:
        return int(self.timestamps.size)

    def to_bytes(self) -> bytes:
        """A serialisation for checkpoints (events held back for a baseline)."""
        return msgspec.msgpack.encode(
            [
                self.model_id,
                self.versions,
                self.timestamps.astype(np.int64).tobytes(),
                list(self.numeric.shape),
                self.numeric.astype(np.float64).tobytes(),
                self.categorical,
                self.has_prediction.astype(bool).tobytes(),
                self.prediction_ids,
                self.positions.astype(np.int64).tobytes(),
                self.segments,
            ]
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> ModelBatch:
        model, versions, ts, shape, num, cat, has, ids, pos, seg = msgspec.msgpack.decode(data)
        return cls(
            model,
            versions,
            np.frombuffer(ts, np.int64).copy(),
            np.frombuffer(num, np.float64).reshape(shape).copy(),
            cat,
            np.frombuffer(has, bool).copy(),
            ids,
            np.frombuffer(pos, np.int64).copy(),
            seg,
        )

    def take(self, rows: np.ndarray) -> ModelBatch:
        """The sub-batch of ``rows`` (an index array)."""
        pick = rows.tolist()
        return ModelBatch(
            self.model_id,
            [self.versions[i] for i in pick],
            self.timestamps[rows],
            self.numeric[rows],
            [[col[i] for i in pick] for col in self.categorical],
            self.has_prediction[rows],
            [self.prediction_ids[i] for i in pick],
            self.positions[rows],
            [self.segments[i] for i in pick] if self.segments else [],
        )


@dataclass
class Decoded:
    """The result of decoding one batch: per-model columns and the rejected events."""

    batches: dict[str, ModelBatch]
    errors: list[BadEvent]
    count: int  # events in the input, good and bad


class _ModelCodec:
    """The typed struct of one model's events and how to turn a list of them into columns."""

    def __init__(self, model_id: str, cfg: ModelConfig) -> None:
        self.model_id = model_id
        self.layout = Layout.from_model(cfg)
        features = [n for n in cfg.features]
        fields = [
            (f"f{i}", (float | bool | None) if cfg.features[n].kind == "numeric" else _Category, None)
            for i, n in enumerate(features)
        ]
        feats = msgspec.defstruct(
            f"Features_{model_id}", fields, rename={f"f{i}": n for i, n in enumerate(features)}, gc=False
        )
        prediction = float | None if cfg.prediction == "numeric" else _Category
        self.struct = msgspec.defstruct(
            f"Event_{model_id}",
            [
                ("model_version", str),
                ("prediction_id", str),
                ("timestamp", int | float | dt.datetime),
                ("features", feats, msgspec.field(default_factory=feats)),
                ("prediction", prediction, None),
                ("score", float | None, None),
                ("segments", dict[str, str] | None, None),
            ],
            tag_field="model_id",
            tag=model_id,
            gc=False,
        )
        index = {n: i for i, n in enumerate(features)}
        self._numeric = [f"f{index[n]}" for n in self.layout.numeric if n in index]
        self._categorical = [f"f{index[n]}" for n in self.layout.categorical if n in index]
        self._score = SCORE in self.layout.numeric
        self._prediction = cfg.prediction

    def columns(self, events: list[Any], positions: list[int]) -> ModelBatch:
        n = len(events)
        feats = list(map(attrgetter("features"), events))
        numeric = _matrix(feats, self._numeric, n)
        preds = list(map(attrgetter("prediction"), events))
        missing = preds.count(None)
        has_prediction = (
            np.ones(n, bool) if missing == 0 else np.zeros(n, bool) if missing == n else np.array(preds, dtype=object) != None  # noqa: E711 (elementwise)
        )
        extra = []
        if self._score:
            extra.append(_floats(list(map(attrgetter("score"), events))))
        if self._prediction == "numeric":
            extra.append(_floats(preds))
        if extra:
            numeric = np.column_stack([numeric, *extra])
        categorical = [list(map(attrgetter(f), feats)) for f in self._categorical]
        if self._prediction == "categorical":
            categorical.append(preds)
        segments = list(map(attrgetter("segments"), events))
        return ModelBatch(
            self.model_id,
            list(map(attrgetter("model_version"), events)),
            _timestamps(list(map(attrgetter("timestamp"), events))),
            numeric.reshape(n, len(self.layout.numeric)),
            categorical,
            has_prediction,
            list(map(attrgetter("prediction_id"), events)),
            np.asarray(positions, np.int64),
            [] if segments.count(None) == n else segments,
        )


def _matrix(items: list[Any], names: list[str], n: int) -> np.ndarray:
    if not names:
        return np.empty((n, 0), np.float64)
    get = attrgetter(*names)
    try:  # the fast path: no missing values in the batch
        flat = chain.from_iterable(map(get, items)) if len(names) > 1 else map(get, items)
        return np.fromiter(flat, np.float64, n * len(names)).reshape(n, len(names))
    except TypeError:  # a None: np.array turns it into NaN (and bools into 0/1)
        return np.array(list(map(get, items)), dtype=np.float64).reshape(n, len(names))


def _floats(values: list[Any]) -> np.ndarray:
    return np.array(values, dtype=np.float64)


def _timestamps(values: list[Any]) -> np.ndarray:
    try:
        return np.fromiter(values, np.int64, len(values))
    except TypeError:  # RFC 3339 strings were decoded to datetimes
        return np.array([_epoch_ms(v) for v in values], dtype=np.int64)


def _epoch_ms(value: int | float | dt.datetime) -> int:
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:  # RFC 3339 requires an offset; treat a bare time as UTC
            value = value.replace(tzinfo=dt.timezone.utc)
        return (value - _EPOCH) // _MS
    return int(value)


class _TypedDecoder:
    """Typed decoding of a tagged union of per-model structs: a whole batch in C, and, for a
    batch with a bad message, one message at a time so each failure gets its reason.

    Subclasses set ``_union`` (the runtime union), ``_decoder`` and ``models`` (the configured
    model ids), and implement ``_assemble``.
    """

    _union: Any
    _decoder: msgspec.json.Decoder
    models: Mapping[str, Any]
    _assemble: Any  # (events, positions, errors, count) -> the decoded batch

    def decode_values(self, values: Sequence[bytes]) -> Any:
        """Decode a sequence of single-event messages (e.g. Kafka message values)."""
        try:
            events = list(map(self._decoder.decode, values))
        except (msgspec.ValidationError, msgspec.DecodeError):
            return self._one_by_one(values)
        return self._assemble(events, list(range(len(events))), [], len(events))

    def decode_lines(self, data: bytes) -> Any:
        """Decode a JSONL buffer (one event per line; blank lines are skipped)."""
        return self.decode_values([line for line in data.splitlines() if line.strip()])

    def decode_objects(self, objects: Sequence[Any]) -> Any:
        """Validate already-parsed events (e.g. records read from Avro) through the same types:
        the whole list in one call, one at a time only when something in it is bad."""
        try:
            good = msgspec.convert(objects, list[self._union], strict=False)  # type: ignore[name-defined]
        except msgspec.ValidationError:
            pass
        else:
            return self._assemble(good, list(range(len(good))), [], len(objects))
        good, positions, errors = [], [], []
        for i, obj in enumerate(objects):
            try:
                good.append(msgspec.convert(obj, self._union, strict=False))
                positions.append(i)
            except msgspec.ValidationError as exc:
                errors.append(BadEvent(i, *_classify(obj, str(exc), self.models)))
        return self._assemble(good, positions, errors, len(objects))

    def _one_by_one(self, values: Sequence[bytes]) -> Any:
        good, positions, errors = [], [], []
        decode = self._decoder.decode
        for i, raw in enumerate(values):
            try:
                good.append(decode(raw))
                positions.append(i)
                continue
            except msgspec.ValidationError as exc:
                error = _classify(_loads(raw), str(exc), self.models)
            except msgspec.DecodeError:
                # Not strict JSON: Python's json accepts NaN and Infinity, which we count as
                # missing values rather than reject the event.
                obj = _loads(raw)
                if obj is None:
                    errors.append(BadEvent(i, "invalid_json", "the message is not valid JSON"))
                    continue
                try:
                    good.append(msgspec.convert(obj, self._union, strict=False))
                    positions.append(i)
                    continue
                except msgspec.ValidationError as exc:
                    error = _classify(obj, str(exc), self.models)
            errors.append(BadEvent(i, *error))
        return self._assemble(good, positions, errors, len(values))



class EventDecoder(_TypedDecoder):
    """Decode raw JSON events of the configured models into per-model column batches."""

    def __init__(self, config: Config) -> None:
        self.codecs = {m: _ModelCodec(m, cfg) for m, cfg in config.models.items()}
        self.models = self.codecs
        self._union = Union[tuple(c.struct for c in self.codecs.values())]  # noqa: UP007 (runtime union)
        self._decoder = msgspec.json.Decoder(self._union)
        self._structs = {c.struct: c for c in self.codecs.values()}

    def decode_lines(self, data: bytes) -> Decoded:
        """Decode a JSONL buffer (one event per line; blank lines are skipped), in one call
        when every line is good."""
        try:
            events = self._decoder.decode_lines(data)
        except (msgspec.ValidationError, msgspec.DecodeError):
            return self.decode_values([line for line in data.splitlines() if line.strip()])
        return self._assemble(events, list(range(len(events))), [], len(events))

    def _assemble(self, events: list[Any], positions: list[int], errors: list[BadEvent], count: int) -> Decoded:
        by_type: dict[type, tuple[list[Any], list[int]]] = {}
        types = set(map(type, events))
        if len(types) == 1:  # the common case: one model
            by_type[types.pop()] = (events, positions)
        else:
            for e, p in zip(events, positions):
                evs, pos = by_type.setdefault(type(e), ([], []))
                evs.append(e)
                pos.append(p)
        batches = {}
        for struct, (evs, pos) in by_type.items():
            codec = self._structs[struct]
            batches[codec.model_id] = codec.columns(evs, pos)
        return Decoded(batches, sorted(errors, key=attrgetter("position")), count)


def _loads(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None


def _classify(obj: Any, message: str, codecs: Mapping[str, Any]) -> tuple[str, str]:
    if not isinstance(obj, dict):
        return "not_an_object", f"an event must be a JSON object, got {type(obj).__name__}"
    if "model_id" in obj and obj["model_id"] not in codecs:
        return "unknown_model", f"unknown model {obj['model_id']!r}; configured: {sorted(codecs)}"
    if "missing required field" in message:
        return "missing_field", message
    if "`$.timestamp`" in message:
        return "bad_timestamp", f"timestamp must be epoch milliseconds or an RFC 3339 string: {message}"
    return "wrong_type", message


@dataclass(eq=False)
class LabelBatch:
    """The label events of one model in a batch."""

    model_id: str
    prediction_ids: list[str]
    labels: list[Any]  # str for classification (as JSON spells it), float for regression
    timestamps: np.ndarray  # int64 epoch ms
    positions: np.ndarray  # int64 position of each label in the decoded batch

    def __len__(self) -> int:
        return len(self.prediction_ids)


@dataclass
class DecodedLabels:
    batches: dict[str, LabelBatch]
    errors: list[BadEvent]
    count: int


class LabelDecoder(_TypedDecoder):
    """Decode label events ``{"model_id", "prediction_id", "label", "timestamp"}``.

    A label of the wrong type for its model's task (a string for a regression model) or for a
    model that is not configured is a bad event with a reason, like a bad prediction.

    >>> from monitor.config import parse_config
    >>> cfg = parse_config({"models": {"m": {"features": {"x": {"kind": "numeric"}}}}})
    >>> out = LabelDecoder(cfg).decode_values([b'{"model_id":"m","prediction_id":"a","label":1,"timestamp":5}',
    ...                                        b'{"model_id":"m","prediction_id":"b","label":[1],"timestamp":5}'])
    >>> out.batches["m"].labels, [e.reason for e in out.errors]
    (['1'], ['wrong_type'])
    """

    def __init__(self, config: Config) -> None:
        self.structs: dict[type, tuple[str, str]] = {}
        self.models = config.models
        structs = []
        for model_id, cfg in config.models.items():
            label_type = float if cfg.task == "regression" else str | int | bool
            struct = msgspec.defstruct(
                f"Label_{model_id}",
                [("prediction_id", str), ("label", label_type), ("timestamp", int | float | dt.datetime)],
                tag_field="model_id",
                tag=model_id,
                gc=False,
            )
            self.structs[struct] = (model_id, cfg.task)
            structs.append(struct)
        self._union = Union[tuple(structs)]  # noqa: UP007 (runtime union)
        self._decoder = msgspec.json.Decoder(self._union)

    def _assemble(self, events: list[Any], positions: list[int], errors: list[BadEvent], count: int) -> DecodedLabels:
        grouped: dict[type, tuple[list[Any], list[int]]] = {}
        for e, p in zip(events, positions):
            evs, pos = grouped.setdefault(type(e), ([], []))
            evs.append(e)
            pos.append(p)
        batches = {}
        for struct, (evs, pos) in grouped.items():
            model_id, task = self.structs[struct]
            labels = list(map(attrgetter("label"), evs))
            batches[model_id] = LabelBatch(
                model_id,
                list(map(attrgetter("prediction_id"), evs)),
                labels if task == "regression" else [v if isinstance(v, str) else category(v) for v in labels],
                _timestamps(list(map(attrgetter("timestamp"), evs))),
                np.asarray(pos, np.int64),
            )
        return DecodedLabels(batches, sorted(errors, key=attrgetter("position")), count)
