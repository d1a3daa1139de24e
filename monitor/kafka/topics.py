"""Topics and client configuration: what ``monitor`` needs from the cluster before it consumes.

Predictions and labels are keyed by prediction id and must be co-partitioned (the same number of
partitions, written with the same partitioner) so that a label lands on the partition number of
its prediction and the join stays inside one consumer (DESIGN.md section 8).

>>> from monitor.config import parse_config
>>> cfg = parse_config({"kafka": {"bootstrap_servers": "kafka:9092",
...                               "client": {"security.protocol": "SASL_SSL"}},
...                     "models": {"m": {"features": {"x": {"kind": "numeric"}}}}})
>>> client_config(cfg, **{"group.id": "monitor"})
{'bootstrap.servers': 'kafka:9092', 'security.protocol': 'SASL_SSL', 'group.id': 'monitor'}
>>> topic_names(cfg)
['predictions', 'monitor.dead-letters']
"""

from __future__ import annotations

import concurrent.futures
import logging
from typing import Any

from confluent_kafka import KafkaError as _RdKafkaError
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from monitor.config import Config
from monitor.exceptions import KafkaError

__all__ = ["check_copartitioned", "client_config", "create_topics", "topic_names"]

logger = logging.getLogger(__name__)


def client_config(config: Config, **overrides: Any) -> dict[str, Any]:
    """The librdkafka configuration: ``bootstrap.servers``, then ``kafka.client`` unchanged
    (``security.protocol``, ``sasl.*``, ``ssl.*`` ...), then ``overrides``.

    librdkafka keys contain dots, so pass overrides as ``**{"group.id": "g"}``. Without
    ``kafka.bootstrap_servers`` (the embedded broker), pass ``**{"bootstrap.servers": ...}``.
    """
    conf: dict[str, Any] = {}
    if config.kafka.bootstrap_servers is not None:
        conf["bootstrap.servers"] = config.kafka.bootstrap_servers
    conf.update(config.kafka.client)
    conf.update(overrides)
    if not conf.get("bootstrap.servers"):
        raise KafkaError(
            "kafka.bootstrap_servers is not set: pass bootstrap.servers (e.g. the embedded "
            "broker's)"
        )
    return conf


def topic_names(config: Config) -> list[str]:
    """Every topic the configured models read (predictions, features, labels where set) and the
    dead-letter topic, each once, in config order."""
    names: dict[str, None] = {}
    for model in config.models.values():
        for name in (model.topics.predictions, model.topics.features, model.topics.labels):
            if name is not None:
                names[name] = None
    names[config.kafka.dead_letter_topic] = None
    return list(names)


def create_topics(
    admin_conf: dict[str, Any], config: Config, *, timeout: float = 30.0
) -> list[str]:
    """Create every configured topic with ``kafka.partitions`` partitions; return their names.

    Idempotent: a topic that already exists is left as it is (a warning is logged when its
    partition count differs from the config). The replication factor is the broker's default.
    Raises :class:`KafkaError` naming each topic that could not be created.
    """
    names = topic_names(config)
    partitions = config.kafka.partitions
    admin = AdminClient(admin_conf)
    # replication_factor=-1: the broker's default.replication.factor (Kafka >= 2.4, and Tansu).
    new = [NewTopic(name, num_partitions=partitions, replication_factor=-1) for name in names]
    try:
        futures = admin.create_topics(new, operation_timeout=timeout, request_timeout=timeout)
    except KafkaException as exc:
        raise KafkaError(f"cannot create topics {names}: {exc.args[0].str()}") from exc
    failures: list[str] = []
    cause: BaseException | None = None
    for name, future in futures.items():
        try:
            future.result(timeout=timeout + 5)  # librdkafka's own timeout answers first
        except KafkaException as exc:
            err = exc.args[0]
            if err.code() == _RdKafkaError.TOPIC_ALREADY_EXISTS:
                continue
            failures.append(f"{name!r}: {err.str()}")
            cause = exc
        except concurrent.futures.TimeoutError as exc:
            failures.append(f"{name!r}: no answer within {timeout + 5}s")
            cause = exc
    if failures:
        raise KafkaError("cannot create topic " + "; ".join(failures)) from cause
    _warn_partition_mismatch(admin, names, partitions, timeout)
    return names


def check_copartitioned(
    admin: AdminClient, predictions_topic: str, labels_topic: str, *, timeout: float = 10.0
) -> int:
    """Check that the two topics exist with the same partition count; return that count.

    Raises :class:`KafkaError` when a topic is missing or the counts differ: a label would then
    land on another partition number than its prediction and never meet it.
    """
    counts = _partition_counts(admin, timeout)
    for name in (predictions_topic, labels_topic):
        if name not in counts:
            raise KafkaError(
                f"topic {name!r} does not exist; create it (monitor creates its topics on start)"
            )
    p, lab = counts[predictions_topic], counts[labels_topic]
    if p != lab:
        raise KafkaError(
            f"predictions topic {predictions_topic!r} has {p} partitions but labels topic "
            f"{labels_topic!r} has {lab}: they must be co-partitioned (same partition count, both "
            f"keyed by prediction id, same partitioner) so each label meets its prediction; "
            f"recreate {labels_topic!r} with {p} partitions or repartition both"
        )
    return p


def _partition_counts(admin: AdminClient, timeout: float) -> dict[str, int]:
    # The full metadata, never list_topics(topic=...): for a producer-type handle (an
    # AdminClient is one) a metadata request naming a topic may auto-create it (Tansu does).
    try:
        metadata = admin.list_topics(timeout=timeout)
    except KafkaException as exc:
        raise KafkaError(f"cannot read the cluster metadata: {exc.args[0].str()}") from exc
    return {name: len(t.partitions) for name, t in metadata.topics.items() if t.error is None}


def _warn_partition_mismatch(
    admin: AdminClient, names: list[str], partitions: int, timeout: float
) -> None:
    try:
        counts = _partition_counts(admin, timeout)
    except KafkaError as exc:  # the topics exist; the check is advisory
        logger.warning("cannot check partition counts: %s", exc)
        return
    for name in names:
        if name in counts and counts[name] != partitions:
            logger.warning(
                "topic %r has %d partitions; kafka.partitions is %d", name, counts[name], partitions
            )
