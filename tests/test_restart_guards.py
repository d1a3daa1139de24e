"""A restart cannot silently misread its checkpoint: other window settings, other replay input.

Seen before: ``window`` changed from 1m to 5m between restarts left the frontier in the old pane
units, and no window closed again; ``replay --resume`` given another file skipped as many events as
the first run had read ("0 events", exit 0). Both are refused now, on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from monitor.config import Config
from monitor.exceptions import ConfigError, MonitorError
from monitor.metrics import Metrics
from monitor.pipeline.files import JOB, SOURCE, replay
from monitor.pipeline.kafka import KafkaService
from monitor.store import Store
from monitor.store.settings import reset_model
from monitor.synth import generate, to_jsonl
from tests.test_replay import CFG, SPEC, Crash, config, crash_on, new_store

N = 12_000  # four minutes of the seeded stream: two 2-minute windows


@pytest.fixture(autouse=True)
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        "monitor.pipeline.files._BLOCK", 200_000
    )  # several blocks, so a crash can interrupt


@pytest.fixture
def db(db_url: str) -> Iterator[Store]:
    store = new_store(db_url)
    yield store
    store.engine.dispose()


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    data = to_jsonl(SPEC, generate(SPEC, N))
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    a.write_bytes(data)
    b.write_bytes(data.replace(b'"v1"', b'"v2"'))  # same size, other content
    return a, b


def interrupted(store: Store, paths: list[Path], cfg=CFG) -> int:
    with pytest.raises(Crash):
        replay(cfg, store, paths, progress=crash_on(2))
    done = store.load_state(JOB).offsets[SOURCE]
    assert 0 < done < N * len(paths)
    return done


def test_resume_with_another_file_is_refused(db: Store, files: tuple[Path, Path]) -> None:
    a, b = files
    interrupted(db, [a])
    with pytest.raises(MonitorError, match=r"--resume was given other input .*b\.jsonl"):
        replay(CFG, db, [b], resume=True)
    assert replay(CFG, db, [a], resume=True).events > 0  # the refusal changed nothing


def test_resume_with_the_same_files_in_another_order_is_refused(
    db: Store, files: tuple[Path, Path]
) -> None:
    a, b = files
    interrupted(db, [a, b])
    with pytest.raises(MonitorError, match="other input"):
        replay(CFG, db, [b, a], resume=True)


def test_resume_with_a_file_changed_in_place_is_refused(
    db: Store, files: tuple[Path, Path]
) -> None:
    a, b = files
    interrupted(db, [a])
    a.write_bytes(b.read_bytes())  # same path, same size, other bytes
    with pytest.raises(MonitorError, match="changed since"):
        replay(CFG, db, [a], resume=True)


def test_resume_without_an_interrupted_replay_is_refused(
    db: Store, files: tuple[Path, Path]
) -> None:
    with pytest.raises(MonitorError, match="nothing to resume"):
        replay(CFG, db, [files[0]], resume=True)


def test_a_changed_window_is_refused_naming_the_key_and_the_reset(
    db: Store, files: tuple[Path, Path]
) -> None:
    a, _ = files
    interrupted(db, [a])
    wider = config(window="4m")
    with pytest.raises(ConfigError) as err:
        replay(wider, db, [a], resume=True)
    assert err.value.key == "models.fraud.window"
    assert "changed from 120000 to 240000 ms" in str(err.value)
    assert "monitor state reset" in str(err.value) and "--model fraud" in str(err.value)
    # The reset drops the model's open windows and its recorded settings: the resume proceeds
    # under the new window, from the checkpointed position, and closes windows again.
    reset_model(db, JOB, "fraud")
    report = replay(wider, db, [a], resume=True)
    assert report.events > 0 and report.windows
    assert {w.end_ms - w.start_ms for w in report.windows} == {240_000}


def test_a_changed_feature_kind_is_refused(db: Store, files: tuple[Path, Path]) -> None:
    interrupted(db, [files[0]])
    features = {"num_00": "numeric", "num_01": "numeric", "num_02": "numeric", "color": "numeric"}
    changed = config(features={n: {"kind": k} for n, k in features.items()})
    with pytest.raises(ConfigError) as err:
        replay(changed, db, [files[0]], resume=True)
    assert err.value.key == "models.fraud.features"


def test_a_fresh_replay_records_new_settings(db: Store, files: tuple[Path, Path]) -> None:
    interrupted(db, [files[0]])
    assert replay(config(window="4m"), db, [files[0]]).events == N  # no --resume: starts over


def test_monitor_run_refuses_a_changed_window(db: Store) -> None:
    def start(cfg: Config) -> None:
        # The check comes before any connection to Kafka: a dead address is never contacted.
        service = KafkaService(
            cfg, db, bootstrap_servers="127.0.0.1:9", metrics=Metrics(CollectorRegistry())
        )
        service.stop()  # a first start (recording the settings) stops before its first poll
        service.run(install_signals=False)

    start(CFG)
    start(CFG)
    with pytest.raises(ConfigError) as err:
        start(config(window="4m"))
    assert err.value.key == "models.fraud.window"
    assert "--job monitor" in str(err.value)
