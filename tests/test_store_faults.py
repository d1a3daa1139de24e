"""The store under faults, on SQLite and PostgreSQL: every database error says whether retrying
can help, data the database refuses is quarantined so the stream moves on, and a full database
ends a replay that can be resumed.

PostgreSQL refuses a value longer than its VARCHAR column and a NUL character; SQLite stores
both. The ``strict`` fixture gives SQLite the same refusals, with triggers generated from the
schema (``RAISE(ABORT)``, a real SQLite constraint error through the real code path), so each
case runs on both databases with the same input.

The events that carry such values are built by decoding good events and then changing a
version or a prediction id in the decoded columns: the decoder refuses such values itself
(dead letters), and these tests are about the defence behind it.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from prometheus_client import CollectorRegistry
from sqlalchemy import String, create_engine, event, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import Pool

from monitor.cli import main
from monitor.config import Config, parse_config
from monitor.engine import Engine, EngineState
from monitor.events import EventDecoder, LabelDecoder
from monitor.exceptions import StoreFull, StoreRejected, StoreUnavailable
from monitor.join import JoinDelta
from monitor.layout import Layout
from monitor.metrics import Metrics
from monitor.pipeline.checkpoint import Checkpointer
from monitor.pipeline.closing import close, flush
from monitor.pipeline.files import JOB, SOURCE, replay
from monitor.pipeline.kafka import KafkaService
from monitor.reference import ReferenceProfile
from monitor.store import Store, quarantine, schema
from monitor.store.errors import store_error
from monitor.store.performance import PerformanceRepository
from monitor.synth import generate, labels_to_jsonl, reference_rows, to_jsonl
from tests.conftest import PG_ADMIN_URL
from tests.helpers import checkpoint, rows_of, small_spec

SPEC = small_spec(n_numeric=3, seed=4, interval_ms=50)
MODEL = SPEC.model_id
LONG = "v" * 300  # longer than the schema's 200 characters
BAD_VALUES = [pytest.param(LONG, id="too-long"), pytest.param("v1\x00x", id="nul")]


# -- builders -------------------------------------------------------------------------------------
def config(url: str, labels: bool = False) -> Config:
    model = {
        "window": "1m",
        "features": {f.name: {"kind": f.kind} for f in SPEC.features},
        "reference": {"baseline_events": 0, "fine_bins": 200},
    }
    if labels:
        model |= {"topics": {"labels": "labels"}, "labels": {"horizon": "10m"}}
    return parse_config({"database_url": url, "checkpoint_interval": 0, "models": {MODEL: model}})


def with_reference(store: Store, cfg: Config) -> Store:
    layout = Layout.from_model(cfg.models[MODEL])
    store.save_reference(
        ReferenceProfile.build(MODEL, "*", layout, rows_of(reference_rows(SPEC, 5000)), 200)
    )
    return store


def new_store(url: str) -> Store:
    """A migrated store with the model's reference."""
    store = Store(url)
    store.upgrade()
    return with_reference(store, config(url))


def refuse_like_postgresql(store: Store) -> None:
    """Make SQLite refuse what PostgreSQL refuses: strings longer than their column, NUL."""
    with store.engine.begin() as conn:
        for table in schema.metadata.sorted_tables:
            for col in table.columns:
                if not isinstance(col.type, String) or col.type.length is None:
                    continue
                n, c = col.type.length, col.name
                refused = f"length(NEW.{c}) > {n} OR instr(CAST(NEW.{c} AS BLOB), x'00') > 0"
                why = f"value too long for type character varying({n}) or a NUL character"
                for when in ("INSERT", f"UPDATE OF {c}"):
                    name = f"strict_{table.name}_{c}_{when[:6]}"
                    conn.exec_driver_sql(
                        f"CREATE TRIGGER {name} BEFORE {when} ON {table.name} WHEN {refused} "
                        f"BEGIN SELECT RAISE(ABORT, '{why}'); END"
                    )


@pytest.fixture
def strict(db_url: str) -> Iterator[Store]:
    store = Store(db_url)
    store.upgrade()
    if store.dialect == "sqlite":
        refuse_like_postgresql(store)
    yield store
    store.engine.dispose()


class Run:
    """A replay's loop by hand: decode batches, feed the engine, close windows, checkpoint."""

    def __init__(self, store: Store, labels: bool = False) -> None:
        self.cfg = config(store.url, labels)
        self.store = store
        self.engine = Engine(self.cfg, store, labels=labels)
        self.checkpointer = Checkpointer(self.engine, store, JOB, interval_s=0)
        self.engine.join.lookup = lambda key, ids: self.checkpointer.performance.lookup(
            JOB, key, ids
        )
        self.cols = generate(SPEC, 6000)
        self.lines = to_jsonl(SPEC, self.cols).splitlines(keepends=True)
        self.labels = labels_to_jsonl(SPEC, self.cols).splitlines(keepends=True)
        self.position = 0

    def feed(
        self,
        a: int,
        b: int,
        version: dict[int, str] | None = None,
        prediction_id: dict[int, str] | None = None,
    ) -> bool:
        """Events a..b (their versions and prediction ids changed as given), their labels, then
        a checkpoint; whether it was written."""
        decoded = EventDecoder(self.cfg).decode_lines(b"".join(self.lines[a:b]))
        batch = decoded.batches[MODEL]
        for i, value in (version or {}).items():
            batch.versions[i - a] = value
        for i, value in (prediction_id or {}).items():
            batch.prediction_ids[i - a] = value
        self.position = b
        assert self.engine.process("predictions:0", decoded, b) == []
        if self.engine.join.models:
            labels = LabelDecoder(self.cfg).decode_lines(b"".join(self.labels[a:b]))
            self.engine.process_labels("labels:0", labels, b)
        close(self.engine, self.engine.watermark())
        return self.checkpointer.commit()

    def finish(self) -> bool:
        flush(self.engine)
        return self.checkpointer.commit()


def drift_windows(store: Store, version: str = "v1") -> dict:
    return {
        (r["feature"], r["window_start"]): (r["count"], r["statistics"])
        for r in store.windows(MODEL, version=version)
    }


def performance_windows(store: Store) -> dict:
    return {
        (r["model_version"], r["window_start"]): (r["predictions"], r["labeled"], r["metrics"])
        for r in PerformanceRepository(store).windows(MODEL)
    }


def clean(tmp_path: Path, labels: bool = False, **changes: dict[int, str]) -> Store:
    """The store of a run whose events all are stored (into SQLite, without refusals)."""
    run = Run(new_store(f"sqlite:///{tmp_path / 'clean.db'}"), labels)
    run.feed(0, 2000)
    run.feed(2000, 4000, **changes)
    run.feed(4000, 6000)
    run.finish()
    return run.store


# -- classification -------------------------------------------------------------------------------
def _psycopg2_errors():
    import psycopg2
    import psycopg2.errors as e

    return [
        (
            e.StringDataRightTruncation("value too long for type character varying(200)"),
            StoreRejected,
        ),
        (e.NumericValueOutOfRange("bigint out of range"), StoreRejected),
        (e.UniqueViolation("duplicate key value violates unique constraint"), StoreRejected),
        (psycopg2.ProgrammingError("can't adapt type 'object'"), StoreRejected),
        (e.DiskFull('could not extend file "base/16384/2619": No space left on device'), StoreFull),
        (psycopg2.OperationalError("server closed the connection unexpectedly"), StoreUnavailable),
        (psycopg2.InterfaceError("connection already closed"), StoreUnavailable),
        (e.AdminShutdown("terminating connection due to administrator command"), StoreUnavailable),
    ]


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (sqlite3.OperationalError("database is locked"), StoreUnavailable),
        (sqlite3.OperationalError("unable to open database file"), StoreUnavailable),
        (sqlite3.OperationalError("database or disk is full"), StoreFull),
        (sqlite3.IntegrityError("NOT NULL constraint failed: windows.kind"), StoreRejected),
        (sqlite3.DataError("string or blob too big"), StoreRejected),
        (
            sqlite3.InterfaceError("Error binding parameter 1 - probably unsupported type."),
            StoreRejected,
        ),
        (OverflowError("Python int too large to convert to SQLite INTEGER"), StoreRejected),
        (ValueError("A string literal cannot contain NUL (0x00) characters."), StoreRejected),
        (
            OperationalError("SELECT 1", {}, sqlite3.OperationalError("database or disk is full")),
            StoreFull,
        ),
        *_psycopg2_errors(),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, BaseException) else None,
)
def test_each_driver_error_says_whether_retrying_helps(error, kind):
    """Unit test of the classification (the real paths that raise these are tested below)."""
    out = store_error(error, "sqlite:///m.db")
    assert type(out) is kind
    assert "(sqlite:///m.db)" in str(out) and str(getattr(error, "orig", error)) in str(out)


# -- every write path ------------------------------------------------------------------------------
def _records(pid: str = "p1", label: str | None = None) -> dict:
    return {
        ("0", pid): (MODEL, "v1", 1_000, "1", 0.9, None, label, None if label is None else 2_000)
    }


def _write_join(store: Store, delta: JoinDelta, offsets: dict[str, int] | None = None):
    """A checkpoint of the join's ``delta`` (and ``offsets``)."""
    state = EngineState(offsets=offsets or {}, join=delta)
    return checkpoint(store, "job", state, config(store.url, labels=True))


@pytest.mark.parametrize(
    "write",
    [
        pytest.param(
            lambda s: checkpoint(
                s, "job", EngineState(panes={("p0", MODEL, "v" * 700, 1): b"x"}, offsets={"p0": 1})
            ),
            id="pane-version-too-long",
        ),
        pytest.param(
            lambda s: checkpoint(
                s, "job", EngineState(panes={("p0", MODEL, "v\x00", 1): b"x"}, offsets={"p0": 1})
            ),
            id="pane-version-nul",
        ),
        pytest.param(
            lambda s: checkpoint(
                s, "job", EngineState(late=Counter({(MODEL, "v1", 2**64): 1}), offsets={"p0": 1})
            ),
            id="late-beyond-bigint",
        ),
        pytest.param(
            lambda s: _write_join(s, JoinDelta(records=_records("p" * 300)), {"p0": 1}),
            id="join-record-raw-cursor",
        ),
        pytest.param(
            lambda s: _write_join(s, JoinDelta(records=_records("p\x00")), {"p0": 1}),
            id="join-record-nul-raw-cursor",
        ),
    ],
)
def test_a_refused_value_is_store_rejected_on_every_write_path(strict: Store, write):
    """SQLAlchemy's statements, the raw cursor of the join records and a value the driver
    cannot send all end as StoreRejected, chained to the database's error; nothing is written."""
    with pytest.raises(StoreRejected, match="database rejected the data") as info:
        write(strict)
    assert info.value.__cause__ is not None
    assert strict.load_state("job").offsets == {}


def test_a_label_only_update_refused_by_the_raw_cursor_is_store_rejected(strict: Store):
    """The label-only UPDATE of stored records (SQLite's raw executemany) is classified too."""
    _write_join(strict, JoinDelta(records=_records()))
    with pytest.raises(StoreRejected):
        _write_join(strict, JoinDelta(relabeled=_records(label="l" * 300)), {"p0": 1})


@pytest.mark.postgres
def test_a_connection_lost_under_the_raw_cursor_is_store_unavailable(pg_url: str):
    """The server ends the session while a raw cursor is in use: StoreUnavailable, not a
    psycopg2 error, so the checkpoint retries it."""
    store = Store(pg_url)
    store.upgrade()
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with store.engine.connect() as conn:
        pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
        with admin.connect() as a:
            a.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid})
        with (
            pytest.raises(StoreUnavailable, match="database unavailable"),
            store.cursor(conn) as cursor,
        ):
            cursor.execute("SELECT 1")
    admin.dispose()
    store.engine.dispose()


def test_a_refused_id_in_a_lookup_is_not_found(strict: Store):
    """A lookup of ids the database refuses even to compare (NUL on PostgreSQL) finds the
    others: the refused one cannot have been stored."""
    _write_join(strict, JoinDelta(records=_records()))
    found = PerformanceRepository(strict).lookup("job", "0", ["p\x00", "p1", "nope"])
    assert list(found) == ["p1"]


# -- quarantine -----------------------------------------------------------------------------------
@pytest.mark.parametrize("bad", BAD_VALUES)
def test_a_refused_version_is_quarantined_and_the_stream_moves_on(strict: Store, tmp_path, bad):
    """One event of a version the database refuses, amid good ones: every checkpoint is
    written, v1's windows equal a run where that event was of a valid version, the refused
    version's data is in the quarantine table, counted, and later checkpoints work."""
    run = Run(with_reference(strict, config(strict.url)))
    assert run.feed(0, 2000)
    assert run.feed(2000, 4000, version={3000: bad})
    assert run.checkpointer.healthy and run.checkpointer.last_error is None
    assert run.feed(4000, 6000) and run.finish()
    assert drift_windows(strict) == drift_windows(clean(tmp_path, version={3000: "v2"}))
    assert len(drift_windows(strict)) > 0
    assert {r["model_version"] for r in strict.windows(MODEL)} == {"v1"}
    assert strict.load_state(JOB).offsets == {"predictions:0": 6000}
    rows = strict.quarantined(JOB)
    assert rows and {(r["model_id"], r["model_version"], r["part"]) for r in rows} == {
        (MODEL, quarantine.printable(bad), "population")
    }
    assert rows[0]["dropped"]["panes"] >= 1 and "rejected the data" in rows[0]["reason"]
    assert sum(r["dropped"]["windows"] for r in rows) == 1  # the refused version's one window
    assert run.checkpointer.quarantined == Counter({(MODEL, "population"): len(rows)})


@pytest.mark.parametrize("bad", BAD_VALUES)
def test_a_refused_join_record_is_quarantined_alone(strict: Store, tmp_path, bad):
    """A prediction id the database refuses: only its join record is quarantined; the drift
    and performance windows of its version are written, as in a run without that id."""
    run = Run(with_reference(strict, config(strict.url)), labels=True)
    assert run.feed(0, 2000)
    assert run.feed(2000, 4000, prediction_id={3000: "p" + bad})
    assert run.feed(4000, 6000) and run.finish()
    expected = clean(tmp_path, labels=True, prediction_id={3000: "p-valid"})
    assert drift_windows(strict) == drift_windows(expected)
    assert performance_windows(strict) == performance_windows(expected) != {}
    (row,) = strict.quarantined(JOB)
    assert (row["part"], row["model_version"], row["dropped"]["join_records"]) == (
        "join_records",
        "v1",
        1,
    )
    assert row["dropped"]["prediction_ids"] == [quarantine.printable("p" + bad, 100)]


def test_bisection_finds_the_refused_parts_in_few_trials():
    """Unit test of :func:`quarantine.isolate` against a rule that refuses two of 64 versions
    and one record of a good version: those alone go, in about 2 k log2 n trials."""
    bad = {"v13", "v50"}
    records = {
        ("0", f"p{i}"): (MODEL, f"v{i % 64}", i, "1", 0.5, None, None, None) for i in range(640)
    }
    state = EngineState(
        panes={("s", MODEL, f"v{i}", 1): b"x" for i in range(64)},
        offsets={"s": 640},
        join=JoinDelta(records=records),
    )
    trials = []

    def rejection(part: EngineState) -> StoreRejected | None:
        trials.append(part)
        versions = {k[2] for k in part.panes} | {r[1] for r in part.join.records.values()}
        refused = versions & bad or ("0", "p7") in part.join.records
        return StoreRejected("refused") if refused else None

    kept, dropped = quarantine.isolate(state, rejection, StoreRejected("refused"))
    assert {(d.population.model_version, d.records) for d in dropped} == {
        ("v13", None),
        ("v50", None),
        ("v7", (("0", "p7"),)),
    }
    assert {k[2] for k in kept.panes} == {f"v{i}" for i in range(64)} - bad
    assert len(kept.join.records) == 640 - 2 * 10 - 1 and kept.offsets == {"s": 640}
    assert rejection(kept) is None
    assert (
        len(trials) <= 2 * 3 * 6 + 3 + 2 * 4 + 1
    )  # populations, the three alone, p7 among v7's ten
    assert quarantine.everything(state, StoreRejected("x"))[0] == EngineState(offsets={"s": 640})


def _refuse_together(store: Store) -> None:
    """A rule the database enforces only across rows: windows of versions a and b together."""
    message = "versions a and b refused together"
    a = "EXISTS (SELECT 1 FROM window_summaries WHERE model_version = 'a')"
    together = f"NEW.model_version = 'b' AND {a}"
    trigger = "CREATE TRIGGER pair BEFORE INSERT ON window_summaries"
    if store.dialect == "sqlite":
        sql = [f"{trigger} WHEN {together} BEGIN SELECT RAISE(ABORT, '{message}'); END"]
    else:
        check = f"IF {together} THEN RAISE EXCEPTION '{message}' USING ERRCODE = '23514'; END IF"
        function = f"$$ BEGIN {check}; RETURN NEW; END $$ LANGUAGE plpgsql"
        sql = [
            f"CREATE FUNCTION pair() RETURNS trigger AS {function}",
            f"{trigger} FOR EACH ROW EXECUTE FUNCTION pair()",
        ]
    with store.engine.begin() as conn:
        for statement in sql:
            conn.exec_driver_sql(statement)


def test_a_refusal_no_part_explains_quarantines_the_whole_delta(strict: Store):
    """Two versions refused only together: every trial of a part passes, so the whole delta is
    quarantined and its positions written: the stream still moves on."""
    _refuse_together(strict)
    run = Run(with_reference(strict, config(strict.url)))
    assert run.feed(0, 2000, version={100: "a", 200: "b"})
    rows = strict.quarantined(JOB)
    assert {r["model_version"] for r in rows} == {"v1", "a", "b"}
    assert all("refused together" in r["reason"] and r["part"] == "population" for r in rows)
    assert strict.load_state(JOB).offsets == {"predictions:0": 2000}
    assert run.feed(2000, 6000) and run.finish() and run.checkpointer.healthy
    assert strict.windows(MODEL)  # later windows are written


def test_data_refused_even_without_the_delta_makes_the_checkpoint_fail_as_rejected(
    strict: Store, tmp_path
):
    """When even the positions alone are refused, nothing can be set aside: the checkpoint
    fails as 'rejected data' (a live service pauses and says so on /readyz), then succeeds
    once the database takes the data again; unreachable and full read differently."""
    cfg = config(strict.url)
    with_reference(strict, cfg)
    service = KafkaService(
        cfg, strict, bootstrap_servers="127.0.0.1:9", metrics=Metrics(CollectorRegistry())
    )  # never connects
    service.assigned = {("predictions", 0)}
    source = "p" * 400  # a source (partition) name the offsets table refuses
    service.engine.offsets[source] = 5
    assert not service.checkpointer.commit()
    ready, reasons = service.readiness()
    assert not ready and reasons["database"].startswith("rejected data: ")
    assert isinstance(service.checkpointer.last_error, StoreRejected)
    del service.engine.offsets[source]
    service.engine.offsets["predictions:0"] = 7
    assert service.checkpointer.commit() and service.readiness() == (True, {})
    assert strict.load_state(service.job).offsets == {"predictions:0": 7}


@pytest.mark.parametrize("kind", ["unreachable", "full"])
def test_readiness_says_unreachable_or_full(tmp_path, kind):
    """/readyz names what the checkpoint met: an unopenable file, or a full one."""
    if kind == "unreachable":
        store = Store(f"sqlite:///{tmp_path / 'missing' / 'x.db'}")
    else:
        store = Store(f"sqlite:///{tmp_path / 'full.db'}")
        store.upgrade()
        event.listen(
            store.engine,
            "connect",
            lambda c, _r: c.execute(
                f"PRAGMA max_page_count = {c.execute('PRAGMA page_count').fetchone()[0]}"
            ),
        )
        store.engine.dispose()
    checkpointer = Checkpointer(Engine(config(store.url), store), store, "job")
    checkpointer.engine.offsets.update({f"predictions:{i}": i for i in range(5000)})  # new pages
    assert not checkpointer.commit()
    assert checkpointer.problem().startswith(f"{kind}: ") and not checkpointer.healthy


# -- a full database during a replay ---------------------------------------------------------------
@pytest.fixture
def fills_up() -> Iterator[list[str]]:
    """SQLite files (append their paths) that fill up right after their first checkpoint:
    from the first connection checkout that finds the file grown, ``PRAGMA max_page_count``
    caps it one page above its size (a real ``database or disk is full`` from SQLite)."""
    paths: list[str] = []
    first: dict[str, int] = {}  # path -> pages at the first checkout
    caps: dict[str, int] = {}

    def checkout(dbapi_conn, _record, _proxy) -> None:
        if not isinstance(dbapi_conn, sqlite3.Connection):
            return
        path = dbapi_conn.execute("PRAGMA database_list").fetchone()[2]
        if path not in paths:
            return
        pages = dbapi_conn.execute("PRAGMA page_count").fetchone()[0]
        if path not in caps and pages > first.setdefault(path, pages):
            caps[path] = pages + 1
        if path in caps:  # on every checkout: a connection opened later is capped too
            dbapi_conn.execute(f"PRAGMA max_page_count = {caps[path]}")

    event.listen(Pool, "checkout", checkout)
    yield paths
    event.remove(Pool, "checkout", checkout)


@pytest.fixture
def events_file(tmp_path) -> Path:
    """60,000 events in four 4 MB blocks (a replay checkpoints after each block)."""
    path = tmp_path / "events.jsonl"
    path.write_bytes(to_jsonl(SPEC, generate(SPEC, 60_000)))
    return path


def test_a_full_database_ends_the_replay_which_resumes_once_there_is_space(
    tmp_path, events_file, fills_up
):
    cfg = config(f"sqlite:///{tmp_path / 'full.db'}")
    store = new_store(cfg.database_url)
    fills_up.append(str(tmp_path / "full.db"))
    with pytest.raises(StoreFull, match="database or disk is full"):
        replay(cfg, store, [events_file])
    fills_up.clear()  # space freed
    store.engine.dispose()
    stopped = store.load_state(JOB).offsets[SOURCE]
    assert 0 < stopped < 60_000  # the first block's checkpoint stands
    resumed = Store(cfg.database_url)
    report = replay(cfg, resumed, [events_file], resume=True)
    assert report.events == 60_000 - stopped
    assert resumed.load_state(JOB).offsets[SOURCE] == 60_000
    expected = new_store(f"sqlite:///{tmp_path / 'expected.db'}")
    replay(cfg, expected, [events_file])
    assert drift_windows(resumed) == drift_windows(expected)


def test_the_cli_exits_1_on_a_full_database_naming_it_and_resume(tmp_path, events_file, fills_up):
    db = tmp_path / "full.db"
    cfg = config(f"sqlite:///{db}")
    new_store(cfg.database_url).engine.dispose()
    path = tmp_path / "monitor.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "database_url": cfg.database_url,
                "checkpoint_interval": 0,
                "models": {
                    MODEL: {
                        "window": "1m",
                        "features": {f.name: {"kind": f.kind} for f in SPEC.features},
                        "reference": {"baseline_events": 0, "fine_bins": 200},
                    }
                },
            }
        )
    )
    fills_up.append(str(db))
    runner = CliRunner()
    full = runner.invoke(main, ["replay", "-c", str(path), "--no-progress", str(events_file)])
    assert full.exit_code == 1, full.output
    assert (
        "database or disk is full" in full.stderr
        and str(db) in full.stderr
        and "--resume" in full.stderr
    )
    assert "Traceback" not in full.output
    fills_up.clear()
    resumed = runner.invoke(
        main, ["replay", "-c", str(path), "--no-progress", "--resume", str(events_file)]
    )
    assert resumed.exit_code == 0, resumed.output
    assert Store(cfg.database_url).load_state(JOB).offsets[SOURCE] == 60_000
