"""The SQL store on SQLite and PostgreSQL: migrations, references, checkpoints, queries.

Every test runs against a fresh real database of each dialect (the ``store`` fixture); nothing is
mocked. Checkpoints are built by hand from small :class:`EngineState` values so each write of
:meth:`Store.checkpoint` can be checked on its own.
"""

from __future__ import annotations

import os
import socket
from collections import Counter
from pathlib import Path

import msgspec
import numpy as np
import pytest
from alembic.autogenerate import compare_metadata
from alembic.config import Config as AlembicConfig
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, select, text

from monitor.config import parse_config
from monitor.drift import ColumnResult, DatasetResult
from monitor.engine import ClosedWindow, EngineState
from monitor.exceptions import StoreError
from monitor.layout import Layout
from monitor.reference import ReferenceProfile
from monitor.store import Store, schema
from tests.helpers import checkpoint

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
MINUTE = 60_000

MODEL_CFG = parse_config(
    {
        "models": {
            "fraud": {
                "features": {"amount": {"kind": "numeric"}, "country": {"kind": "categorical"}}
            }
        }
    }
).models["fraud"]
LAYOUT = Layout.from_model(MODEL_CFG)


# -- builders -------------------------------------------------------------------------------------
def profile(
    model_version: str = "v1", seed: int = 0, rows: int = 500, model_id: str = "fraud"
) -> ReferenceProfile:
    rng = np.random.default_rng(seed)
    data = {
        "amount": rng.lognormal(3.0, 1.0, rows),
        "country": rng.choice(["de", "fr", "us"], rows).tolist(),
        "score": rng.random(rows),
        "prediction": rng.integers(0, 2, rows).tolist(),
    }
    return ReferenceProfile.build(
        model_id, model_version, LAYOUT, data, fine_bins=50, source=f"seed-{seed}.csv"
    )


def column(feature: str = "amount", psi: float = 0.01, **overrides) -> ColumnResult:
    values = {
        "feature": feature,
        "kind": "numeric",
        "count": 100,
        "missing": 2,
        "statistics": {"psi": psi, "ks": 0.05, "ks_pvalue": 0.4, "js": 0.02, "wasserstein": 0.03},
        "quality": {
            "missing_rate": 0.02,
            "missing_rate_change": 0.0,
            "out_of_range": 0.0,
            "severity": "ok",
        },
        "drift": False,
        "severity": "ok",
        "previous": None,
    }
    values.update(overrides)
    return ColumnResult(**values)


def dataset(**overrides) -> DatasetResult:
    values = {
        "events": 100,
        "predictions": 98,
        "features": 2,
        "drifted": 0,
        "drifted_share": 0.0,
        "drifted_features": (),
        "prediction_drift": False,
        "severity": "ok",
    }
    values.update(overrides)
    return DatasetResult(**values)


def window(
    start_ms: int = T0, *, version: str = "v1", columns: list[ColumnResult] | None = None, **ds
) -> ClosedWindow:
    cols = (
        columns
        if columns is not None
        else [
            column("amount"),
            column(
                "country",
                kind="categorical",
                statistics={"psi": 0.0, "chi2": 1.0, "chi2_pvalue": 0.6, "js": 0.01},
            ),
        ]
    )
    return ClosedWindow("fraud", version, start_ms, start_ms + 5 * MINUTE, 1, cols, dataset(**ds))


def full_state() -> EngineState:
    return EngineState(
        panes={
            ("p0", "fraud", "v1", 10): b"sketch-10",
            ("p0", "fraud", "v1", 11): b"\x00\xffsketch-11",
            ("#previous", "fraud", "v1", 0): b"prev",
        },
        windows=[window(T0), window(T0 + 5 * MINUTE)],
        late=Counter({("fraud", "v1", T0): 3}),
        offsets={"p0": 1200, "p1": 40},
        watermarks={"p0": T0 + 10 * MINUTE, "p1": T0 + 9 * MINUTE},
        frontiers={"fraud": 11},
    )


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def table_rows(store: Store, table) -> list[dict]:
    with store.engine.connect() as conn:
        return [dict(r) for r in conn.execute(select(table)).mappings()]


# -- schema ---------------------------------------------------------------------------------------
def test_upgrade_creates_every_table_at_the_alembic_head(store: Store):
    tables = set(inspect(store.engine).get_table_names())
    assert set(schema.metadata.tables) | {"alembic_version"} <= tables
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(Path(schema.__file__).with_name("migrations")))
    head = ScriptDirectory.from_config(cfg).get_current_head()
    with store.engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() == head


def test_upgrade_twice_is_a_no_op_and_keeps_data(store: Store):
    store.save_reference(profile())
    checkpoint(store, "job", full_state())
    store.upgrade()
    store.upgrade("head")
    assert [r["version"] for r in store.list_references()] == [1]
    assert len(store.windows("fraud")) == 4


def test_segment_migration_keeps_existing_windows_as_the_whole_version(db_url: str):
    """0006 adds ``segment`` to the windows' keys: rows written before it become the whole
    version's, and windows of segments then sit next to them; the downgrade drops those."""
    from alembic import command

    store = Store(db_url)
    store.upgrade("0005")
    old = (
        "INSERT INTO {t} (model_id, model_version, window_start, window_end, {cols}) VALUES "
        "('m', '1', 0, 10, {vals})"
    )
    with store.engine.begin() as conn:
        conn.execute(
            text(
                old.format(
                    t="windows",
                    cols=(
                        "feature, kind, count, missing, statistics, quality, drift, severity, "
                        "baseline, reference_version"
                    ),
                    vals="'x', 'numeric', 5, 0, '{}', '{}', false, 'ok', false, 1",
                )
            )
        )
        conn.execute(
            text(
                old.format(
                    t="window_summaries",
                    cols=(
                        "events, predictions, features, drifted, drifted_share, "
                        "drifted_features, prediction_drift, severity, baseline, "
                        "reference_version"
                    ),
                    vals="5, 0, 1, 0, 0.0, '[]', false, 'ok', false, 1",
                )
            )
        )
    store.upgrade()
    assert [(r["segment"], r["feature"]) for r in store.windows("m")] == [("", "x")]
    assert [r["segment"] for r in store.summaries("m")] == [""]
    with store.engine.begin() as conn:
        conn.execute(
            text(
                old.format(
                    t="windows",
                    cols=(
                        "segment, feature, kind, count, missing, statistics, quality, drift, "
                        "severity, baseline, reference_version"
                    ),
                    vals=(
                        "'region=eu', 'x', 'numeric', 3, 0, '{}', '{}', true, 'critical', false, 1"
                    ),
                )
            )
        )
    assert [r["segment"] for r in store.windows("m", segment=None)] == ["", "region=eu"]
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(Path(schema.__file__).with_name("migrations")))
    with store.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0005")
    with store.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM windows")).scalar() == 1
        assert "segment" not in {c["name"] for c in inspect(conn).get_columns("windows")}
    store.engine.dispose()


def test_migrations_match_the_schema_metadata(store: Store):
    """Autogenerate against the migrated database finds nothing to do."""
    with store.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(ctx, schema.metadata) == []


def test_store_docstring_in_memory_sqlite():
    s = Store("sqlite://")
    s.upgrade()
    s.upgrade()
    assert s.windows("m") == [] and s.ping()


# -- references -----------------------------------------------------------------------------------
def test_save_reference_numbers_versions_per_model_version(store: Store):
    assert [store.save_reference(profile("v1", seed=i)).version for i in range(3)] == [1, 2, 3]
    assert store.save_reference(profile("v2")).version == 1
    assert store.save_reference(profile("v1", model_id="other")).version == 1
    assert store.save_reference(profile("v1", seed=9)).version == 4
    listed = [(r["model_id"], r["model_version"], r["version"]) for r in store.list_references()]
    assert listed == [
        ("fraud", "v1", 1),
        ("fraud", "v1", 2),
        ("fraud", "v1", 3),
        ("fraud", "v1", 4),
        ("fraud", "v2", 1),
        ("other", "v1", 1),
    ]
    assert [r["version"] for r in store.list_references("other")] == [1]
    first = store.list_references("fraud")[0]
    assert (
        first["rows"] == 500 and first["source"] == "seed-0.csv" and first["created_at"] is not None
    )


def test_save_reference_returns_the_numbered_profile_unchanged(store: Store):
    original = profile()
    saved = store.save_reference(original)
    assert saved.version == 1 and original.version == 0
    assert saved.to_payload() == original.to_payload()
    assert (saved.model_id, saved.model_version, saved.rows, saved.source) == (
        "fraud",
        "v1",
        500,
        "seed-0.csv",
    )


def test_get_reference_latest_or_given_version(store: Store):
    profiles = [profile("v1", seed=i) for i in range(3)]
    for p in profiles:
        store.save_reference(p)
    latest = store.get_reference("fraud", "v1")
    assert latest.version == 3 and latest.source == "seed-2.csv"
    assert latest.to_payload() == profiles[2].to_payload()
    second = store.get_reference("fraud", "v1", version=2)
    assert second.version == 2 and second.to_payload() == profiles[1].to_payload()
    assert second.model_id == "fraud" and second.model_version == "v1" and second.rows == 500


def test_get_reference_falls_back_to_the_star_version(store: Store):
    assert store.get_reference("fraud", "v1") is None
    store.save_reference(profile("*", seed=1))
    store.save_reference(profile("*", seed=2))
    fallback = store.get_reference("fraud", "v7")
    assert (fallback.model_version, fallback.version, fallback.source) == ("*", 2, "seed-2.csv")
    assert store.get_reference("fraud", "v7", version=1).source == "seed-1.csv"
    store.save_reference(profile("v7", seed=3))
    own = store.get_reference("fraud", "v7")
    assert (own.model_version, own.version, own.source) == ("v7", 1, "seed-3.csv")
    assert store.get_reference("other", "v7") is None
    assert store.get_reference("fraud", "v7", version=99) is None


def test_stored_profile_keeps_bins_and_vocabulary(store: Store):
    original = profile()
    store.save_reference(original)
    loaded = store.get_reference("fraud", "v1")
    for name, p in original.columns.items():
        q = loaded.columns[name]
        assert q.kind == p.kind
        if p.kind == "numeric":
            np.testing.assert_array_equal(q.bin_edges, p.bin_edges)
            assert q.scale == p.scale and q.missing == p.missing
        else:
            assert q.vocab == p.vocab
            np.testing.assert_array_equal(q.counts, p.counts)


# -- checkpoint -----------------------------------------------------------------------------------
def test_checkpoint_writes_everything_and_load_state_reads_it_back(store: Store):
    checkpoint(store, "job", full_state())
    state = store.load_state("job")
    assert state.panes == full_state().panes
    assert state.offsets == {"p0": 1200, "p1": 40}
    assert state.watermarks == {"p0": T0 + 10 * MINUTE, "p1": T0 + 9 * MINUTE}
    assert state.frontiers == {"fraud": 11}
    assert store.late_counts("fraud") == {("v1", T0): 3}
    rows = store.windows("fraud")
    assert [(r["window_start"], r["feature"]) for r in rows] == [
        (T0, "amount"),
        (T0, "country"),
        (T0 + 5 * MINUTE, "amount"),
        (T0 + 5 * MINUTE, "country"),
    ]
    amount = rows[0]
    assert amount["window_end"] == T0 + 5 * MINUTE and amount["kind"] == "numeric"
    assert (amount["count"], amount["missing"], amount["drift"], amount["severity"]) == (
        100,
        2,
        False,
        "ok",
    )
    assert amount["statistics"] == {
        "psi": 0.01,
        "ks": 0.05,
        "ks_pvalue": 0.4,
        "js": 0.02,
        "wasserstein": 0.03,
    }
    assert amount["quality"]["missing_rate"] == 0.02 and amount["previous"] is None
    assert amount["baseline"] is False and amount["reference_version"] == 1
    summaries = store.summaries("fraud")
    assert [s["window_start"] for s in summaries] == [T0, T0 + 5 * MINUTE]
    assert (
        summaries[0]["events"] == 100
        and summaries[0]["predictions"] == 98
        and summaries[0]["drifted_features"] == []
    )


def test_load_state_is_per_job_and_filters_sources(store: Store):
    checkpoint(store, "job", full_state())
    checkpoint(
        store,
        "other",
        EngineState(
            panes={("p0", "fraud", "v1", 1): b"x"}, offsets={"p0": 7}, frontiers={"fraud": 0}
        ),
    )
    only_p1 = store.load_state("job", sources=["p1"])
    assert set(only_p1.panes) == {
        ("#previous", "fraud", "v1", 0)
    }  # pseudo-sources always come back
    assert only_p1.offsets == {"p1": 40} and only_p1.watermarks == {"p1": T0 + 9 * MINUTE}
    other = store.load_state("other")
    assert (
        other.panes == {("p0", "fraud", "v1", 1): b"x"}
        and other.offsets == {"p0": 7}
        and other.watermarks == {}
    )
    empty = store.load_state("nobody")
    assert (empty.panes, empty.offsets, empty.watermarks, empty.frontiers) == ({}, {}, {}, {})


def test_the_same_checkpoint_twice_does_not_double_count_windows(store: Store):
    state = full_state()
    state.late = Counter()
    checkpoint(store, "job", state)
    before = (store.windows("fraud"), store.summaries("fraud"), store.load_state("job").panes)
    checkpoint(store, "job", state)
    assert (
        store.windows("fraud"),
        store.summaries("fraud"),
        store.load_state("job").panes,
    ) == before
    assert len(table_rows(store, schema.windows)) == 4
    assert len(table_rows(store, schema.window_summaries)) == 2


def test_a_window_rewritten_takes_the_new_values(store: Store):
    checkpoint(store, "job", EngineState(windows=[window(columns=[column(psi=0.01)])]))
    checkpoint(
        store,
        "job",
        EngineState(
            windows=[
                window(
                    columns=[column(psi=0.5, drift=True, severity="critical")],
                    drifted=1,
                    drifted_share=0.5,
                    drifted_features=("amount",),
                    severity="critical",
                )
            ]
        ),
    )
    (row,) = store.windows("fraud")
    assert (
        row["statistics"]["psi"] == 0.5 and row["drift"] is True and row["severity"] == "critical"
    )
    (summary,) = store.summaries("fraud")
    assert summary["drifted_features"] == ["amount"] and summary["drifted_share"] == 0.5


def test_distinct_late_deltas_add_up(store: Store):
    checkpoint(
        store, "job", EngineState(late=Counter({("fraud", "v1", T0): 3, ("fraud", "v2", T0): 1}))
    )
    checkpoint(
        store,
        "job",
        EngineState(late=Counter({("fraud", "v1", T0): 4, ("fraud", "v1", T0 + MINUTE): 2})),
    )
    assert store.late_counts("fraud") == {("v1", T0): 7, ("v2", T0): 1, ("v1", T0 + MINUTE): 2}
    assert store.late_counts("other") == {}


def test_positions_and_frontiers_are_overwritten_not_added(store: Store):
    checkpoint(
        store, "job", EngineState(offsets={"p0": 10}, watermarks={"p0": T0}, frontiers={"fraud": 3})
    )
    checkpoint(
        store,
        "job",
        EngineState(offsets={"p0": 25}, watermarks={"p0": T0 + MINUTE}, frontiers={"fraud": 4}),
    )
    state = store.load_state("job")
    assert (
        state.offsets == {"p0": 25}
        and state.watermarks == {"p0": T0 + MINUTE}
        and state.frontiers == {"fraud": 4}
    )


def test_a_source_with_a_watermark_but_no_offset(store: Store):
    checkpoint(store, "job", EngineState(watermarks={"p3": T0}))
    state = store.load_state("job")
    assert state.offsets == {} and state.watermarks == {"p3": T0}


def test_deleting_panes(store: Store):
    checkpoint(store, "job", full_state())
    checkpoint(store, "other", EngineState(panes={("p0", "fraud", "v1", 10): b"theirs"}))
    checkpoint(
        store, "job", EngineState(deleted={("p0", "fraud", "v1", 10), ("p9", "fraud", "v1", 1)})
    )
    assert set(store.load_state("job").panes) == {
        ("p0", "fraud", "v1", 11),
        ("#previous", "fraud", "v1", 0),
    }
    assert store.load_state("other").panes == {("p0", "fraud", "v1", 10): b"theirs"}


def test_deleting_more_panes_than_one_statement_holds(store: Store):
    panes = {("p0", "fraud", "v1", p): b"s%d" % p for p in range(1234)}
    checkpoint(store, "job", EngineState(panes=panes))
    checkpoint(store, "job", EngineState(deleted=set(list(panes)[:1200])))
    assert set(store.load_state("job").panes) == set(list(panes)[1200:])


def test_a_pane_updated_and_another_deleted_in_one_checkpoint(store: Store):
    checkpoint(
        store,
        "job",
        EngineState(panes={("p0", "fraud", "v1", 1): b"a", ("p0", "fraud", "v1", 2): b"b"}),
    )
    checkpoint(
        store,
        "job",
        EngineState(
            panes={("p0", "fraud", "v1", 2): b"b2", ("p0", "fraud", "v1", 3): b"c"},
            deleted={("p0", "fraud", "v1", 1)},
        ),
    )
    assert store.load_state("job").panes == {
        ("p0", "fraud", "v1", 2): b"b2",
        ("p0", "fraud", "v1", 3): b"c",
    }


def test_nan_and_infinity_in_statistics_are_stored_as_null(store: Store):
    nan, inf = float("nan"), float("inf")
    col = column(
        statistics={"psi": nan, "ks": inf, "ks_pvalue": -inf, "js": 0.5, "wasserstein": None},
        quality={"missing_rate": nan, "nested": {"x": [1.0, nan]}, "severity": "ok"},
        previous={"psi": nan, "js": 0.25},
    )
    checkpoint(store, "job", EngineState(windows=[window(columns=[col])]))
    (row,) = store.windows("fraud")
    assert row["statistics"] == {
        "psi": None,
        "ks": None,
        "ks_pvalue": None,
        "js": 0.5,
        "wasserstein": None,
    }
    assert row["quality"] == {"missing_rate": None, "nested": {"x": [1.0, None]}, "severity": "ok"}
    assert row["previous"] == {"psi": None, "js": 0.25}


def test_numpy_floats_in_statistics_are_stored(store: Store):
    col = column(statistics={"psi": np.float64(0.125), "js": np.float64("nan")})
    checkpoint(store, "job", EngineState(windows=[window(columns=[col])]))
    assert store.windows("fraud")[0]["statistics"] == {"psi": 0.125, "js": None}


def test_a_failing_checkpoint_writes_nothing(store: Store):
    """One transaction: a window that violates the schema rolls back the panes and positions."""
    broken = window(columns=[column(kind=None)])
    state = EngineState(
        panes={("p0", "fraud", "v1", 1): b"a"},
        windows=[broken],
        offsets={"p0": 5},
        frontiers={"fraud": 1},
    )
    with pytest.raises(StoreError, match="database error"):
        checkpoint(store, "job", state)
    loaded = store.load_state("job")
    assert (loaded.panes, loaded.offsets, loaded.frontiers) == ({}, {}, {})
    assert store.windows("fraud") == []


def test_reset_forgets_the_job_state_but_keeps_windows(store: Store):
    checkpoint(store, "job", full_state())
    checkpoint(store, "other", EngineState(offsets={"p0": 1}))
    store.reset("job")
    state = store.load_state("job")
    assert (state.panes, state.offsets, state.watermarks, state.frontiers) == ({}, {}, {}, {})
    assert store.load_state("other").offsets == {"p0": 1}
    assert len(store.windows("fraud")) == 4


# -- queries --------------------------------------------------------------------------------------
def test_window_queries_filter_and_order(store: Store):
    windows = [
        window(T0 + 10 * MINUTE),
        window(T0),
        window(T0 + 5 * MINUTE, version="v2"),
        window(T0 + 5 * MINUTE),
    ]
    checkpoint(store, "job", EngineState(windows=windows))
    rows = store.windows("fraud")
    assert [(r["window_start"], r["model_version"], r["feature"]) for r in rows] == [
        (T0, "v1", "amount"),
        (T0, "v1", "country"),
        (T0 + 5 * MINUTE, "v1", "amount"),
        (T0 + 5 * MINUTE, "v1", "country"),
        (T0 + 5 * MINUTE, "v2", "amount"),
        (T0 + 5 * MINUTE, "v2", "country"),
        (T0 + 10 * MINUTE, "v1", "amount"),
        (T0 + 10 * MINUTE, "v1", "country"),
    ]
    assert {r["feature"] for r in store.windows("fraud", feature="country")} == {"country"}
    assert len(store.windows("fraud", feature="country")) == 4
    # since: windows that end after the given time
    assert [
        r["window_start"]
        for r in store.windows("fraud", feature="amount", since_ms=T0 + 5 * MINUTE)
    ] == [T0 + 5 * MINUTE, T0 + 5 * MINUTE, T0 + 10 * MINUTE]
    assert [
        r["window_start"]
        for r in store.windows("fraud", feature="amount", since_ms=T0 + 5 * MINUTE - 1)
    ] == [T0, T0 + 5 * MINUTE, T0 + 5 * MINUTE, T0 + 10 * MINUTE]
    assert [r["model_version"] for r in store.windows("fraud", feature="amount", version="v2")] == [
        "v2"
    ]
    assert store.windows("nobody") == []
    assert [
        (s["window_start"], s["model_version"])
        for s in store.summaries("fraud", since_ms=T0 + 5 * MINUTE)
    ] == [(T0 + 5 * MINUTE, "v1"), (T0 + 5 * MINUTE, "v2"), (T0 + 10 * MINUTE, "v1")]


# -- an unreachable database ----------------------------------------------------------------------
def test_ping_is_true_on_a_live_database(store: Store):
    assert store.ping() is True


def test_an_unreachable_postgresql_raises_store_error():
    bad = Store(f"postgresql+psycopg2://postgres@127.0.0.1:{closed_port()}/test")
    assert bad.ping() is False
    with pytest.raises(StoreError, match="database unavailable") as info:
        checkpoint(bad, "job", full_state())
    assert "127.0.0.1" in str(info.value)
    with pytest.raises(StoreError):
        bad.load_state("job")
    with pytest.raises(StoreError, match="migration failed"):
        bad.upgrade()


def test_the_password_is_hidden_in_store_errors():
    bad = Store(f"postgresql+psycopg2://postgres:s3cret@127.0.0.1:{closed_port()}/test")
    with pytest.raises(StoreError) as info:
        checkpoint(bad, "job", EngineState(offsets={"p0": 1}))
    assert "s3cret" not in str(info.value)


def test_an_unopenable_sqlite_file_raises_store_error(tmp_path):
    bad = Store(f"sqlite:///{tmp_path / 'missing-dir' / 'x.db'}")
    assert bad.ping() is False
    with pytest.raises(StoreError, match="database unavailable"):
        checkpoint(bad, "job", EngineState(offsets={"p0": 1}))


@pytest.mark.postgres
def test_a_database_that_goes_away_raises_store_error(pg_url: str):
    """The server drops the database while the store is in use: the next checkpoint fails
    cleanly and ping turns False."""
    s = Store(pg_url)
    s.upgrade()
    checkpoint(s, "job", EngineState(offsets={"p0": 1}))
    name = pg_url.rsplit("/", 1)[1]
    admin = create_engine(
        os.environ.get("MONITOR_TEST_PG", pg_url.rsplit("/", 1)[0] + "/test"),
        isolation_level="AUTOCOMMIT",
    )
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    admin.dispose()
    assert s.ping() is False
    with pytest.raises(StoreError, match="database unavailable"):
        checkpoint(s, "job", EngineState(offsets={"p0": 2}))
    s.engine.dispose()


def test_detector_migration_moves_detector_panes_to_their_table(db_url: str):
    """0011 moves each concept-drift detector, kept until 0010 as a performance pane at pane
    -2**62, to ``drift_detectors``; the pipeline then restores it from there, and the
    downgrade moves it back."""
    from alembic import command

    from monitor.performance.drift_detectors import ConceptDriftMonitor
    from monitor.store.performance import PerformanceRepository

    detector = ConceptDriftMonitor("adwin")
    blob = detector.to_bytes()
    store = Store(db_url)
    store.upgrade("0010")
    panes = schema.performance_panes
    with store.engine.begin() as conn:
        conn.execute(
            panes.insert(),
            [
                {"job": "j", "join_key": "0", "model_id": "m", "model_version": "1",
                 "pane": -(2**62), "state": msgspec.msgpack.encode([7, blob])},
                {"job": "j", "join_key": "0", "model_id": "m", "model_version": "1",
                 "pane": 5, "state": b"pane"},
            ],
        )  # fmt: skip
    store.upgrade()
    repo = PerformanceRepository(store)
    assert repo.load_detectors("j", ["0"]) == [(("0", "m", "1"), 7, blob)]
    assert repo.load_panes("j", ["0"]) == [(("0", "m", "1", 5), b"pane")]
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(Path(schema.__file__).with_name("migrations")))
    with store.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0010")
    with store.engine.connect() as conn:
        rows = conn.execute(text("SELECT pane FROM performance_panes ORDER BY pane")).all()
        assert [r[0] for r in rows] == [-(2**62), 5]
        assert "drift_detectors" not in inspect(conn).get_table_names()
    store.engine.dispose()


def test_the_head_revision_without_alembic_is_alembics_head(store: Store):
    """``Database.upgrade`` skips Alembic when the schema is at the head it reads from the file
    names; that holds only while every revision is named by its file's prefix."""
    from alembic.script import ScriptDirectory

    from monitor.store.db import head_revision

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(Path(schema.__file__).with_name("migrations")))
    assert ScriptDirectory.from_config(cfg).get_current_head() == head_revision()
    assert store.revision() == head_revision()
    store.upgrade()  # at the head: nothing to do
    assert store.revision() == head_revision()
