"""Ids at their limits are stored everywhere they go, segments and alerts included (SQLite and
PostgreSQL): a 200-character version with a monitored segment used to overflow the panes' key
(VARCHAR(200) holding version + segment) and have its checkpoint quarantined."""

from __future__ import annotations

import json
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config as AlembicConfig

from monitor.config import parse_config
from monitor.limits import MAX_ID_CHARS, MAX_SEGMENT_VALUE_CHARS
from monitor.pipeline.files import replay
from monitor.reference import ReferenceProfile
from monitor.store import Store, schema
from monitor.synth import generate, to_jsonl
from tests.helpers import rows_of, small_spec

SPEC = small_spec()
VERSION = "v" * MAX_ID_CHARS
REGION = "r" * MAX_SEGMENT_VALUE_CHARS


def test_a_longest_version_with_a_longest_segment_is_stored(db_url: str, tmp_path: Path) -> None:
    model = {
        "window": "1m",
        "reference": {"baseline_events": 0, "fine_bins": 200},
        "features": {f.name: {"kind": f.kind} for f in SPEC.features},
        "segments": {"keys": ["region"], "top_k": 1, "min_reference_rows": 10},
        "rules": [{"name": "drift", "kind": "feature_drift", "warning": 0.0, "segments": True}],
    }
    cfg = parse_config({"checkpoint_interval": 0, "models": {SPEC.model_id: model}})
    store = Store(db_url)
    store.upgrade()
    rows = rows_of(generate(SPEC, 2_000))
    rows["region"] = [REGION] * 2_000
    store.save_reference(
        ReferenceProfile.for_model(SPEC.model_id, "*", cfg.models[SPEC.model_id], rows)
    )
    events = [json.loads(line) for line in to_jsonl(SPEC, generate(SPEC, 1_800)).splitlines()]
    for e in events:
        e.update(model_version=VERSION, segments={"region": REGION})
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    report = replay(cfg, store, [path])
    assert report.events == 1_800 and not report.invalid
    segments = {r["segment"] for r in store.windows(SPEC.model_id, segment=None)}
    assert segments == {"", f"region={REGION}"}
    with store.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM quarantine")).scalar() == 0
        subjects = {r[0] for r in conn.execute(sa.text("SELECT subject FROM alerts"))}
    assert any(s.startswith(f"region={REGION}/") for s in subjects)  # a segment rule's subject
    store.engine.dispose()


def test_the_widening_migration_goes_down_and_up(db_url: str) -> None:
    store = Store(db_url)
    store.upgrade()
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(Path(schema.__file__).with_name("migrations")))
    with store.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0008")
    with store.engine.connect() as conn:
        width = next(
            c["type"].length
            for c in sa.inspect(conn).get_columns("panes")
            if c["name"] == "model_version"
        )
    assert width == 200
    store.upgrade()
    with store.engine.connect() as conn:
        width = next(
            c["type"].length
            for c in sa.inspect(conn).get_columns("panes")
            if c["name"] == "model_version"
        )
    assert width == 601
    store.engine.dispose()


def test_a_reference_value_no_event_may_carry_is_not_a_segment() -> None:
    from monitor.segments import top_values

    assert top_values(
        ["x" * (MAX_SEGMENT_VALUE_CHARS + 1)] * 50 + ["eu"] * 20, top_k=5, min_rows=10
    ) == ("eu",)


def test_a_segment_key_longer_than_an_event_may_carry_is_a_config_error() -> None:
    import pytest

    from monitor.exceptions import ConfigError

    with pytest.raises(ConfigError) as err:
        parse_config(
            {
                "models": {
                    "m": {"features": {"x": {"kind": "numeric"}}, "segments": {"keys": ["k" * 101]}}
                }
            }
        )
    assert err.value.key == "models.m.segments.keys.0"
