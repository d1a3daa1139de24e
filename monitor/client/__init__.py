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

Many events at once (a list of records, or a pandas DataFrame: pandas is never imported by the
SDK itself), each row the event the single call makes of it; columns are named as the single
call names its arguments (``prediction``, ``score``, ``prediction_id``, ``timestamp``,
``segments``, ``features``; see :meth:`MonitorClient.log_predictions`):

>>> client = MonitorClient("127.0.0.1:1", model_id="fraud", model_version="3",
...                        producer_config={"log_level": 0})
>>> rows = [{"amount": 12.5, "country": "DE", "prediction": 1, "id": "a"},
...         {"amount": float("nan"), "country": "FR", "prediction": 0, "id": "b"}]  # NaN: missing
>>> client.log_predictions(rows, prediction_id="id")
['a', 'b']
>>> client.log_labels([{"id": "a", "label": 1}, {"id": "b", "label": None}], prediction_id="id")
1

With the service's config, each event is checked against the model's features before it is
queued, and a value the service would refuse (a dead letter the app would never see) raises
:class:`~monitor.exceptions.EventError` naming the field:

>>> from monitor.config import parse_config
>>> config = parse_config({"models": {"fraud": {"features": {
...     "amount": {"kind": "numeric"}, "country": {"kind": "categorical"}}}}})
>>> checked = MonitorClient("127.0.0.1:1", model_id="fraud", model_version="3", config=config,
...                         producer_config={"log_level": 0})
>>> checked.log_prediction({"amount": 12.5, "country": "DE"}, prediction=1, score="high")
Traceback (most recent call last):
monitor.exceptions.EventError: wrong_type: score: expected a number, got 'high' (str)
>>> checked.log_predictions([{"amount": 1.0}, {"amount": "12,5"}])
Traceback (most recent call last):
monitor.exceptions.EventError: wrong_type: row 1: features.amount: expected a number or a \
boolean (a numeric feature), got '12,5' (str)
>>> _ = checked.close(0), client.close(0)

asyncio code uses :class:`AsyncMonitorClient` (the same arguments; ``await`` each call).
"""

from monitor.client._async import AsyncMonitorClient
from monitor.client._encode import Timestamp, Value
from monitor.client._producer import ClientStats, MonitorClient, OnFull

__all__ = ["AsyncMonitorClient", "ClientStats", "MonitorClient", "OnFull", "Timestamp", "Value"]
