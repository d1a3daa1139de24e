"""The synchronous producer: :class:`MonitorClient` (documented in :mod:`monitor.client`)."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, Self

import msgspec
from confluent_kafka import KafkaError as RdKafkaError
from confluent_kafka import KafkaException, Producer

from monitor.client._encode import (
    Encode,
    Features,
    Label,
    Prediction,
    Timestamp,
    Value,
    epoch_ms,
    json_encoder,
    raw_avro,
    registry_avro,
)
from monitor.exceptions import EventError, KafkaError
from monitor.kafka.logs import librdkafka_logger

if TYPE_CHECKING:
    from monitor.client._validate import Validator
    from monitor.config import Config, ModelConfig

__all__ = ["ClientStats", "Message", "MonitorClient", "OnFull"]

logger = logging.getLogger("monitor.client")

# linger.ms: an application logs one prediction per request; waiting 20 ms groups them into
# batches (fewer, larger requests) at a latency nobody monitoring drift will notice.
# enable.idempotence: a retried batch is neither duplicated nor reordered (a duplicate would be
# counted twice in a window). A delivery report per good message counts `sent` and tells when an
# outage is over; its cost is in the noise (Tansu, 700-byte messages, two runs each: 198k and
# 208k/s with a report per message, 194k and 213k/s with reports of errors only).
_DEFAULTS: dict[str, Any] = {
    "linger.ms": 20,
    "partitioner": "murmur2_random",
    "enable.idempotence": True,
    "delivery.report.only.error": False,
}
_QUEUE_DEFAULT = 100_000  # librdkafka's queue.buffering.max.messages
_PURGED = frozenset({RdKafkaError._PURGE_QUEUE, RdKafkaError._PURGE_INFLIGHT})
OnFull = Literal["drop", "block"]
#: One message: its key (the prediction id) and its value.
Message = tuple[str, bytes]
#: Rows encoded, or messages queued, between two chances for an event loop to run others (the
#: async client yields there): 1,000 rows take a few milliseconds.
CHUNK = 1_000


class ClientStats(NamedTuple):
    """What became of the events logged so far (cumulative counts).

    ``sent``: acknowledged by Kafka. ``dropped``: never queued, the local queue was full.
    ``failed``: queued, then not delivered (a broker error, ``message.timeout.ms``, or still
    queued when the client closed). ``pending``: queued or in flight now.
    """

    sent: int
    dropped: int
    failed: int
    pending: int


class MonitorClient:
    """Log one model's predictions, features and labels to Kafka.

    Parameters
    ----------
    bootstrap_servers
        The Kafka cluster (``host:port[,host:port]``).
    model_id, model_version
        Written into every event.
    predictions_topic, labels_topic, features_topic
        Where each kind of event goes (as in the service's ``topics`` config).
    format
        ``"json"`` or ``"avro"``.
    schema_registry_url
        With ``format="avro"``: write the Confluent wire format and register the bundled schemas
        with this registry (``mock://name`` for an in-process one). Without: raw Avro binary.
    schema_registry_config
        More registry client settings (``basic.auth.user.info`` ...).
    producer_config
        librdkafka settings applied last (``security.protocol``, ``sasl.*``, ``linger.ms``,
        ``queue.buffering.max.messages`` ...).
    on_full
        When the local queue is full: ``"drop"`` the event at once (default), or ``"block"`` up
        to ``block_timeout`` seconds for room, then drop it. Dropped events are counted in
        :attr:`stats`; neither raises.
    block_timeout
        With ``on_full="block"``: the longest a ``log_*`` call waits, in seconds (a batch call:
        in all).
    config
        The service's config (:func:`monitor.config.load_config`), or this model's
        :class:`~monitor.config.ModelConfig`: each event is then checked against the model's
        features before it is queued, and a value the service would refuse raises
        :class:`~monitor.exceptions.EventError` naming the field (see
        :mod:`monitor.client._validate`). Batch calls also read the model's column mapping
        (``columns:``, the features' ``source:``, ``segments.keys``) from it. Without it,
        events are not checked beyond what encoding needs.
    """

    def __init__(
        self,
        bootstrap_servers: str,
        *,
        model_id: str,
        model_version: str,
        predictions_topic: str = "predictions",
        labels_topic: str = "labels",
        features_topic: str = "features",
        format: Literal["json", "avro"] = "json",
        schema_registry_url: str | None = None,
        schema_registry_config: Mapping[str, Any] | None = None,
        producer_config: Mapping[str, Any] | None = None,
        on_full: OnFull = "drop",
        block_timeout: float = 1.0,
        config: Config | ModelConfig | None = None,
    ) -> None:
        if not model_id:
            raise ValueError("model_id must be a non-empty string")
        if not isinstance(model_version, str):
            raise TypeError(f"model_version must be a string, got {type(model_version).__name__}")
        if format not in ("json", "avro"):
            raise ValueError(f"format must be 'json' or 'avro', got {format!r}")
        if schema_registry_url is not None and format != "avro":
            raise ValueError("schema_registry_url is only used with format='avro'")
        if on_full not in ("drop", "block"):
            raise ValueError(f"on_full must be 'drop' or 'block', got {on_full!r}")
        if not 0 <= block_timeout < float("inf"):
            raise ValueError(f"block_timeout must be a finite number >= 0, got {block_timeout!r}")
        for name, topic in (
            ("predictions_topic", predictions_topic),
            ("labels_topic", labels_topic),
            ("features_topic", features_topic),
        ):
            if not topic:
                raise ValueError(f"{name} must be a non-empty string")
        self.validator: Validator | None = None
        self.model: ModelConfig | None = None
        if config is not None:
            from monitor.client._validate import Validator

            self.validator = Validator.of(config, model_id)
            self.model = self.validator.model
            self.validator.version(model_version)
        self.model_id = model_id
        self.model_version = model_version
        self.predictions_topic = predictions_topic
        self.labels_topic = labels_topic
        self.features_topic = features_topic
        self.format = format
        self.on_full = on_full
        self.block_timeout = block_timeout
        self.schema_registry = None
        self._wait_s = block_timeout if on_full == "block" else 0.0
        self._lock = threading.Lock()
        # Messages the producer accepted: ``len(producer)`` also counts its own requests (the
        # idempotent producer's id), so pending is counted from these, not from it.
        self._sent = self._dropped = self._failed_total = self._queued = 0
        # Since the last flush (each reported once): failures by error, the first one, drops.
        self._failed: Counter[str] = Counter()
        self._first_failure: str | None = None
        self._dropped_unreported = 0
        # The outage in progress: (wall time it started, dropped and failed counts then).
        self._outage: tuple[float, int, int] | None = None
        self._final: ClientStats | None = None  # the stats at close
        conf = {**_DEFAULTS, "bootstrap.servers": bootstrap_servers, **(producer_config or {})}
        conf["on_delivery"] = self._on_delivery
        conf.setdefault("error_cb", self._on_error)
        conf.setdefault("logger", librdkafka_logger("monitor.client.librdkafka"))
        queue = int(conf.get("queue.buffering.max.messages", _QUEUE_DEFAULT))
        self._full = f"the local queue is full ({queue:,} events)"
        self._policy = f"events queue locally (up to {queue:,}); when the queue is full, " + (
            f"each waits up to {block_timeout:g} s for room, then is dropped"
            if on_full == "block"
            else "they are dropped"
        )
        try:
            self._producer = Producer(conf)
        except KafkaException as exc:
            raise KafkaError(f"invalid producer config: {exc.args[0].str()}") from exc
        self._encode_prediction: Encode
        self._encode_feature: Encode
        self._encode_label: Encode
        if format == "json":
            self._encode_prediction = self._encode_feature = self._encode_label = json_encoder()
        elif schema_registry_url is None:
            self._encode_prediction = raw_avro("prediction")
            self._encode_feature = raw_avro("feature")
            self._encode_label = raw_avro("label")
        else:
            from monitor.kafka.avro import registry_client

            self.schema_registry = registry_client(schema_registry_url, schema_registry_config)
            self._encode_prediction = registry_avro(
                self.schema_registry, "prediction", predictions_topic
            )
            self._encode_feature = registry_avro(self.schema_registry, "feature", features_topic)
            self._encode_label = registry_avro(self.schema_registry, "label", labels_topic)

    def log_prediction(
        self,
        features: Mapping[str, float | str | bool | None],
        prediction: Value,
        score: float | None = None,
        scores: Mapping[str, float] | None = None,
        segments: Mapping[str, str] | None = None,
        prediction_id: str | None = None,
        timestamp: Timestamp = None,
    ) -> str:
        """Queue one prediction event; return its prediction id (a new uuid4 hex by default).

        ``timestamp`` is the event time: epoch milliseconds or a datetime (naive = UTC);
        now by default. Never waits on Kafka (see ``on_full``); an event dropped because the
        local queue is full still gets its id, and counts in :attr:`stats`.
        """
        message = self._prediction(
            features, prediction, score, scores, segments, prediction_id, timestamp
        )
        self._produce_all(self.predictions_topic, (message,))
        return message[0]

    def log_features(
        self,
        features: Mapping[str, float | str | bool | None],
        segments: Mapping[str, str] | None = None,
        prediction_id: str | None = None,
        timestamp: Timestamp = None,
    ) -> str:
        """Queue one feature event (the inputs, without a prediction); return its id."""
        message = self._features(features, segments, prediction_id, timestamp)
        self._produce_all(self.features_topic, (message,))
        return message[0]

    def log_label(
        self, prediction_id: str, label: float | str | bool, timestamp: Timestamp = None
    ) -> None:
        """Queue the ground truth of a prediction (keyed by its id, like the prediction)."""
        self._produce_all(self.labels_topic, (self._label(prediction_id, label, timestamp),))

    def log_predictions(
        self,
        data: Any,
        *,
        features: Sequence[str] | Mapping[str, str] | None = None,
        prediction: str | None = None,
        score: str | None = None,
        prediction_id: str | None = None,
        timestamp: str | None = None,
        segments: Sequence[str] | None = None,
    ) -> list[str]:
        """Queue one prediction event per row of ``data``; return their prediction ids.

        ``data`` is a list of records (mappings of column to value) or a DataFrame (anything
        with ``to_dict("records")``). The other arguments name columns, as the single call
        names its arguments: ``prediction``, ``score``, ``prediction_id`` and ``timestamp``
        default to the column of that name (or the one the model's ``columns:`` maps) when
        the data has one; ``segments`` are columns whose values become segments; ``features``
        are the feature columns (a list, or a mapping of feature name to column), by default
        the model's configured features, or without a config every other column. A row
        without an id gets a new one; NaN, None and pandas' NA are missing values.

        Each row becomes the event :meth:`log_prediction` would make of it. Every row is
        encoded (and, with a config, checked) before any is queued: a bad row raises,
        naming its row number, and nothing of the batch is sent.
        """
        ids: list[str] = []
        messages: list[Message] = []
        for chunk in self._predictions(
            data, features, prediction, score, prediction_id, timestamp, segments
        ):
            ids.extend(key for key, _ in chunk)
            messages.extend(chunk)
        self._produce_all(self.predictions_topic, messages)
        return ids

    def log_labels(
        self,
        data: Any,
        *,
        prediction_id: str | None = None,
        label: str | None = None,
        timestamp: str | None = None,
    ) -> int:
        """Queue one label event per row of ``data`` that has a label; return how many.

        ``data`` as in :meth:`log_predictions`; ``prediction_id``, ``label`` and ``timestamp``
        name columns (default: the column of that name, or the model's ``columns:``). A row
        whose label is missing (None, NaN) is skipped: its truth is not known yet.
        """
        messages = [
            m for chunk in self._labels(data, prediction_id, label, timestamp) for m in chunk
        ]
        self._produce_all(self.labels_topic, messages)
        return len(messages)

    def _prediction(
        self,
        features: Mapping[str, Any],
        prediction: Any,
        score: Any,
        scores: Mapping[str, float] | None,
        segments: Mapping[str, str] | None,
        prediction_id: str | None,
        timestamp: Any,
    ) -> Message:
        """One prediction event as a message: checked (with a config), then encoded."""
        if prediction_id is None:
            prediction_id = uuid.uuid4().hex
        ms = epoch_ms(timestamp)
        if self.validator is not None:
            self.validator.prediction(features, prediction, score, segments, prediction_id, ms)
        event = Prediction(
            self.model_id,
            self.model_version,
            prediction_id,
            ms,
            features,
            prediction,
            score,
            scores,
            segments,
        )
        return prediction_id, self._encode(self._encode_prediction, event)

    def _features(
        self,
        features: Mapping[str, Any],
        segments: Mapping[str, str] | None,
        prediction_id: str | None,
        timestamp: Any,
    ) -> Message:
        pid = prediction_id if prediction_id is not None else uuid.uuid4().hex
        ms = epoch_ms(timestamp)
        if self.validator is not None:
            self.validator.features(features, segments, pid, ms)
        event = Features(self.model_id, self.model_version, pid, ms, features, segments)
        return pid, self._encode(self._encode_feature, event)

    def _label(self, prediction_id: Any, label: Any, timestamp: Any) -> Message:
        if not prediction_id:
            raise ValueError("prediction_id must be a non-empty string")
        if label is None:
            raise ValueError("label must not be None")
        ms = epoch_ms(timestamp)
        if self.validator is not None:
            self.validator.label(prediction_id, label, ms)
        event = Label(self.model_id, prediction_id, label, ms)
        return prediction_id, self._encode(self._encode_label, event)

    def _predictions(
        self,
        data: Any,
        features: Sequence[str] | Mapping[str, str] | None,
        prediction: str | None,
        score: str | None,
        prediction_id: str | None,
        timestamp: str | None,
        segments: Sequence[str] | None,
    ) -> Iterator[list[Message]]:
        """The messages of a batch of predictions, :data:`CHUNK` rows at a time."""
        from monitor.client import _batch

        table = _batch.Table(data)
        cols = _batch.prediction_columns(
            table.columns,
            self.model,
            features=features,
            prediction=prediction,
            score=score,
            prediction_id=prediction_id,
            timestamp=timestamp,
            segments=segments,
        )
        # A gap in the id column is a mistake a config catches; without one, as in the single
        # call, such a row gets a new id.
        strict = self.validator is not None and cols.prediction_id is not None

        def make(*fields: Any) -> Message:
            if strict and fields[5] is None:
                raise EventError("missing_field", "prediction_id: expected a value, got none")
            return self._prediction(*fields)

        return _chunked(enumerate(_batch.prediction_fields(table, cols)), make)

    def _labels(
        self, data: Any, prediction_id: str | None, label: str | None, timestamp: str | None
    ) -> Iterator[list[Message]]:
        """The messages of a batch of labels, :data:`CHUNK` rows at a time."""
        from monitor.client import _batch

        table = _batch.Table(data)
        cols = _batch.label_columns(
            table.columns,
            self.model,
            prediction_id=prediction_id,
            label=label,
            timestamp=timestamp,
        )
        return _chunked(_batch.label_fields(table, cols), self._label)

    @property
    def pending(self) -> int:
        """Messages queued or in flight, not yet delivered or failed (0 once closed)."""
        with self._lock:
            return 0 if self._closed else self._queued - self._sent - self._failed_total

    @property
    def stats(self) -> ClientStats:
        """The events sent, dropped, failed and pending so far (safe from any thread)."""
        if self._final is not None:
            return self._final
        with self._lock:
            sent, dropped, failed = self._sent, self._dropped, self._failed_total
            pending = self._queued - sent - failed
        return ClientStats(sent, dropped, failed, pending)

    @property
    def _closed(self) -> bool:
        return self._final is not None

    def flush(self, timeout: float = 5.0) -> None:
        """Wait up to ``timeout`` seconds for queued messages to be delivered.

        Raises :class:`KafkaError` with the number of events dropped, failed (by error) and
        still queued since the last flush; each is reported once.
        """
        if self._closed:
            raise KafkaError("the MonitorClient is closed")
        problem = self._undelivered(self._producer.flush(timeout), timeout)
        if problem:
            raise KafkaError(problem)

    def close(self, timeout: float = 5.0) -> ClientStats:
        """Wait up to ``timeout`` seconds for queued messages, count the rest as failed, release
        the producer and return the final :attr:`stats`. Never raises for undelivered events: it
        logs them (call :meth:`flush` first to get them as an error). Closing twice is a no-op.
        """
        if self._final is not None:
            return self._final
        remaining = self._producer.flush(timeout)
        problem = self._undelivered(remaining, timeout)
        if remaining:
            # Without a purge, closing would wait for message.timeout.ms (5 min by default).
            self._producer.purge()
            self._producer.flush(0)  # serve the purged messages' reports: they count as failed
            problem += ", discarded"
        if hasattr(self._producer, "close"):  # newer confluent-kafka; older ones close on GC
            self._producer.close()
        with self._lock:
            self._final = ClientStats(self._sent, self._dropped, self._failed_total, 0)
        if problem:
            logger.warning("MonitorClient closed: %s", problem)
        return self._final

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _undelivered(self, remaining: int, timeout: float) -> str:
        """What was not delivered since the last report ('' if nothing), then forget it."""
        with self._lock:
            failed, first, dropped = self._failed, self._first_failure, self._dropped_unreported
            self._failed, self._first_failure, self._dropped_unreported = Counter(), None, 0
        parts = []
        if dropped:
            parts.append(f"{dropped} event(s) dropped (the local queue was full)")
        if failed:
            by_error = ", ".join(f"{n} {name}" for name, n in failed.most_common())
            parts.append(
                f"{failed.total()} message(s) failed delivery ({by_error}; first: {first})"
            )
        if remaining:
            parts.append(f"{remaining} message(s) still undelivered after {timeout}s")
        return "; ".join(parts)

    def _encode(self, encode: Encode, event: msgspec.Struct) -> bytes:
        """One event struct for both formats: JSON encodes it directly, Avro from its fields."""
        try:
            return encode(event if self.format == "json" else msgspec.structs.asdict(event))
        except (TypeError, ValueError, AttributeError, msgspec.EncodeError) as exc:
            raise EventError(
                "wrong_type", f"cannot encode the event as {self.format}: {exc}"
            ) from exc

    def _produce_all(self, topic: str, messages: Sequence[Message]) -> None:
        """Queue ``messages``; when the local queue is full, serve deliveries (they make room)
        until ``block_timeout``, then drop the rest (see :meth:`_producing`)."""
        if self._closed:
            raise KafkaError("the MonitorClient is closed")
        done = self._queue(topic, messages, 0, len(messages))  # the common case: all fit
        poll = self._producer.poll
        if done < len(messages):
            for wait in self._producing(topic, messages, done):
                poll(wait)
        else:
            poll(0)  # serve delivery reports, errors and log lines

    def _producing(
        self, topic: str, messages: Sequence[Message], start: int = 0
    ) -> Iterator[float]:
        """Queue ``messages`` from ``start`` on, in order, yielding how long to wait (seconds)
        before the next try: 0 after each :data:`CHUNK` of messages, or up to 0.1 s while the
        local queue is full (``on_full="drop"``: never; what is left at ``block_timeout`` is
        dropped). The caller waits its own way: :meth:`_produce_all` serves deliveries
        meanwhile, the async client awaits, and its thread serves them."""
        if self._closed:
            raise KafkaError("the MonitorClient is closed")
        done, total, deadline = start, len(messages), None
        while done < total:
            stop = min(done + CHUNK, total)
            done += self._queue(topic, messages, done, stop)
            if done == total:
                break
            if done == stop:
                yield 0.0
                continue
            # The local queue is full (queue.buffering.max.messages).
            now = time.monotonic()
            deadline = now + self._wait_s if deadline is None else deadline
            if now >= deadline:
                self._drop(total - done)
                break
            yield min(deadline - now, 0.1)
        self._producer.poll(0)  # serve delivery reports, errors and log lines

    def _queue(self, topic: str, messages: Sequence[Message], start: int, stop: int) -> int:
        """Queue ``messages[start:stop]`` until the local queue is full; return how many."""
        produce = self._producer.produce
        i = start
        try:
            for i in range(start, stop):
                key, value = messages[i]
                produce(topic, value, key.encode())
            i = stop
        except BufferError:
            pass
        except KafkaException as exc:
            raise KafkaError(f"cannot produce to {topic!r}: {exc.args[0].str()}") from exc
        finally:
            with self._lock:
                self._queued += i - start
        return i - start

    def _drop(self, count: int) -> None:
        with self._lock:
            self._dropped += count
            self._dropped_unreported += count
            quiet = self._outage is not None
        if not quiet:
            self._trouble(self._full)

    def _trouble(self, what: str) -> None:
        """One WARNING when an outage starts; what follows goes to DEBUG until it is over."""
        with self._lock:
            first = self._outage is None
            if first:
                self._outage = (time.time(), self._dropped, self._failed_total)
        if first:
            logger.warning(
                "MonitorClient: %s; %s; counted in MonitorClient.stats (logged again when "
                "delivery resumes)",
                what,
                self._policy,
            )
        else:
            logger.debug("MonitorClient: %s", what)

    def _on_delivery(self, err: Any, msg: Any) -> None:
        if err is None:
            with self._lock:
                self._sent += 1
                outage, self._outage = self._outage, None
                dropped, failed = self._dropped, self._failed_total
            if outage is not None:
                logger.info(
                    "MonitorClient: delivery to Kafka resumed after %.0f s; meanwhile %d event(s) "
                    "dropped and %d failed",
                    time.time() - outage[0],
                    dropped - outage[1],
                    failed - outage[2],
                )
            return
        with self._lock:
            self._failed_total += 1
            self._failed[err.name()] += 1
            if self._first_failure is None:
                key = msg.key().decode(errors="replace") if msg.key() else None
                self._first_failure = f"topic {msg.topic()!r} key {key!r}: {err.str()}"
        if err.code() not in _PURGED:  # a purge is ours, at close, and reported there
            self._trouble(f"delivery to Kafka failed ({err.name()}: {err.str()})")

    def _on_error(self, err: Any) -> None:
        if err.fatal():
            logger.error("MonitorClient: fatal Kafka error: %s", err.str())
        elif err.code() == RdKafkaError._TRANSPORT:
            # One broker's connection; librdkafka retries it. All of them down is its own error.
            logger.debug("MonitorClient: %s", err.str())
        elif err.code() == RdKafkaError._ALL_BROKERS_DOWN:
            self._trouble(f"Kafka is unreachable ({err.str()})")
        else:
            self._trouble(f"Kafka error {err.name()}: {err.str()}")


def _chunked(
    rows: Iterable[tuple[int, tuple[Any, ...]]], make: Callable[..., Message]
) -> Iterator[list[Message]]:
    """The messages ``make`` makes of each row's fields, :data:`CHUNK` at a time; an error
    names its row."""
    chunk: list[Message] = []
    row = 0
    try:
        for row, fields in rows:
            chunk.append(make(*fields))
            if len(chunk) == CHUNK:
                yield chunk
                chunk = []
    except (EventError, ValueError, TypeError) as exc:
        raise _at_row(exc, row) from None
    yield chunk


def _at_row(exc: Exception, row: int) -> Exception:
    """The error of one row of a batch, naming the row."""
    if isinstance(exc, EventError):
        return EventError(exc.reason, f"row {row}: {exc.detail}")
    return type(exc)(f"row {row}: {exc}")
