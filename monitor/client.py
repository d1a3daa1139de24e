"""The producer SDK: log predictions, features and labels from an application to Kafka.

>>> from monitor.client import MonitorClient
>>> from monitor.kafka.broker import EmbeddedBroker
>>> broker = EmbeddedBroker().start()  # a dev broker; in production, your cluster's address
>>> with MonitorClient(broker.bootstrap_servers, model_id="fraud", model_version="3") as client:
...     pid = client.log_prediction({"amount": 12.5, "country": "DE", "new_customer": True},
...                                 prediction=1, score=0.93, segments={"region": "eu"})
...     client.log_label(pid, 1)  # later, when the truth is known
>>> len(pid)  # a uuid4 hex, also the message key
32
>>> broker.stop()

Against a real cluster (``with`` flushes on exit; :meth:`MonitorClient.flush` any time):

>>> client = MonitorClient("kafka:9092", model_id="fraud", model_version="3",
...                        producer_config={"security.protocol": "SASL_SSL"})  # doctest: +SKIP

Every message is keyed by its prediction id, and predictions and labels go through one producer
and therefore one partitioner, so a label lands on the partition number of its prediction when the
two topics have the same partition count (DESIGN.md section 8). The partitioner is
``murmur2_random``, the Java client's default, so labels produced by a JVM application (Kafka
Streams, Connect) co-partition with predictions from Python too; librdkafka's own default,
``consistent_random`` (CRC32), would not.

Messages are batched (``linger.ms=20``) and sent in the background by librdkafka.

The client never stalls its caller. ``log_*`` only puts the event into librdkafka's local queue
(``queue.buffering.max.messages``, 100,000 by default); when Kafka is away, the queue absorbs the
outage until it is full, and then, with ``on_full="drop"`` (the default), each new event is
dropped at once and counted. ``on_full="block"`` waits up to ``block_timeout`` seconds per event
for room in the queue, then drops it (it never raises: a monitoring SDK must not fail a request).
An outage is logged once, with a WARNING when it starts (queue full, all brokers down, or a
delivery failure) and an INFO line when delivery resumes, not once per event or per reconnect;
librdkafka's own log lines go through the ``monitor.client.librdkafka`` logger (its repeated
connection failures at DEBUG). :attr:`MonitorClient.stats` counts, thread-safely, the events sent
(acknowledged by Kafka), dropped (the local queue was full) and failed (queued, never delivered):

>>> client = MonitorClient("127.0.0.1:1", model_id="fraud", model_version="3",  # nothing listens
...                        producer_config={"queue.buffering.max.messages": 10})
>>> ids = [client.log_prediction({"amount": 1.0}, prediction=0) for _ in range(25)]  # no wait
>>> client.stats
ClientStats(sent=0, dropped=15, failed=0, pending=10)
>>> client.close(timeout=0)  # waits at most `timeout` s (5 by default); the queued 10 failed
ClientStats(sent=0, dropped=15, failed=10, pending=0)

:meth:`MonitorClient.flush` waits (5 s by default) and raises
:class:`~monitor.exceptions.KafkaError` with the number of events dropped, failed and still
queued since the last flush; :meth:`MonitorClient.close` logs the same and returns the stats.

Formats: ``"json"`` (msgspec) or ``"avro"``: with ``schema_registry_url`` in the Confluent wire
format (schemas registered under ``<topic>-value``), without it as raw Avro binary with the bundled
schemas of ``monitor.kafka.avro``. The consumer's config must say the same (``topics.format`` and
``kafka.schema_registry_url``).
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import threading
import time
import uuid
from collections import Counter
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Literal, NamedTuple, Self

import msgspec
from confluent_kafka import KafkaError as RdKafkaError
from confluent_kafka import KafkaException, Producer

from monitor.exceptions import EventError, KafkaError

__all__ = ["ClientStats", "MonitorClient"]

logger = logging.getLogger(__name__)

Value = float | int | str | bool | None
Timestamp = dt.datetime | int | None

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
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MS = dt.timedelta(milliseconds=1)


class _Prediction(msgspec.Struct, omit_defaults=True, gc=False):
    model_id: str
    model_version: str
    prediction_id: str
    timestamp: int
    features: Mapping[str, Any]
    prediction: Any = None
    score: float | None = None
    scores: Mapping[str, float] | None = None
    segments: Mapping[str, str] | None = None


class _Features(msgspec.Struct, omit_defaults=True, gc=False):
    model_id: str
    model_version: str
    prediction_id: str
    timestamp: int
    features: Mapping[str, Any]
    segments: Mapping[str, str] | None = None


class _Label(msgspec.Struct, gc=False):
    model_id: str
    prediction_id: str
    label: Any
    timestamp: int


def _enc_hook(obj: Any) -> Any:
    # numpy integers and bools are not Python ints (numpy floats are floats and encode natively);
    # a Mapping that is not a dict (MappingProxyType ...) encodes as its dict.
    if isinstance(obj, Mapping):
        return dict(obj)
    if hasattr(obj, "item"):
        return obj.item()
    raise TypeError(f"cannot encode {type(obj).__name__}")


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
        With ``on_full="block"``: the longest a ``log_*`` call waits, in seconds.
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
        conf.setdefault("logger", _LibrdkafkaLog(logging.getLogger(f"{__name__}.librdkafka")))
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
        if format == "json":
            encoder = msgspec.json.Encoder(enc_hook=_enc_hook)
            self._encode_prediction = self._encode_feature = self._encode_label = encoder.encode
        elif schema_registry_url is None:
            self._encode_prediction = _raw_avro("prediction")
            self._encode_feature = _raw_avro("feature")
            self._encode_label = _raw_avro("label")
        else:
            from monitor.kafka.avro import registry_client

            self.schema_registry = registry_client(schema_registry_url, schema_registry_config)
            self._encode_prediction = _registry_avro(
                self.schema_registry, "prediction", predictions_topic
            )
            self._encode_feature = _registry_avro(self.schema_registry, "feature", features_topic)
            self._encode_label = _registry_avro(self.schema_registry, "label", labels_topic)

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
        pid = prediction_id if prediction_id is not None else uuid.uuid4().hex
        event = _Prediction(
            self.model_id,
            self.model_version,
            pid,
            _epoch_ms(timestamp),
            features,
            prediction,
            score,
            scores,
            segments,
        )
        self._produce(self.predictions_topic, pid, self._encode(self._encode_prediction, event))
        return pid

    def log_features(
        self,
        features: Mapping[str, float | str | bool | None],
        segments: Mapping[str, str] | None = None,
        prediction_id: str | None = None,
        timestamp: Timestamp = None,
    ) -> str:
        """Queue one feature event (the inputs, without a prediction); return its id."""
        pid = prediction_id if prediction_id is not None else uuid.uuid4().hex
        event = _Features(
            self.model_id, self.model_version, pid, _epoch_ms(timestamp), features, segments
        )
        self._produce(self.features_topic, pid, self._encode(self._encode_feature, event))
        return pid

    def log_label(
        self, prediction_id: str, label: float | str | bool, timestamp: Timestamp = None
    ) -> None:
        """Queue the ground truth of a prediction (keyed by its id, like the prediction)."""
        if not prediction_id:
            raise ValueError("prediction_id must be a non-empty string")
        if label is None:
            raise ValueError("label must not be None")
        event = _Label(self.model_id, prediction_id, label, _epoch_ms(timestamp))
        self._produce(self.labels_topic, prediction_id, self._encode(self._encode_label, event))

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

    def _encode(self, encode: Any, event: msgspec.Struct) -> bytes:
        """One event struct for both formats: JSON encodes it directly, Avro from its fields."""
        try:
            return encode(event if self.format == "json" else msgspec.structs.asdict(event))
        except (TypeError, ValueError, AttributeError, msgspec.EncodeError) as exc:
            raise EventError(
                "wrong_type", f"cannot encode the event as {self.format}: {exc}"
            ) from exc

    def _produce(self, topic: str, key: str, value: bytes) -> None:
        if self._closed:
            raise KafkaError("the MonitorClient is closed")
        producer = self._producer
        deadline: float | None = None
        while True:
            try:
                producer.produce(topic, value, key.encode())
                with self._lock:
                    self._queued += 1
                break
            except BufferError:
                # The local queue is full (queue.buffering.max.messages): drop at once, or wait
                # for deliveries (their reports, served by poll, make room) until the deadline.
                now = time.monotonic()
                deadline = now + self._wait_s if deadline is None else deadline
                if now >= deadline:
                    self._drop()
                    break
                producer.poll(min(deadline - now, 0.1))
            except KafkaException as exc:
                raise KafkaError(f"cannot produce to {topic!r}: {exc.args[0].str()}") from exc
        producer.poll(0)  # serve delivery reports, errors and log lines

    def _drop(self) -> None:
        with self._lock:
            self._dropped += 1
            self._dropped_unreported += 1
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


class _LibrdkafkaLog:
    """librdkafka's log lines into a Python logger, at their own level except connection
    failures (facility ``FAIL``), which go to DEBUG: librdkafka repeats one at every reconnect
    (190 lines in 30 s against a dead address), and the error callback reports the outage."""

    def __init__(self, target: logging.Logger) -> None:
        self._target = target

    def log(self, level: int, msg: str, *args: Any) -> None:
        # confluent-kafka calls log(level, "%s [%s] %s", facility, client name, text).
        self._target.log(logging.DEBUG if args[:1] == ("FAIL",) else level, msg, *args)


def _epoch_ms(timestamp: Timestamp) -> int:
    if timestamp is None:
        return time.time_ns() // 1_000_000
    if isinstance(timestamp, dt.datetime):
        if timestamp.tzinfo is None:  # as the event contract reads a bare time: UTC
            timestamp = timestamp.replace(tzinfo=dt.UTC)
        return (timestamp - _EPOCH) // _MS
    if isinstance(timestamp, int) and not isinstance(timestamp, bool):
        return timestamp
    raise TypeError(
        f"timestamp must be epoch milliseconds (int) or a datetime, got {type(timestamp).__name__}"
    )


def _raw_avro(name: str) -> Any:
    from fastavro import schemaless_writer

    from monitor.kafka.avro import parsed_schema

    schema = parsed_schema(name)

    def encode(record: dict[str, Any]) -> bytes:
        buf = io.BytesIO()
        schemaless_writer(buf, schema, _plain(record))
        return buf.getvalue()

    return encode


def _registry_avro(registry: Any, name: str, topic: str) -> Any:
    from confluent_kafka.schema_registry.avro import AvroSerializer
    from confluent_kafka.serialization import MessageField, SerializationContext

    from monitor.kafka.avro import schema_text

    serializer = AvroSerializer(registry, schema_text(name), conf={"auto.register.schemas": True})
    context = SerializationContext(topic, MessageField.VALUE)

    def encode(record: dict[str, Any]) -> bytes:
        return serializer(_plain(record), context)

    return encode


def _plain(record: dict[str, Any]) -> dict[str, Any]:
    """Turn numpy scalars into Python values (fastavro rejects ``np.int64`` and ``np.bool_``)."""
    if any(type(v) not in _PLAIN for v in record.values()):
        record = {k: (v.item() if hasattr(v, "item") else v) for k, v in record.items()}
    features = record.get("features")
    if features is not None and any(type(v) not in _PLAIN for v in features.values()):
        record["features"] = {
            k: (v.item() if hasattr(v, "item") else v) for k, v in features.items()
        }
    return record


_PLAIN = frozenset({float, int, str, bool, type(None), dict})
