"""Topic creation, the co-partitioning check and the client config."""

from __future__ import annotations

import pytest

from monitor.config import parse_config
from monitor.exceptions import KafkaError
from monitor.kafka.topics import check_copartitioned, client_config, create_topics


def _config(topic_name, partitions=3, **kafka):
    p, f, lab, dlq = (topic_name(x) for x in ("pred", "feat", "lab", "dlq"))
    cfg = parse_config(
        {
            "kafka": {"partitions": partitions, "dead_letter_topic": dlq, **kafka},
            "models": {
                "a": {
                    "features": {"x": {"kind": "numeric"}},
                    "topics": {"predictions": p, "labels": lab},
                },
                "b": {
                    "features": {"x": {"kind": "numeric"}},
                    "topics": {"predictions": p, "features": f, "labels": None},
                },
            },
        }
    )
    return cfg, [p, lab, f, dlq]


def test_create_topics_is_idempotent(bootstrap, admin, topic_name):
    cfg, expected = _config(topic_name, partitions=3)
    assert create_topics({"bootstrap.servers": bootstrap}, cfg) == expected
    assert create_topics({"bootstrap.servers": bootstrap}, cfg) == expected  # already exists: fine
    topics = admin.list_topics(timeout=5).topics
    assert {name: len(topics[name].partitions) for name in expected} == dict.fromkeys(expected, 3)


def test_create_topics_names_the_topic_on_failure(topic_name):
    cfg, expected = _config(topic_name)
    with pytest.raises(KafkaError, match=f"cannot create topic.*{expected[0]}"):
        create_topics({"bootstrap.servers": "127.0.0.1:1", "log_level": 0}, cfg, timeout=1.0)


def test_check_copartitioned(admin, topic_factory, topic_name):
    predictions, labels, other = topic_factory(4), topic_factory(4), topic_factory(3)
    assert check_copartitioned(admin, predictions, labels) == 4
    with pytest.raises(
        KafkaError,
        match=rf"predictions topic '{predictions}' has 4 partitions but "
        rf"labels topic '{other}' has 3",
    ):
        check_copartitioned(admin, predictions, other)
    missing = topic_name("missing")
    with pytest.raises(KafkaError, match=f"topic '{missing}' does not exist"):
        check_copartitioned(admin, predictions, missing)
    assert missing not in admin.list_topics(timeout=5).topics  # the check did not create it


def test_client_config_passes_security_settings_through(topic_name):
    client = {
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "PLAIN",
        "ssl.ca.location": "/ca.pem",
        "linger.ms": 5,
    }
    cfg, _ = _config(topic_name, bootstrap_servers="k1:9092,k2:9092", client=client)
    conf = client_config(cfg, **{"group.id": "monitor", "linger.ms": 50})
    assert conf == {
        "bootstrap.servers": "k1:9092,k2:9092",
        **client,
        "group.id": "monitor",
        "linger.ms": 50,
    }
    assert next(iter(conf)) == "bootstrap.servers"


def test_client_config_needs_bootstrap_servers(topic_name):
    cfg, _ = _config(topic_name)
    with pytest.raises(KafkaError, match="kafka.bootstrap_servers is not set"):
        client_config(cfg)
    assert client_config(cfg, **{"bootstrap.servers": "127.0.0.1:1"}) == {
        "bootstrap.servers": "127.0.0.1:1"
    }
