"""A database outage while labels arrive: the label join waits for the database, nothing crashes.

Seen before: the join looks up records it no longer holds in memory in SQL; with the database
away that lookup raised out of the consume loop and ``monitor run`` died. Now the loop waits for
the database (backpressure, ``/readyz`` says why) and the performance windows equal a replay's.
"""

from __future__ import annotations

import pytest

from monitor.config import load_config
from monitor.kafka.topics import client_config, create_topics
from monitor.store import Store
from monitor.synth import generate, labels_to_jsonl, to_jsonl
from tests.kafka.kit import (
    ThreadedService,
    expected_performance,
    performance_of,
    prepare_store,
    produce,
    stream,
    wait_for,
    write_config,
)
from tests.kafka.test_faults import _Proxy

pytestmark = pytest.mark.slow
N = 20_000


def test_labels_during_a_database_outage_wait_for_it(
    tmp_path, bootstrap, topic_factory, group_id, pg_url
) -> None:
    proxy = _Proxy()
    proxied = pg_url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")
    predictions, labels = topic_factory(2), topic_factory(2)
    # At most 1,000 join records in memory: most labels find their prediction in SQL.
    path = write_config(
        tmp_path / "monitor.yaml",
        db_url=proxied,
        bootstrap=bootstrap,
        topic=predictions,
        group=group_id,
        partitions=2,
        labels_topic=labels,
        labels={"max_pending": 1000},
    )
    cfg = load_config(path)
    create_topics(client_config(cfg), cfg)
    spec, _ = stream(1)
    cols = generate(spec, N)
    events, label_lines = to_jsonl(spec, cols), labels_to_jsonl(spec, cols)
    expected = expected_performance(tmp_path, cfg, spec, events, label_lines)
    direct = prepare_store(cfg.model_copy(update={"database_url": pg_url}), spec)
    produce(bootstrap, predictions, events)
    with ThreadedService(cfg, Store(proxied)) as service:
        # every prediction checkpointed (and evicted from memory down to the cap)
        wait_for(
            lambda: sum(direct.load_state(cfg.kafka.group_id).offsets.values()) >= N,
            120,
            "the predictions",
        )
        proxy.cut()
        produce(bootstrap, labels, label_lines)
        wait_for(
            lambda: "database" in service.readiness()[1],
            60,
            "the service to say the database is away",
        )
        proxy.restore()
        wait_for(
            lambda: sum(v[1] for v in performance_of(direct).values()) == N,
            180,
            "every label to be joined",
        )
        assert service.ready or "database" not in service.readiness()[1]
    assert performance_of(direct) == expected
