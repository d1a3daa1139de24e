"""The Kafka feeder (``monitor run``): the consumer loop around the pipeline.

One process of a consumer group. The order of things, per loop:

1. ``consume(num_messages=...)`` a batch; group it by partition, keeping each partition's order;
2. decode each partition's values in one call (JSON or Avro) and hand the batch to the engine as
   source ``topic:partition`` with the offset after its last message;
3. send rejected messages to the dead-letter topic with headers saying why and where from;
4. every ``checkpoint_interval``: flush the dead letters, then checkpoint (window state,
   positions and watermarks in one SQL transaction, closing the windows every partition's
   watermark has passed), then commit the same positions to Kafka for lag tooling.

On assignment the consumer loads the partitions' checkpointed state and seeks to the
checkpointed positions; on revocation it checkpoints and forgets them. While the database is
away, consumption pauses (backpressure) and the service reports itself unready; the drained
state is kept and written when the database returns.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from monitor.config import Config
from monitor.engine import ClosedWindow, Lookup
from monitor.events import BadEvent, Decoded, EventDecoder, LabelDecoder
from monitor.exceptions import StoreUnavailable
from monitor.kafka.logs import librdkafka_logger
from monitor.kafka.topics import check_copartitioned, client_config
from monitor.metrics import Metrics
from monitor.pipeline.build import build, steady_collector
from monitor.stats import preload
from monitor.store import Store
from monitor.store.settings import check_geometry

if TYPE_CHECKING:
    from confluent_kafka._types import HeadersType  # a list of (name, value) or a dict

__all__ = ["KafkaService", "consumer_defaults"]

log = logging.getLogger(__name__)


def consumer_defaults(group_id: str) -> dict[str, Any]:
    """Consumer settings we rely on; the config's ``kafka.client`` may override any of them."""
    return {
        "group.id": group_id,
        "enable.auto.commit": False,  # positions live in our SQL checkpoint
        "auto.offset.reset": "earliest",
        # librdkafka waits 1000 ms before refetching once its queue was full; at 10 ms a consumer
        # slower than its fetcher no longer idles (measured here: 106k -> 178k messages/s).
        "fetch.queue.backoff.ms": 10,
        "queued.max.messages.kbytes": 65536,
        "session.timeout.ms": 10000,
        "heartbeat.interval.ms": 1000,
    }


def source_of(topic: str, partition: int) -> str:
    return f"{topic}:{partition}"


class KafkaService:
    """Consume the configured topics into the engine; checkpoint into ``store``."""

    def __init__(
        self,
        config: Config,
        store: Store,
        *,
        bootstrap_servers: str | None = None,
        metrics: Metrics | None = None,
        batch_size: int = 5000,
        on_windows: Callable[[list[ClosedWindow]], None] | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.job = config.kafka.group_id
        self.metrics = metrics or Metrics(
            max_versions={m: c.max_versions for m, c in config.models.items()}
        )
        self.batch_size = batch_size
        overrides = {"bootstrap.servers": bootstrap_servers} if bootstrap_servers else {}
        # every client's librdkafka lines through logging, in the service's format (librdkafka
        # prints them to stderr itself otherwise)
        self.client_conf = {"logger": librdkafka_logger(), **client_config(config, **overrides)}
        self.label_topics = sorted(
            {m.topics.labels for m in config.models.values() if m.topics.labels}
        )
        self.topics = sorted(
            {
                t
                for m in config.models.values()
                for t in (m.topics.predictions, m.topics.features)
                if t
            }
            | set(self.label_topics)
        )
        self.pipeline = build(
            config,
            store,
            self.job,
            shared=self._all_sources,
            metrics=self.metrics,
            guard_lookup=self._guard_lookup,
        )
        self.engine, self.checkpointer = self.pipeline.engine, self.pipeline.checkpointer
        self.checkpointer.listeners.append(self._after_checkpoint)
        self.decoder = EventDecoder(config)
        self.label_decoder = LabelDecoder(config)
        self._avro = {t: self._avro_decoder(t) for t in self.topics if self._format(t) == "avro"}
        self.on_windows = on_windows
        self.stopping = threading.Event()
        self.assigned: set[tuple[str, int]] = set()
        self._partitions: dict[str, int] = {}
        self._activity: dict[str, float] = {}
        self._paused = False
        self._db_away: str | None = None  # why, while a read waits for the database
        self._undelivered: list[tuple[bytes | None, bytes | None, HeadersType]] = []
        self.consumer: Consumer | None = None
        self._admin: AdminClient | None = None
        self._lag: dict[str, int] = {}
        self.dead_letters: Producer | None = None
        self.metrics.register_state(self._scrape)

    # -- readiness --------------------------------------------------------------------------
    @property
    def ready(self) -> bool:
        return self.readiness()[0]

    def readiness(self) -> tuple[bool, dict[str, str]]:
        """(ready, why not): partitions assigned, database reachable, not paused, and no
        partition lagging more than ``metrics.max_lag_events`` messages behind (when set)."""
        reasons: dict[str, str] = {}
        if not self.assigned:
            reasons["partitions"] = "none assigned yet"
        if problem := self.checkpointer.problem() or self._db_away:  # unreachable, full, rejected
            reasons["database"] = problem
        max_lag = getattr(self.config.metrics, "max_lag_events", None)
        if max_lag is not None:
            behind = {s: n for s, n in self.lag().items() if n > max_lag}
            if behind:
                worst = max(behind, key=behind.__getitem__)
                reasons["lag"] = (
                    f"{len(behind)} partition(s) more than {max_lag} events behind (worst "
                    f"{worst}: {behind[worst]})"
                )
        return not reasons, reasons

    def lag(self) -> dict[str, int]:
        """Messages between the position processed and the partition's end, per assigned
        partition (``topic:partition``), as of the consumer loop's last step (see
        :meth:`_measure_lag`); a partition whose end is not known yet is left out."""
        return dict(self._lag)

    def _measure_lag(self) -> None:
        """Cache the lag of every assigned partition. Cheap: the high watermarks librdkafka
        cached from its last fetch responses. Called from the consumer loop, never from the
        scrape thread: there, ``get_watermark_offsets`` waits on the consumer's locks (scrapes
        took seconds)."""
        assert self.consumer is not None
        lag: dict[str, int] = {}
        for topic, partition in self.assigned:
            try:
                low, high = self.consumer.get_watermark_offsets(
                    TopicPartition(topic, partition), cached=True
                )
            except KafkaException:
                continue
            if high < 0:
                continue
            source = source_of(topic, partition)
            lag[source] = max(0, high - self.engine.offsets.get(source, max(low, 0)))
        self._lag = lag

    def _scrape(self) -> list[GaugeMetricFamily | CounterMetricFamily]:
        late = CounterMetricFamily(
            "monitor_events_late",
            "Events later than their window's allowed lateness",
            labels=["model_id"],
        )
        for model_id, count in self.engine.late_by_model.items():
            late.add_metric([model_id], count)
        ready = GaugeMetricFamily(
            "monitor_ready",
            "1 when /readyz answers 200: partitions assigned, database reachable, not lagging",
        )
        ready.add_metric([], 1.0 if self.ready else 0.0)
        assigned = GaugeMetricFamily(
            "monitor_assigned_partitions", "Partitions this process consumes"
        )
        assigned.add_metric([], len(self.assigned))
        lag = GaugeMetricFamily(
            "monitor_consumer_lag_events",
            "Messages not yet processed, per assigned partition",
            labels=["topic", "partition"],
        )
        for source, n in sorted(self.lag().items()):
            topic, partition = source.rsplit(":", 1)
            lag.add_metric([topic, partition], n)
        return [late, ready, assigned, lag]

    # -- setup ------------------------------------------------------------------------------
    def _avro_decoder(self, topic: str) -> Any:
        """With a registry the writer schema comes with each message; without one, the topic's
        kind says which bundled schema wrote it."""
        from monitor.kafka.avro import AvroDecoder, registry_client

        url = self.config.kafka.schema_registry_url
        if url:
            return AvroDecoder(registry=registry_client(url))
        if topic in self.label_topics:
            return AvroDecoder("label")
        features = any(m.topics.features == topic for m in self.config.models.values())
        return AvroDecoder("feature" if features else "prediction")

    def _format(self, topic: str) -> str:
        for m in self.config.models.values():
            if topic in (m.topics.predictions, m.topics.features):
                return m.topics.format
        return "json"

    def _all_sources(self) -> set[str]:
        """Every partition whose watermark windows wait for (labels do not move event time)."""
        return {
            source_of(t, p)
            for t, n in self._partitions.items()
            if t not in self.label_topics
            for p in range(n)
        }

    def _refresh_partitions(self) -> None:
        """The partition counts of our topics, through an admin client of its own: called from
        the rebalance callback, where a blocking call on the consumer itself clears
        confluent-kafka's call state and the next callback of the same ``consume()`` aborts the
        process (``CallState_get: Assertion 'cs != NULL' failed``, seen with 4 processes)."""
        if self._admin is None:
            self._admin = AdminClient(self.client_conf)
        meta = self._admin.list_topics(timeout=10)
        for topic in self.topics:
            if topic in meta.topics and meta.topics[topic].error is None:
                self._partitions[topic] = len(meta.topics[topic].partitions)

    # -- rebalance callbacks ----------------------------------------------------------------
    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        sources = {source_of(tp.topic, tp.partition) for tp in partitions}
        state = self._retry(lambda: self.pipeline.restore(sources))
        now = time.monotonic()
        for tp in partitions:
            source = source_of(tp.topic, tp.partition)
            tp.offset = state.offsets.get(source, OFFSET_BEGINNING)
            self._activity[source] = now
            self.assigned.add((tp.topic, tp.partition))
        consumer.assign(partitions)
        self._refresh_partitions()
        for tp in partitions:
            log.info(
                "assigned %s:%d at offset %d",
                tp.topic,
                tp.partition,
                tp.offset,
                extra={"partition": source_of(tp.topic, tp.partition)},
            )

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        sources = {source_of(tp.topic, tp.partition) for tp in partitions}
        if not self._checkpoint():
            # The database is away: what this process did since its last checkpoint is lost for
            # every partition, so rewind all of them; the new owners start from the checkpoint.
            log.warning(
                "revoked %s without a checkpoint; rewinding to the last checkpoint", sorted(sources)
            )
            self.checkpointer.discard()
            self.engine.forget(set(self.engine.offsets) | sources)
            keep = [
                TopicPartition(t, p) for t, p in self.assigned if source_of(t, p) not in sources
            ]
            self._reload(keep)
        self.engine.forget(sources)
        for tp in partitions:
            self.assigned.discard((tp.topic, tp.partition))
            self._activity.pop(source_of(tp.topic, tp.partition), None)
        for source in sorted(sources):
            log.info("revoked %s", source, extra={"partition": source})

    def _reload(self, partitions: list[TopicPartition]) -> None:
        if not partitions:
            return
        sources = {source_of(tp.topic, tp.partition) for tp in partitions}
        state = self._retry(lambda: self.pipeline.restore(sources))
        assert self.consumer is not None
        for tp in partitions:
            tp.offset = state.offsets.get(source_of(tp.topic, tp.partition), OFFSET_BEGINNING)
            self.consumer.seek(tp)

    def _retry(self, fn: Callable[[], Any]) -> Any:
        """``fn()`` once the database answers. The loop waits here, so nothing more is consumed
        meanwhile (backpressure) and ``/readyz`` says why; stopped while waiting, it raises
        :class:`StoreUnavailable` (the work since the last checkpoint is read again)."""
        while True:
            try:
                result = fn()
            except StoreUnavailable as exc:
                if self._db_away is None:
                    log.warning("database unavailable, waiting for it: %s", exc)
                self._db_away = f"unreachable: {exc}"
                if self.stopping.wait(1.0):
                    raise
                continue
            if self._db_away is not None:
                log.info("the database answers again")
                self._db_away = None
            return result

    def _guard_lookup(self, lookup: Lookup) -> Lookup:
        """The label join's lookup of records not in memory, waiting while the database is
        away, so that a label batch is never half joined."""
        return lambda key, ids: self._retry(lambda: lookup(key, ids))

    # -- the loop ---------------------------------------------------------------------------
    def run(self, install_signals: bool = True) -> bool:
        """Consume until :meth:`stop` (or SIGINT/SIGTERM); checkpoint on the way out. True if
        that last checkpoint was written (False: the work since the one before is read again)."""
        # From here a signal no longer aborts start-up (monitor/stopping.py): it ends the loop.
        if install_signals and threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, lambda *_: self.stop())
        self.check_copartitioning()
        # State checkpointed under another window geometry would be misread: refuse it.
        check_geometry(self.store, self.job, self.config)
        # Not at the first window's close: every partition would wait for it mid-stream.
        preload()

        conf = {**consumer_defaults(self.job), **self.client_conf, **self.config.kafka.consumer}
        self.consumer = Consumer(conf)
        self.dead_letters = Producer(
            {**self.client_conf, "linger.ms": 50, "on_delivery": self._dead_letter_delivered}
        )
        try:
            self.consumer.subscribe(
                self.topics, on_assign=self._on_assign, on_revoke=self._on_revoke
            )
            with steady_collector():  # what start-up built lives as long as the loop
                while not self.stopping.is_set():
                    self._step()
            checkpointed = self._checkpoint()
        except StoreUnavailable:
            if not self.stopping.is_set():
                raise
            checkpointed = False  # stopped while waiting for the database: nothing written
        finally:
            self.consumer.close()
            self.dead_letters.flush(10)
            # Closed, not only flushed: a producer still connected when the broker goes logs
            # librdkafka's raw "%6|...|FAIL|" lines (the metrics registry keeps us alive).
            self.dead_letters.close()
            self._admin = None  # its client is destroyed with it (admin clients have no close)
        return checkpointed

    def stop(self) -> None:
        self.stopping.set()

    def check_copartitioning(self) -> None:
        """Refuse to start when a model's predictions and labels topics have different partition
        counts: its labels would land on other partitions than their predictions."""
        pairs = {
            (m.topics.predictions, m.topics.labels)
            for m in self.config.models.values()
            if m.topics.predictions and m.topics.labels
        }
        if pairs:
            admin = AdminClient(self.client_conf)
            for predictions, labels in sorted(pairs):
                check_copartitioned(admin, predictions, labels)

    def _step(self) -> None:
        assert self.consumer is not None
        messages = self.consumer.consume(num_messages=self.batch_size, timeout=0.2)
        by_partition: dict[tuple[str | None, int | None], list[Message]] = {}
        for msg in messages:
            error = msg.error()
            if error is not None:
                if error.code() != -191:  # _PARTITION_EOF is not an error
                    log.warning("consumer error: %s", error)
                continue
            by_partition.setdefault((msg.topic(), msg.partition()), []).append(msg)
        now = time.monotonic()
        for (topic, partition), msgs in by_partition.items():
            assert topic is not None and partition is not None  # on every message but errors
            self._process(topic, partition, msgs)
            self._activity[source_of(topic, partition)] = now
        self._mark_idle(now)
        self._measure_lag()
        if self.checkpointer.due() or self._paused:
            self._checkpoint()

    def _process(self, topic: str, partition: int, msgs: list[Message]) -> None:
        values = [m.value() for m in msgs]
        last = msgs[-1].offset()
        assert last is not None  # a consumed message has one
        self.metrics.consumed.labels(topic=topic).inc(len(values))
        if topic in self.label_topics:
            labels = (
                self._avro[topic].decode_events(values, self.label_decoder)
                if topic in self._avro
                else self.label_decoder.decode_values(values)
            )
            refused = self.engine.process_labels(source_of(topic, partition), labels, last + 1)
            for bad in labels.errors + refused:
                self._dead_letter(msgs[bad.position], bad)
            return
        decoded: Decoded
        if self._format(topic) == "avro":
            decoded = self._avro[topic].decode_events(values, self.decoder)
        else:
            decoded = self.decoder.decode_values(values)
        source = source_of(topic, partition)
        refused = self.engine.process(source, decoded, last + 1)
        for bad in decoded.errors + refused:
            self._dead_letter(msgs[bad.position], bad)

    def _dead_letter(self, msg: Message, bad: BadEvent) -> None:
        assert self.dead_letters is not None
        self.metrics.invalid.labels(topic=msg.topic(), reason=bad.reason).inc()
        headers: HeadersType = [
            ("monitor.reason", bad.reason.encode()),
            ("monitor.detail", bad.detail.encode()[:1000]),
            ("monitor.source.topic", str(msg.topic()).encode()),
            ("monitor.source.partition", str(msg.partition()).encode()),
            ("monitor.source.offset", str(msg.offset()).encode()),
        ]
        self._send_dead_letter(msg.value(), msg.key(), headers)
        self.metrics.dead_lettered.labels(reason=bad.reason).inc()

    def _send_dead_letter(
        self, value: bytes | None, key: bytes | None, headers: HeadersType
    ) -> None:
        assert self.dead_letters is not None
        while True:
            try:
                self.dead_letters.produce(
                    self.config.kafka.dead_letter_topic, value=value, key=key, headers=headers
                )
                break
            except BufferError:  # the local queue is full: let deliveries drain
                self.dead_letters.poll(0.1)
        self.dead_letters.poll(0)

    def _dead_letter_delivered(self, err: Any, msg: Message) -> None:
        """A dead letter that failed is sent again before the next checkpoint may pass its
        offset (the checkpoint waits for every dead letter to be delivered)."""
        if err is not None:
            log.warning("dead letter not delivered (%s); retrying", err)
            self._undelivered.append((msg.value(), msg.key(), msg.headers() or []))  # a new list

    def _mark_idle(self, now: float) -> None:
        """A partition silent for ``idle_timeout`` that has nothing left to read is idle: its
        watermark then advances by wall clock (see :mod:`monitor.pipeline.closing`)."""
        assert self.consumer is not None
        timeout = self.config.idle_timeout / 1000
        for topic, partition in self.assigned:
            source = source_of(topic, partition)
            silent = now - self._activity.get(source, now) >= timeout
            if not silent:
                self.engine.idle.pop(source, None)
                continue
            if source in self.engine.idle:
                continue
            try:
                _, high = self.consumer.get_watermark_offsets(
                    TopicPartition(topic, partition), timeout=1, cached=False
                )
            except KafkaException:
                continue
            if self.engine.offsets.get(source, 0) >= high:
                self.engine.idle[source] = int(time.time() * 1000)
                log.info(
                    "partition %s is idle: its watermark advances by wall clock",
                    source,
                    extra={"source": source, "partition": source},
                )

    def _checkpoint(self) -> bool:
        """Flush dead letters, then checkpoint; pause consumption while the database is away."""
        assert self.consumer is not None and self.dead_letters is not None
        if self.dead_letters.flush(10) > 0 or self._undelivered:
            retry, self._undelivered = self._undelivered, []
            for value, key, headers in retry:
                self._send_dead_letter(value, key, headers)
            log.warning("dead letters not yet delivered; checkpoint postponed")
            return False
        ok = self.checkpointer.commit()
        assignment = [TopicPartition(t, p) for t, p in self.assigned]
        if not ok:
            self.metrics.checkpoint_failures.inc()
            if not self._paused and assignment:
                self.consumer.pause(assignment)
                self._paused = True
            time.sleep(0.5)
            return False
        if self._paused:
            self.consumer.resume(assignment)
            self._paused = False
        offsets = [
            TopicPartition(t, p, self.engine.offsets[source_of(t, p)])
            for t, p in self.assigned
            if source_of(t, p) in self.engine.offsets
        ]
        if offsets:
            try:
                self.consumer.commit(offsets=offsets, asynchronous=True)
            except KafkaException as exc:  # only for lag tooling; our positions are in SQL
                log.debug("offset commit failed: %s", exc)
        return True

    def _after_checkpoint(self, windows: list[ClosedWindow], seconds: float) -> None:
        self.metrics.checkpoint_seconds.observe(seconds)
        windows.sort(key=lambda w: (w.end_ms, w.model_id, w.model_version))
        self.metrics.observe_windows(windows)
        # With ``on_windows`` the caller prints each window (monitor.format): then only debug.
        level = logging.DEBUG if self.on_windows else logging.INFO
        for w in windows:
            log.log(
                level,
                "window closed: %d events, %d features drifted",
                w.dataset.events,
                w.dataset.drifted,
                extra={
                    "model_id": w.model_id,
                    "model_version": w.model_version,
                    "window_start": w.start_ms,
                },
            )
        self.metrics.observe_performance(self.checkpointer.refreshed, self.engine.join)
        for model_id, count in self.checkpointer.orphans.items():
            self.metrics.orphaned_labels.labels(model_id=model_id).inc(count)
        for model_id, count in self.checkpointer.after_horizon.items():
            self.metrics.labels_after_horizon.labels(model_id=model_id).inc(count)
        if self.on_windows and windows:
            self.on_windows(windows)
