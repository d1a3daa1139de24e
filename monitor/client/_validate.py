"""Client-side validation: an event the service would turn into a dead letter fails in the app.

A :class:`Validator` holds what the service's decoder (:mod:`monitor.events`) accepts for one
model and raises :class:`~monitor.exceptions.EventError` naming the field, the kind the model
expects and the value, before the event is queued. The rules are the decoder's:

- a **numeric feature** is a number or a boolean (numpy's too); NaN, None and pandas' ``NA``
  are missing;
- a **categorical feature**, and a categorical prediction, is a string, a number or a boolean
  (spelled as :mod:`monitor.values` spells it), of at most 200 characters and no control
  character;
- a **numeric prediction**, a **score** and a regression **label** are numbers, not booleans;
- a classification **label** is a string, a number or a boolean, not NaN;
- ``prediction_id`` is a non-empty string of at most 200 characters, segments map strings to
  strings, and the event time lies in [1970, 9999] (epoch ms);
- a **feature name** the model does not have is an error (the service would ignore it: a typo
  means a feature silently missing).

A ``Decimal``, a ``datetime`` or a list is none of these, whatever the field. In two places the
check is stricter than the service, on purpose: an empty ``prediction_id`` (no label could name
it), and a ``Decimal``, a date or time, or bytes as a category or a class (the JSON encoder
would write them as strings, which the service takes as categories nobody meant; Avro cannot
write them at all).

>>> from monitor.config import parse_config
>>> cfg = parse_config({"models": {"fraud": {"features": {
...     "amount": {"kind": "numeric"}, "country": {"kind": "categorical"}}}}})
>>> check = Validator.of(cfg, "fraud")
>>> check.prediction({"amount": 12.5, "country": "DE"}, 1, 0.9, None, "p1", 0)
>>> import decimal
>>> check.prediction({"amount": decimal.Decimal("12.5")}, 1, None, None, "p1", 0)
Traceback (most recent call last):
monitor.exceptions.EventError: wrong_type: features.amount: expected a number or a boolean (a \
numeric feature), got Decimal('12.5') (Decimal)
>>> check.prediction({"amuont": 1.0}, 1, "high", None, "p1", 0)
Traceback (most recent call last):
monitor.exceptions.EventError: unknown_feature: features.amuont: not a feature of model 'fraud' \
(did you mean 'amount'?); its features: ['amount', 'country']
"""

from __future__ import annotations

import difflib
import math
import numbers
from collections.abc import Mapping
from typing import Any

import numpy as np

from monitor.client._encode import is_missing
from monitor.config import Config, ModelConfig
from monitor.event_checks import (
    MAX_TIMESTAMP_MS,
    MIN_TIMESTAMP_MS,
    Faults,
    check_categories,
    check_text,
    clean,
    show,
)
from monitor.exceptions import EventError
from monitor.limits import MAX_ID_CHARS, MAX_SEGMENT_KEY_CHARS, MAX_SEGMENT_VALUE_CHARS

__all__ = ["Validator"]

_NUMBERS = frozenset({int, float})
_NUMBER = "a number"
_NUMBER_OR_BOOL = "a number or a boolean"
_CATEGORY = "a string, a number or a boolean"


class Validator:
    """What the service accepts in one model's events; each check raises
    :class:`~monitor.exceptions.EventError` (``reason``: the dead-letter reason it spares).

    Parameters
    ----------
    model_id
        The model's id (named in errors).
    model
        Its config: the features and their kinds, the prediction's kind, the task.
    """

    def __init__(self, model_id: str, model: ModelConfig) -> None:
        self.model_id = model_id
        self.model = model
        self.kinds: dict[str, str] = {name: f.kind for name, f in model.features.items()}
        self.numeric = frozenset(name for name, kind in self.kinds.items() if kind == "numeric")
        self.numeric_prediction = model.prediction == "numeric"
        self.regression = model.task == "regression"

    @classmethod
    def of(cls, config: Config | ModelConfig, model_id: str) -> Validator:
        """The validator of ``model_id`` in a whole config, or of a model's config itself.

        Raises :class:`~monitor.exceptions.ConfigError` when the config has no such model.
        """
        if isinstance(config, Config):
            return cls(model_id, config.model(model_id))
        if isinstance(config, ModelConfig):
            return cls(model_id, config)
        raise TypeError(f"config must be a Config or a ModelConfig, got {type(config).__name__}")

    def version(self, model_version: str) -> None:
        """Check a model version as the decoder does: at most 200 characters, no control
        character (a ``ValueError``: the client's own argument)."""
        try:
            _length("model_version", model_version)
            _clean([("model_version", model_version)])
        except EventError as exc:
            raise ValueError(exc.detail) from None

    def prediction(
        self,
        features: Any,
        prediction: Any,
        score: Any,
        segments: Any,
        prediction_id: Any,
        timestamp: int,
    ) -> None:
        """Check a prediction event's fields (the timestamp already in epoch ms)."""
        texts: list[tuple[str, str]] = []
        self.features(features, segments, prediction_id, timestamp, texts)
        if self.numeric_prediction:
            _number("prediction", prediction, _NUMBER)
        else:
            _category("prediction", prediction, texts)
        _number("score", score, _NUMBER)
        _clean(texts)

    def features(
        self,
        features: Any,
        segments: Any,
        prediction_id: Any,
        timestamp: int,
        texts: list[tuple[str, str]] | None = None,
    ) -> None:
        """Check a feature event's fields; ``texts`` collects the strings whose characters are
        checked at the end, in one pass (the caller's, if it passes its own list)."""
        own = texts is None
        texts = [] if texts is None else texts
        _id(prediction_id, texts)
        _timestamp(timestamp)
        if not isinstance(features, Mapping):
            raise EventError(
                "wrong_type",
                f"features: expected a mapping of feature name to value, got {_got(features)}",
            )
        unknown = features.keys() - self.kinds.keys()
        if unknown:
            raise EventError("unknown_feature", self._unknown(sorted(map(str, unknown))))
        numeric = self.numeric
        for name, value in features.items():
            kind = type(value)
            if name in numeric:
                if kind is not float:  # the common case; an int may be out of range
                    _number(f"features.{name}", value, _NUMBER_OR_BOOL)
            elif kind is str:
                _length(f"features.{name}", value)
                texts.append((f"features.{name}", value))
            elif kind is not bool:  # a number may spell too long (1e300 is 301 digits)
                _category(f"features.{name}", value, texts)
        if segments is not None:
            _segments(segments, texts)
        if own:
            _clean(texts)

    def label(self, prediction_id: Any, label: Any, timestamp: int) -> None:
        """Check a label event's fields (the timestamp already in epoch ms)."""
        texts: list[tuple[str, str]] = []
        _id(prediction_id, texts)
        _timestamp(timestamp)
        if is_missing(label):
            raise EventError("missing_field", "label: expected a value, got None")
        if self.regression:
            _number("label", label, "a number (a regression label)")
            if not math.isfinite(float(label)):
                raise EventError("wrong_type", f"label must be a finite number, got {label!r}")
        else:
            _category("label", label, texts)
            if isinstance(label, numbers.Real) and not math.isfinite(float(label)):
                raise EventError("wrong_type", f"label must be a class, got {label!r}")
        _clean(texts)

    def _unknown(self, names: list[str]) -> str:
        said = []
        for name in names:
            close = difflib.get_close_matches(name, self.kinds, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            said.append(f"features.{name}: not a feature of model {self.model_id!r}{hint}")
        return f"{'; '.join(said)}; its features: {sorted(self.kinds)}"


def _got(value: Any) -> str:
    return f"{show(value)} ({type(value).__name__})"


def _number(field: str, value: Any, expected: str) -> None:
    """A number (a boolean too where ``expected`` says so); missing is fine."""
    if type(value) is float or is_missing(value):
        return
    if isinstance(value, bool | np.bool_):
        if expected is _NUMBER_OR_BOOL:
            return
    elif isinstance(value, numbers.Real):  # int, float and numpy's numbers; not Decimal
        try:
            float(value)
        except OverflowError:
            raise EventError(
                "wrong_type", f"{field}: {show(value)} is out of the range of a double"
            ) from None
        return
    kind = "a numeric feature" if expected is _NUMBER_OR_BOOL else None
    raise EventError(
        "wrong_type",
        f"{field}: expected {expected}{f' ({kind})' if kind else ''}, got {_got(value)}",
    )


def _category(field: str, value: Any, texts: list[tuple[str, str]]) -> None:
    """A category: a string, a number or a boolean; missing is fine."""
    if is_missing(value):
        return
    if isinstance(value, str):
        _length(field, value)
        texts.append((field, value))
        return
    if type(value) in _NUMBERS and -1e199 < value < 1e199:  # far shorter than the limit
        return
    if not isinstance(value, numbers.Real | np.bool_):
        kind = " (a categorical feature)" if field.startswith("features.") else ""
        raise EventError("wrong_type", f"{field}: expected {_CATEGORY}{kind}, got {_got(value)}")
    faults: Faults = {}
    check_categories(field, [value.item() if hasattr(value, "item") else value], faults)
    if faults:
        raise EventError(*faults[0])


def _length(field: str, text: str, limit: int = MAX_ID_CHARS) -> None:
    if len(text) > limit:
        raise EventError("field_too_long", f"{field} is longer than {limit} characters")


def _id(prediction_id: Any, texts: list[tuple[str, str]]) -> None:
    if not isinstance(prediction_id, str) or not prediction_id:
        raise EventError(
            "missing_field" if is_missing(prediction_id) or prediction_id == "" else "wrong_type",
            f"prediction_id: expected a non-empty string, got {_got(prediction_id)}",
        )
    _length("prediction_id", prediction_id)
    texts.append(("prediction_id", prediction_id))


def _timestamp(ms: int) -> None:
    if not MIN_TIMESTAMP_MS <= ms <= MAX_TIMESTAMP_MS:
        raise EventError(
            "timestamp_out_of_range",
            f"timestamp {ms} is outside [{MIN_TIMESTAMP_MS}, {MAX_TIMESTAMP_MS}] epoch ms "
            "(1970-01-01T00:00:00Z .. 9999-12-31T23:59:59.999Z)",
        )


def _segments(segments: Any, texts: list[tuple[str, str]]) -> None:
    if not isinstance(segments, Mapping):
        raise EventError(
            "wrong_type", f"segments: expected a mapping of strings, got {_got(segments)}"
        )
    for key, value in segments.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise EventError(
                "wrong_type",
                f"segments: expected strings, got {_got(key)}: {_got(value)}",
            )
        _length("a segments key", key, MAX_SEGMENT_KEY_CHARS)
        _length(f"segments.{key}", value, MAX_SEGMENT_VALUE_CHARS)
        texts += (("segments key", key), (f"segments.{key}", value))


def _clean(texts: list[tuple[str, str]]) -> None:
    """No control character nor surrogate in any of the strings: one pass over them all, and
    the first culprit named when there is one."""
    if not texts:
        return
    joined = "".join(text for _, text in texts)
    if (joined.isascii() and joined.isprintable()) or clean(joined):  # ASCII: fast, exact
        return
    for field, text in texts:
        faults: Faults = {}
        check_text(field, [text], faults)
        if faults:
            raise EventError(*faults[0])
