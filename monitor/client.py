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

Messages are batched (``linger.ms=20``) and sent in the background; ``produce`` never blocks on
the network. Delivery failures are counted by a delivery callback and reported by
:meth:`MonitorClient.flush`, which raises :class:`~monitor.exceptions.KafkaError`.

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
from typing import Any, Literal, Self

import msgspec
from confluent_kafka import KafkaException, Producer

from monitor.exceptions import EventError, KafkaError

__all__ = ["MonitorClient"]

logger = logging.getLogger(__name__)

Value = float | int | str | bool | None
Timestamp = dt.datetime | int | None

# linger.ms: an application logs one prediction per request; waiting 20 ms groups them into
# batches (fewer, larger requests) at a latency nobody monitoring drift will notice.
# enable.idempotence: a retried batch is neither duplicated nor reordered (a duplicate would be
# counted twice in a window). delivery.report.only.error: no Python callback per good message.
_DEFAULTS: dict[str, Any] = {
    "linger.ms": 20,
    "partitioner": "murmur2_random",
    "enable.idempotence": True,
    "delivery.report.only.error": True,
}
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MS = dt.timedelta(milliseconds=1)


class _Prediction(msgspec.Struct, omit_defaults=True, gc=False):
    model_id: str
    model_version: str
    prediction_id: str
    timestamp: int
    features: dict[str, Any]
    prediction: Any = None
    score: float | None = None
    scores: dict[str, float] | None = None
    segments: dict[str, str] | None = None


class _Features(msgspec.Struct, omit_defaults=True, gc=False):
    model_id: str
    model_version: str
    prediction_id: str
    timestamp: int
    features: dict[str, Any]
    segments: dict[str, str] | None = None


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
        librdkafka settings applied last (``security.protocol``, ``sasl.*``, ``linger.ms`` ...).
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
    ) -> None:
        if not model_id:
            raise ValueError("model_id must be a non-empty string")
        if not isinstance(model_version, str):
            raise TypeError(f"model_version must be a string, got {type(model_version).__name__}")
        if format not in ("json", "avro"):
            raise ValueError(f"format must be 'json' or 'avro', got {format!r}")
        if schema_registry_url is not None and format != "avro":
            raise ValueError("schema_registry_url is only used with format='avro'")
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
        self.schema_registry = None
        self._lock = threading.Lock()
        self._failed: Counter[str] = Counter()
        self._first_failure: str | None = None
        self._closed = False
        conf = {**_DEFAULTS, "bootstrap.servers": bootstrap_servers, **(producer_config or {})}
        conf["on_delivery"] = self._on_delivery
        conf.setdefault("error_cb", _log_error)
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
        now by default.
        """
        pid = prediction_id if prediction_id is not None else uuid.uuid4().hex
        event = _Prediction(
            self.model_id, self.model_version, pid, _epoch_ms(timestamp), features, prediction, score, scores, segments
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
        event = _Features(self.model_id, self.model_version, pid, _epoch_ms(timestamp), features, segments)
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
        return 0 if self._closed else len(self._producer)

    def flush(self, timeout: float = 30.0) -> None:
        """Wait up to ``timeout`` seconds for queued messages to be delivered.

        Raises :class:`KafkaError` with the number of messages that failed (by error) and that
        are still queued. Each failure is reported once.
        """
        if self._closed:
            raise KafkaError("the MonitorClient is closed")
        self._flush(timeout)

    def _flush(self, timeout: float) -> None:
        remaining = self._producer.flush(timeout)
        with self._lock:
            failed, first = self._failed, self._first_failure
            self._failed, self._first_failure = Counter(), None
        if not failed and not remaining:
            return
        parts = []
        if failed:
            by_error = ", ".join(f"{n} {name}" for name, n in failed.most_common())
            parts.append(
                f"{failed.total()} message(s) failed delivery ({by_error}; first: {first})"
            )
        if remaining:
            parts.append(f"{remaining} message(s) still undelivered after {timeout}s")
        raise KafkaError("; ".join(parts))

    def close(self, timeout: float = 30.0) -> None:
        """Flush (see :meth:`flush`), drop what is still undelivered after ``timeout`` seconds,
        and release the producer. Closing twice is a no-op."""
        if self._closed:
            return
        self._closed = True
        try:
            self._flush(timeout)
        finally:
            self._producer.purge()  # so that closing does not wait for message.timeout.ms
            self._producer.poll(0)
            if hasattr(self._producer, "close"):  # newer confluent-kafka; older ones close on GC
                self._producer.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
            return
        try:  # do not hide the exception in flight behind a delivery error
            self.close()
        except KafkaError as err:
            logger.error("closing MonitorClient: %s", err)

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
        while True:
            try:
                producer.produce(topic, value, key.encode())
                break
            except BufferError:
                # The local queue is full (queue.buffering.max.messages): wait for deliveries.
                producer.poll(0.1)
            except KafkaException as exc:
                raise KafkaError(f"cannot produce to {topic!r}: {exc.args[0].str()}") from exc
        producer.poll(0)  # serve delivery callbacks

    def _on_delivery(self, err: Any, msg: Any) -> None:
        if err is None:
            return
        with self._lock:
            self._failed[err.name()] += 1
            if self._first_failure is None:
                key = msg.key().decode(errors="replace") if msg.key() else None
                self._first_failure = f"topic {msg.topic()!r} key {key!r}: {err.str()}"


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


def _log_error(err: Any) -> None:
    logger.warning("kafka producer: %s", err.str())


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
