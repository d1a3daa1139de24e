"""The event contract: decode batches of raw prediction/feature events into columns.

Decoding is typed (msgspec structs generated from the config, one per model, as a tagged union
on ``model_id``), so a whole batch is validated and converted in C; only a batch that contains
a bad event falls back to event-by-event decoding, which pins each failure on its event with a
reason. The types bound every string's length (:mod:`monitor.limits`); the checks a type cannot
say (event time within bounds, no control characters, see :mod:`monitor.event_checks`) run on
the decoded columns, vectorised. A bad event never raises: whatever the bytes (a null value, a
blank line, JSON nested 100,000 deep), it comes back in :attr:`Decoded.errors` with one of
:data:`REASONS`, and its neighbours decode exactly as they would alone.

>>> from monitor.config import parse_config
>>> cfg = parse_config({"models": {"m": {"features": {"x": {"kind": "numeric"}}}}})
>>> dec = EventDecoder(cfg)
>>> out = dec.decode_lines(b'{"model_id": "m", "model_version": "1", "prediction_id": "a", '
...     b'"timestamp": 1000, "features": {"x": 2.5}, "prediction": 1, "score": 0.9}\\n'
...     b'\\n{"model_id": "nope"}\\n')
>>> batch = out.batches["m"]
>>> batch.numeric.tolist(), batch.timestamps.tolist()
([[2.5, 0.9]], [1000])
>>> [(e.position, e.reason) for e in out.errors]  # positions are line numbers, from 0
[(1, 'empty'), (2, 'unknown_model')]
>>> [e.reason for e in dec.decode_values([None, b'[' * 100_000]).errors]
['null_value', 'too_deep']
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import chain
from operator import attrgetter, itemgetter
from typing import Annotated, Any, Union

import msgspec
import numpy as np
from msgspec.structs import astuple

from monitor.config import Config, ModelConfig
from monitor.event_checks import (
    MAX_TIMESTAMP_MS,
    MIN_TIMESTAMP_MS,
    Fault,
    Faults,
    check_categories,
    check_finite,
    check_segments,
    check_text,
    show,
    stamps,
)
from monitor.layout import SCORE, Layout
from monitor.limits import (
    MAX_ID_CHARS,
    MAX_SEGMENT_KEY_CHARS,
    MAX_SEGMENT_VALUE_CHARS,
    MAX_VALUE_CHARS,
)
from monitor.values import categories

__all__ = [
    "MAX_TIMESTAMP_MS",
    "MIN_TIMESTAMP_MS",
    "REASONS",
    "BadEvent",
    "Decoded",
    "DecodedLabels",
    "EventDecoder",
    "LabelBatch",
    "LabelDecoder",
    "ModelBatch",
]

#: Every reason an event can be refused for (counter labels, dead-letter headers); what each
#: means is in docs/events.md ("What happens to bad input").
REASONS = (
    # the message
    "null_value",
    "empty",
    "invalid_json",
    "too_deep",
    "not_an_object",
    # the event (JSON or Avro)
    "missing_model_id",
    "unknown_model",
    "missing_field",
    "wrong_type",
    "bad_timestamp",
    "timestamp_out_of_range",
    "field_too_long",
    "invalid_characters",
    # Avro messages (monitor.kafka.avro.AVRO_REASONS)
    "bad_magic_byte",
    "unknown_schema",
    "avro_decode",
    # the engine and the label join
    "no_reference",
    "too_many_versions",
    "labels_not_expected",
    "unknown_class",
)

_Id = Annotated[str, msgspec.Meta(max_length=MAX_ID_CHARS)]
_Text = Annotated[str, msgspec.Meta(max_length=MAX_VALUE_CHARS)]
_Category = _Text | int | float | bool | None
_Segments = dict[
    Annotated[str, msgspec.Meta(max_length=MAX_SEGMENT_KEY_CHARS)],
    Annotated[str, msgspec.Meta(max_length=MAX_SEGMENT_VALUE_CHARS)],
]
_Timestamp = int | float | dt.datetime
# With one model the "union" is one struct, which msgspec decodes without its tag; a second
# member that never validates (an int both >= 1 and <= 0) makes the tag required.
_RequireTag = msgspec.defstruct(
    "_RequireTag",
    [("never", Annotated[int, msgspec.Meta(ge=1, le=0)])],
    tag_field="model_id",
    tag="\x00",
)
_NULL = Fault("null_value", "the message has no value (a tombstone)")
_EMPTY = Fault("empty", "the message is empty or blank")
_TOO_DEEP = Fault("too_deep", "JSON nested deeper than the decoder's recursion limit")
_REFUSED = (msgspec.ValidationError, msgspec.DecodeError, TypeError, RecursionError)
# msgspec.convert, in lax mode, encodes a string to read a number or a time from it, and a lone
# surrogate (Python's json reads one from "\ud800"; any caller of decode_objects may pass one)
# cannot be encoded.
_SURROGATE = Fault(
    "invalid_characters", "a string holds a surrogate (U+D800-U+DFFF), which UTF-8 cannot encode"
)


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
        # Numeric features first: the matrix takes them as one slice of each struct's tuple.
        numeric = [n for n, f in cfg.features.items() if f.kind == "numeric"]
        features = numeric + [n for n, f in cfg.features.items() if f.kind != "numeric"]
        self._numeric = itemgetter(slice(0, len(numeric)))  # a struct's tuple -> its numerics
        fields = [
            (f"f{i}", (float | bool | None) if i < len(numeric) else _Category, None)
            for i in range(len(features))
        ]
        feats = msgspec.defstruct(
            f"Features_{model_id}",
            fields,
            rename={f"f{i}": n for i, n in enumerate(features)},
            gc=False,
        )
        prediction = float | None if cfg.prediction == "numeric" else _Category
        self.struct = msgspec.defstruct(
            f"Event_{model_id}",
            [
                ("model_version", _Id),
                ("prediction_id", _Id),
                ("timestamp", _Timestamp),
                ("features", feats, msgspec.field(default_factory=feats)),
                ("prediction", prediction, None),
                ("score", float | None, None),
                ("segments", _Segments | None, None),
            ],
            tag_field="model_id",
            tag=model_id,
            gc=False,
        )
        index = {n: i for i, n in enumerate(features)}
        self._width = len(numeric)
        self._categorical = [f"f{index[n]}" for n in self.layout.categorical if n in index]
        self._fields = [f"features.{n}" for n in self.layout.categorical if n in index] + [
            "prediction"
        ]
        self._score = SCORE in self.layout.numeric
        self._prediction = cfg.prediction

    def columns(
        self, events: list[Any], positions: np.ndarray | list[int]
    ) -> tuple[ModelBatch | None, list[BadEvent]]:
        """The columns of the events that pass the checks, and the events that do not."""
        n = len(events)
        faults: Faults = {}
        feats = list(map(attrgetter("features"), events))
        numeric = _matrix(feats, self._numeric, self._width, n)
        preds = list(map(attrgetter("prediction"), events))
        missing = preds.count(None)
        has_prediction = (
            np.ones(n, bool)
            if missing == 0
            else np.zeros(n, bool)
            if missing == n
            else np.array(preds, dtype=object) != None
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
        versions = list(map(attrgetter("model_version"), events))
        ids = list(map(attrgetter("prediction_id"), events))
        timestamps = stamps(list(map(attrgetter("timestamp"), events)), faults)
        check_text("model_version", versions, faults)
        check_text("prediction_id", ids, faults)
        for name, column in zip(self._fields, categorical):
            check_categories(name, column, faults)
        has_segments = segments.count(None) != n
        if has_segments:
            check_segments(segments, faults)
        batch = ModelBatch(
            self.model_id,
            versions,
            timestamps,
            numeric.reshape(n, len(self.layout.numeric)),
            categorical,
            has_prediction,
            ids,
            np.asarray(positions, np.int64),
            segments if has_segments else [],
        )
        if not faults:
            return batch, []
        errors = [BadEvent(int(positions[i]), *fault) for i, fault in faults.items()]
        keep = np.setdiff1d(np.arange(n), np.fromiter(faults, np.int64, len(faults)))
        return (batch.take(keep) if keep.size else None), errors


def _matrix(items: list[Any], numeric: itemgetter[Any], width: int, n: int) -> np.ndarray:
    """The ``width`` numeric fields of each struct (``numeric`` takes them from its tuple), as
    an (n, width) matrix: ``astuple`` copies a struct's fields in C, far cheaper than fetching
    each one."""
    if not width:
        return np.empty((n, 0), np.float64)
    try:  # the fast path, streamed (a list of the rows first costs a third more)
        rows = chain.from_iterable(map(numeric, map(astuple, items)))
        return np.fromiter(rows, np.float64, n * width).reshape(n, width)
    except TypeError:  # a None: np.array turns it into NaN (and bools into 0/1)
        return np.array([numeric(astuple(i)) for i in items], np.float64).reshape(n, width)


def _floats(values: list[Any]) -> np.ndarray:
    return np.array(values, dtype=np.float64)


class _TypedDecoder:
    """Typed decoding of a tagged union of per-model structs: a whole batch in C, and, for a
    batch with a bad message, one message at a time so each failure gets its reason.

    Subclasses set ``_union`` (the runtime union), ``_decoder``, ``models`` (the configured
    model ids) and ``_result`` (the batch type), and implement ``_columns``: (struct, events,
    positions) -> (model id, its batch or None, the events its checks refuse).
    """

    _union: Any
    _decoder: msgspec.json.Decoder
    models: Mapping[str, Any]
    _result: Any  # Decoded or DecodedLabels
    _columns: Any

    def _assemble(
        self,
        events: list[Any],
        positions: np.ndarray | list[int],
        errors: list[BadEvent],
        count: int,
    ) -> Any:
        batches = {}
        for struct, (evs, pos) in _by_type(events, positions).items():
            model_id, batch, refused = self._columns(struct, evs, pos)
            if batch is not None:
                batches[model_id] = batch
            errors = errors + refused
        return self._result(batches, sorted(errors, key=attrgetter("position")), count)

    @functools.cached_property
    def _many(self) -> Any:
        return list[self._union]  # type: ignore[name-defined]

    def decode_values(self, values: Sequence[bytes | None]) -> Any:
        """Decode a sequence of single-event messages (e.g. Kafka message values; None for a
        tombstone)."""
        events = self._all(values)
        if events is None:
            return self._split(self._each(values), len(values))
        return self._assemble(events, np.arange(len(events)), [], len(events))

    def decode_lines(self, data: bytes | memoryview) -> Any:
        """Decode a JSONL buffer, one event per line (``\\n``-separated; a last line without
        one counts). Positions are line indices: a blank line is an ``empty`` bad event.

        In one call when the buffer has as many events as lines. (A line holding two events
        in a buffer that also has a blank line would pass that test; the events are decoded
        all the same, and positions after them are off by one.) Counting the lines is a pass
        over the bytes, about 0.3 ms per 4 MiB (5,000 events): 3-7 % of this call."""
        lines = _newlines(data) + (data[-1:] not in (b"", b"\n"))  # and a last line without one
        events = self._all_lines(data)
        if events is None or len(events) != lines:
            return self._split(self._each(bytes(data).split(b"\n")[:lines]), lines)
        return self._assemble(events, np.arange(lines), [], lines)

    def decode_objects(self, objects: Sequence[Any]) -> Any:
        """Validate already-parsed events (e.g. records read from Avro) through the same types:
        the whole list in one call, one at a time only when something in it is bad."""
        events = self._all_objects(objects)
        if events is None:
            return self._split(self._each_object(objects), len(objects))
        return self._assemble(events, np.arange(len(events)), [], len(objects))

    # Every typed decode below runs two frames under the public method, in the batch call and
    # in the loop over messages alike (and an object is converted inside a one-item list, as
    # in the batch): msgspec counts nesting against Python's recursion limit, so the same
    # messages are too deep alone or in any batch.
    def _all(self, values: Sequence[bytes | None]) -> list[Any] | None:
        decode: Callable[[Any], Any] = self._decoder.decode  # None raises a TypeError (_REFUSED)
        try:
            return list(map(decode, values))
        except _REFUSED:
            return None

    def _all_lines(self, data: bytes | memoryview) -> list[Any] | None:
        try:
            return self._decoder.decode_lines(data)
        except _REFUSED:
            return None

    def _all_objects(self, objects: Sequence[Any]) -> list[Any] | None:
        try:
            return msgspec.convert(objects, self._many, strict=False)
        except (*_REFUSED, UnicodeEncodeError):
            return None

    def _each(self, values: Sequence[bytes | None]) -> list[Any]:
        """Each message's event, or the :class:`Fault` that stops it."""
        decode: Callable[[Any], Any] = self._decoder.decode  # None raises a TypeError (_REFUSED)
        out = []
        for raw in values:
            try:
                out.append(decode(raw))
            except _REFUSED as exc:
                out.append(self._refusal(raw, exc))
        return out

    def _each_object(self, objects: Sequence[Any]) -> list[Any]:
        out = []
        for obj in objects:
            try:
                out.append(msgspec.convert([obj], self._many, strict=False)[0])
            except msgspec.ValidationError as exc:
                out.append(_classify(obj, str(exc), self.models))
            except RecursionError:
                out.append(_TOO_DEEP)
            except UnicodeEncodeError:
                out.append(_SURROGATE)
        return out

    def _split(self, results: list[Any], count: int) -> Any:
        good, positions, errors = [], [], []
        for i, result in enumerate(results):
            if isinstance(result, Fault):
                errors.append(BadEvent(i, *result))
            else:
                good.append(result)
                positions.append(i)
        return self._assemble(good, positions, errors, count)

    def _refusal(self, raw: Any, exc: Exception) -> Any:
        """Why the typed decoder refused ``raw`` (a :class:`Fault`); or, for JSON that is not
        strict (NaN, Infinity), the event that Python's json reads in it."""
        if raw is None:
            return _NULL
        if isinstance(exc, RecursionError):
            return _TOO_DEEP
        if not isinstance(raw, bytes | bytearray | str):
            return Fault("invalid_json", f"a message is bytes, not {type(raw).__name__}")
        obj = _parse(raw)
        if isinstance(obj, Fault):
            return obj
        if isinstance(exc, msgspec.ValidationError):
            return _classify(obj, str(exc), self.models)
        try:  # count NaN and Infinity as missing values rather than reject the event
            return msgspec.convert(obj, self._union, strict=False)
        except msgspec.ValidationError as err:
            return _classify(obj, str(err), self.models)
        except RecursionError:
            return _TOO_DEEP
        except UnicodeEncodeError:
            return _SURROGATE


class EventDecoder(_TypedDecoder):
    """Decode raw JSON events of the configured models into per-model column batches."""

    _result = Decoded

    def __init__(self, config: Config) -> None:
        self.codecs = {m: _ModelCodec(m, cfg) for m, cfg in config.models.items()}
        self.models = self.codecs
        self._union = Union[(*(c.struct for c in self.codecs.values()), _RequireTag)]
        self._decoder = msgspec.json.Decoder(self._union)
        self._structs = {c.struct: c for c in self.codecs.values()}

    def _columns(self, struct: type, events: list[Any], positions: Any) -> Any:
        codec = self._structs[struct]
        return (codec.model_id, *codec.columns(events, positions))


def _by_type(
    events: list[Any], positions: np.ndarray | list[int]
) -> dict[type, tuple[list[Any], Any]]:
    """The events of each model (struct type) with their positions, in order of first
    appearance; one model (the common case) without a copy. Many models: one stable sort of
    the type codes, then each model's events fetched by index in C."""
    kinds = list(map(type, events))
    if not kinds:
        return {}
    if kinds.count(kinds[0]) == len(kinds):
        return {kinds[0]: (events, positions)}
    code = {kind: i for i, kind in enumerate(dict.fromkeys(kinds))}
    codes = np.fromiter(map(code.__getitem__, kinds), np.intp, len(kinds))
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(len(code) + 1)).tolist()
    where = np.asarray(positions)
    grouped = {}
    for kind, start, stop in zip(code, bounds, bounds[1:]):
        rows = order[start:stop]
        picked = itemgetter(*rows.tolist())(events)
        grouped[kind] = (list(picked) if rows.size > 1 else [picked], where[rows])
    return grouped


def _newlines(data: bytes | memoryview, chunk: int = 1 << 18) -> int:
    """How many ``\\n`` in ``data``: numpy over cache-sized chunks, 3x ``bytes.count``."""
    codes = np.frombuffer(data, np.uint8)
    return sum(
        int(np.count_nonzero(codes[i : i + chunk] == 10)) for i in range(0, codes.size, chunk)
    )


def _parse(raw: bytes | bytearray | str) -> Any:
    """The JSON value of a message the typed decoder refused, or the :class:`Fault` if it has
    none. Strict JSON first (msgspec); then Python's ``json``, which also reads NaN and
    Infinity. Depth is refused by msgspec before ``json`` ever recurses."""
    if not raw.strip():
        return _EMPTY
    try:
        return msgspec.json.decode(raw)
    except msgspec.DecodeError as exc:
        problem = str(exc)
    except RecursionError:
        return _TOO_DEEP
    try:
        return json.loads(raw)
    except RecursionError:
        return _TOO_DEEP
    except ValueError:  # JSONDecodeError, UnicodeDecodeError, an integer of > 4300 digits
        return Fault("invalid_json", f"the message is not JSON: {problem}")


_AT = re.compile(r" - at `(?:key` in `)?\$(?:\[0\])?\.?([^`]*)`$")


def _classify(obj: Any, message: str, models: Mapping[str, Any]) -> Fault:
    """The reason msgspec refused ``obj`` (its message), in the terms of the event contract."""
    if not isinstance(obj, dict):
        return Fault("not_an_object", f"an event must be a JSON object, got {type(obj).__name__}")
    if "model_id" not in obj:
        return Fault(
            "missing_model_id", f"an event must name its model_id; configured: {sorted(models)}"
        )
    model_id = obj["model_id"]
    if not isinstance(model_id, str) or model_id not in models:
        return Fault(
            "unknown_model", f"unknown model {show(model_id)}; configured: {sorted(models)}"
        )
    at = _AT.search(message)
    path = (at.group(1) if at else "").replace("[...]", "")
    if "of length <=" in message:
        limit = message.split("of length <= ", 1)[1].split(" ", 1)[0].rstrip("`")
        what = f"a key of {path}" if "`key` in" in message else path
        return Fault("field_too_long", f"{what} is longer than {limit} characters")
    if path == "timestamp":
        if "out of range" in message:
            return Fault(
                "timestamp_out_of_range",
                f"timestamp is outside [{MIN_TIMESTAMP_MS}, {MAX_TIMESTAMP_MS}] epoch ms: "
                f"{message}",
            )
        return Fault(
            "bad_timestamp",
            f"timestamp must be epoch milliseconds or an RFC 3339 string: {message}",
        )
    if "missing required field" in message:
        return Fault("missing_field", message)
    return Fault("wrong_type", message)


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
    >>> out = LabelDecoder(cfg).decode_values([
    ...     b'{"model_id":"m","prediction_id":"a","label":1,"timestamp":5}',
    ...     b'{"model_id":"m","prediction_id":"b","label":[1],"timestamp":5}',
    ... ])
    >>> out.batches["m"].labels, [e.reason for e in out.errors]
    (['1'], ['wrong_type'])
    """

    _result = DecodedLabels

    def __init__(self, config: Config) -> None:
        self.structs: dict[type, tuple[str, str]] = {}
        self.models = config.models
        structs = []
        for model_id, cfg in config.models.items():
            label_type = float if cfg.task == "regression" else _Text | int | float | bool
            struct = msgspec.defstruct(
                f"Label_{model_id}",
                [("prediction_id", _Id), ("label", label_type), ("timestamp", _Timestamp)],
                tag_field="model_id",
                tag=model_id,
                gc=False,
            )
            self.structs[struct] = (model_id, cfg.task)
            structs.append(struct)
        self._union = Union[(*structs, _RequireTag)]
        self._decoder = msgspec.json.Decoder(self._union)

    def _columns(self, struct: type, events: list[Any], positions: Any) -> Any:
        model_id, task = self.structs[struct]
        return (model_id, *_labels(model_id, task, events, positions))


def _labels(
    model_id: str, task: str, events: list[Any], positions: np.ndarray | list[int]
) -> tuple[LabelBatch | None, list[BadEvent]]:
    """The label batch of the events that pass the checks, and the events that do not."""
    faults: Faults = {}
    ids = list(map(attrgetter("prediction_id"), events))
    labels = list(map(attrgetter("label"), events))
    timestamps = stamps(list(map(attrgetter("timestamp"), events)), faults)
    check_text("prediction_id", ids, faults)
    if task == "regression":
        check_finite("label", labels, faults)
    else:  # a class, spelled as the reference spells it (1.0, "1" and 1 are one class)
        check_categories("label", labels, faults)
        labels = categories(labels)
        if None in labels:  # NaN or an infinity (Avro, Python's json) names no class
            for i in (i for i, v in enumerate(labels) if v is None):
                faults.setdefault(i, Fault("wrong_type", "label must be a class, got NaN or inf"))
    errors = [BadEvent(int(positions[i]), *fault) for i, fault in faults.items()]
    if faults:
        keep = [i for i in range(len(events)) if i not in faults]
        ids, labels, positions = (
            [ids[i] for i in keep],
            [labels[i] for i in keep],
            [positions[i] for i in keep],
        )
        timestamps = timestamps[keep]
        if not keep:
            return None, errors
    return LabelBatch(
        model_id,
        ids,
        labels,
        timestamps,
        np.asarray(positions, np.int64),
    ), errors
