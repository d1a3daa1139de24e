"""The ``monitor`` command line.

Exit status: 0 done; 1 a runtime error (a bad config file, a database or broker away, an
unreadable file: one line "error: ..."); 2 a usage error (an unknown option, a missing file, an
unknown model or feature named on the command line: click's message); 3 ``--fail-on``: a window
of the selection is at least that severe (``monitor replay``, ``monitor windows``), so that a CI
job can gate a model on drift.

Heavy libraries (numpy, scipy, SQLAlchemy, confluent-kafka, river) are imported inside the
commands that use them, so that ``monitor --help`` starts at once.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from monitor.exceptions import ConfigError, MonitorError
from monitor.options import config_option, fail_on_option, format_option, open_reader
from monitor.options import fail_on as _fail_on
from monitor.options import load as _load
from monitor.options import model_of as _model
from monitor.options import open_store as _store

if TYPE_CHECKING:
    from monitor.config import Config, ModelConfig
    from monitor.engine import ClosedWindow
    from monitor.store import Store

__all__ = ["main"]

log = logging.getLogger("monitor")


def _warn(messages: Iterable[str]) -> None:
    """Start-up warnings (:mod:`monitor.preflight`), one log line each."""
    for message in messages:
        log.warning("%s", message)


def _since_ms(value: str | None) -> int | None:
    """``--since``: an RFC 3339 time, epoch milliseconds, or a duration ago (``2h``)."""
    if value is None:
        return None
    import datetime as dt

    from monitor.config import parse_duration_ms

    if value.isdigit():
        return int(value)
    try:
        return int(time.time() * 1000) - parse_duration_ms(value)
    except ValueError:
        pass
    try:
        parsed = dt.datetime.fromisoformat(value)  # a "Z" suffix is read since Python 3.11
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is neither a time, epoch ms nor a duration such as 2h"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return int(parsed.timestamp() * 1000)


class _Group(click.Group):
    """Turns our errors into one clear line and exit status 1, never a traceback; click's usage
    errors keep their status 2, and so does a config error that names a command-line option
    (its key is the option: ``--feature-column``)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except MonitorError as exc:
            click.echo(f"error: {exc}", err=True)
            usage = isinstance(exc, ConfigError) and exc.key.startswith("--")
            sys.exit(2 if usage else 1)


@click.group(cls=_Group)
@click.version_option(package_name="monitor", prog_name="monitor")
@click.option("--log-level", default="INFO", show_default=True)
@click.option("--log-json", is_flag=True, help="Structured JSON logs.")
def main(log_level: str, log_json: bool) -> None:
    """Streaming model monitoring and drift detection."""
    from monitor.logs import configure
    from monitor.stopping import release

    configure(log_level, log_json)
    if click.get_current_context().invoked_subcommand != "run":
        release()  # only `run` stops cleanly during start-up (monitor/stopping.py)


# -- config and database ------------------------------------------------------------------------
@main.group("config")
def config_group() -> None:
    """Check configuration files."""


@config_group.command("validate")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
def config_validate(path: str) -> None:
    """Validate a config file; errors name the key."""
    cfg = _load(path)
    click.echo(f"{path}: ok ({len(cfg.models)} model(s): {', '.join(cfg.models)})")


@main.group("db")
def db_group() -> None:
    """Database schema."""


@db_group.command("upgrade")
@config_option
@click.option("--revision", default="head", show_default=True)
def db_upgrade(config_path: str, revision: str) -> None:
    """Apply the migrations to the configured database."""
    from monitor.store import Store

    cfg = _load(config_path)
    store = Store(cfg.database_url)
    store.upgrade(revision)
    click.echo(f"database {store.safe_url} is at {revision}")


# -- references ---------------------------------------------------------------------------------
@main.group("reference")
def reference_group() -> None:
    """Reference profiles: what normal looks like."""


@reference_group.command("build")
@config_option
@click.option("--model", "-m", "model_id", required=True)
@click.option(
    "--version",
    "-v",
    "model_version",
    default="*",
    show_default=True,
    help="Model version ('*': every version without its own reference).",
)
@click.option("--score-column", help="The file's score column (overrides columns.score).")
@click.option("--prediction-column", help="The file's prediction column (columns.prediction).")
@click.option("--label-column", help="The file's label column (columns.label).")
@click.option("--timestamp-column", help="The file's timestamp column (columns.timestamp).")
@click.option(
    "--prediction-id-column", help="The file's prediction id column (columns.prediction_id)."
)
@click.option(
    "--feature-column",
    "feature_columns",
    multiple=True,
    metavar="FEATURE=COLUMN",
    help="A feature's column in the file (overrides features.*.source); repeatable.",
)
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
def reference_build(
    config_path: str,
    model_id: str,
    model_version: str,
    file: str,
    feature_columns: tuple[str, ...],
    **roles: str | None,
) -> None:
    """Build and store a reference profile from a CSV, JSONL or Parquet file of feature rows.

    Prints each monitored column's kind as its values show it (boolean, integer, numeric,
    categorical) and warns where the config disagrees."""
    from monitor.columns import inspect_columns, map_columns, with_columns
    from monitor.performance.estimation import calibration_text, reference_calibration
    from monitor.reference import ReferenceProfile, read_reference_rows

    cfg = _load(config_path)
    pairs = [f.partition("=") for f in feature_columns]
    if any(not name or not column for name, _, column in pairs):
        raise click.BadParameter("expected FEATURE=COLUMN", param_hint="--feature-column")
    named = {role.removesuffix("_column"): column for role, column in roles.items()}
    model = with_columns(_model(cfg, model_id), named, {name: column for name, _, column in pairs})
    rows = map_columns(read_reference_rows(file), model)
    kinds, warnings = inspect_columns(rows, model)
    profile = ReferenceProfile.for_model(model_id, model_version, model, rows, source=str(file))
    saved = _store(cfg).save_reference(profile)
    segments = "".join(
        f"; segments of {k}: {', '.join(v)} and other" for k, v in saved.plan.values.items()
    )
    click.echo(
        f"reference {model_id} {model_version} version {saved.version}: {saved.rows} rows, "
        f"columns {', '.join(saved.columns)}{segments}"
    )
    click.echo(f"column kinds: {', '.join(k.line() for k in kinds)}")
    for warning in warnings:
        click.echo(f"warning: {warning}", err=True)
    calibration = reference_calibration(model, rows)
    if calibration is not None:
        click.echo(calibration_text(calibration), err=not calibration["calibrated"])


@reference_group.command("list")
@config_option
@click.option("--model", "-m", "model_id", default=None)
@format_option
def reference_list(config_path: str, model_id: str | None, fmt: str) -> None:
    """List stored reference profiles."""
    from monitor.format import table

    cfg = _load(config_path)
    if model_id is not None:
        _model(cfg, model_id)
    rows = _store(cfg).list_references(model_id)
    if fmt == "json":
        click.echo(json.dumps(rows, default=lambda t: t.isoformat()))  # created_at
        return
    click.echo(
        table(
            ["model", "version", "profile", "rows", "source", "created"],
            [
                [
                    r["model_id"],
                    r["model_version"],
                    r["version"],
                    r["rows"],
                    r["source"],
                    r["created_at"],
                ]
                for r in rows
            ],
        )
    )


@reference_group.command("show")
@config_option
@click.option("--model", "-m", "model_id", required=True)
@click.option("--version", "-v", "model_version", default="*", show_default=True)
@click.option(
    "--profile",
    "profile_version",
    type=int,
    default=None,
    help="Profile version (default: latest).",
)
@format_option
def reference_show(
    config_path: str, model_id: str, model_version: str, profile_version: int | None, fmt: str
) -> None:
    """Show one reference profile, column by column."""
    from monitor.format import table

    cfg = _load(config_path)
    _model(cfg, model_id)
    profile = _store(cfg).get_reference(model_id, model_version, profile_version)
    if profile is None:
        raise click.ClickException(f"no reference for model {model_id!r} version {model_version!r}")
    if fmt == "json":
        click.echo(
            json.dumps(
                {
                    "model_id": model_id,
                    "model_version": profile.model_version,
                    "version": profile.version,
                    "source": profile.source,
                    **profile.to_payload(),
                }
            )
        )
        return
    rows = []
    for name, p in profile.columns.items():
        n = int(p.counts.sum())
        if p.kind == "numeric":
            detail = (
                f"range [{p.edges[0]:.4g}, {p.edges[-1]:.4g}], {p.inner_bins} bins, std "
                f"{p.scale:.4g}"
            )
        else:
            detail = (
                f"{len(p.vocab)} categories: "
                f"{', '.join(p.vocab[:5])}{' ...' if len(p.vocab) > 5 else ''}"
            )
        rows.append([name, p.kind, n, p.missing / max(n + p.missing, 1), detail])
    click.echo(
        f"reference {model_id} {profile.model_version} version {profile.version} "
        f"({profile.rows} rows from {profile.source or '-'})"
    )
    click.echo(table(["column", "kind", "values", "missing_rate", "profile"], rows))


# -- replay and windows -------------------------------------------------------------------------
@main.command("replay")
@config_option
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--labels",
    "label_files",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False),
    help="Label events (JSONL), joined in event-time order (repeatable).",
)
@click.option("--resume", is_flag=True, help="Continue an interrupted replay from its checkpoint.")
@click.option(
    "--dead-letters",
    type=click.Path(dir_okay=False, writable=True),
    default=None,
    help="Write rejected events with their reason to this JSONL file.",
)
@click.option("--progress/--no-progress", default=True, show_default=True)
@fail_on_option
def replay_cmd(
    config_path: str,
    files: tuple[str, ...],
    label_files: tuple[str, ...],
    resume: bool,
    dead_letters: str | None,
    progress: bool,
    fail_on: str | None,
) -> None:
    """Replay prediction/feature events from JSONL or Avro files through the engine.

    A full database ends the replay at its last checkpoint with exit status 1: free space,
    then run the same command with --resume. With --fail-on, exit status 3 when a window the
    replay closed (of the model version or of one of its segments) has a column or the whole
    window at least that severe."""
    from monitor.exceptions import StoreFull, StoreRejected
    from monitor.format import window_lines
    from monitor.pipeline.files import replay
    from monitor.preflight import preflight

    cfg = _load(config_path)
    paths = [Path(f) for f in files]
    store = _store(cfg)
    _warn(preflight(cfg, store, label_files=bool(label_files)))
    dlq = open(dead_letters, "wb") if dead_letters else None  # noqa: SIM115 (closed below)
    total = sum(p.stat().st_size for p in paths)
    drifted, severities = 0, set[str]()

    def show(windows: list[ClosedWindow]) -> None:
        """Print each drifted window as it closes (as `monitor run` does) and keep only counts
        and severities: a replay's memory must not grow with the windows it closes."""
        nonlocal drifted
        for w in windows:
            versions = (w, *w.segments)
            for v in versions:
                severities.add(v.dataset.severity)
                severities.update(c.severity for c in v.columns)
            if any(v.dataset.drifted or v.dataset.prediction_drift for v in versions):
                drifted += 1
                for line in window_lines(w):
                    click.echo(line)

    try:
        with click.progressbar(
            length=total, label="replaying", file=sys.stderr, hidden=not progress
        ) as bar:
            report = replay(
                cfg,
                store,
                paths,
                labels=[Path(f) for f in label_files],
                resume=resume,
                dead_letters=dlq,
                progress=bar.update,
                on_windows=show,
                keep_windows=False,
            )
    except StoreFull as exc:
        click.echo(
            f"\nerror: {exc}\nThe replay stopped at its last checkpoint. Free space for "
            f"{store.safe_url} (or raise its size limit), then run the same command with "
            "--resume to continue from there.",
            err=True,
        )
        sys.exit(1)
    except StoreRejected as exc:
        stopped = "The replay stopped at its last checkpoint (see the quarantine table)."
        click.echo(f"\nerror: {exc}\n{stopped}", err=True)
        sys.exit(1)
    finally:
        if dlq:
            dlq.close()
    click.echo(
        (
            f"{report.events} events in {report.seconds:.2f} s ({report.rate:,.0f} events/s); "
            f"{report.closed} windows closed, {drifted} with drift"
        )
        + (f"; {report.labels} labels joined" if label_files else "")
    )
    if report.invalid:
        click.echo("rejected: " + ", ".join(f"{k}={v}" for k, v in sorted(report.invalid.items())))
    if report.late:  # also in the late column of `monitor windows`
        click.echo("late: " + ", ".join(f"{m}={n}" for m, n in sorted(report.late.items())))
        click.echo(
            "  (events that arrived after their window had closed were dropped: raise the model's "
            "allowed_lateness if they belong in it)",
            err=True,
        )
    _fail_on(fail_on, sorted(severities))


@main.command("windows")
@config_option
@click.option("--model", "-m", "model_id", required=True)
@click.option("--feature", "-f", default=None)
@click.option("--version", "-v", "model_version", default=None)
@click.option(
    "--since", default=None, help="RFC 3339 time, epoch ms, or a duration ago such as 2h."
)
@click.option(
    "--segment",
    "-s",
    default="",
    help=(
        "A segment (KEY=VALUE, VALUE 'other' for the rest), or '*' for the whole version and "
        "every segment; default the whole version."
    ),
)
@format_option
@fail_on_option
def windows_cmd(
    config_path: str,
    model_id: str,
    feature: str | None,
    model_version: str | None,
    since: str | None,
    segment: str,
    fmt: str,
    fail_on: str | None,
) -> None:
    """Print persisted windows: one row per window and column.

    The table shows the statistics the model computes for the kinds of columns it has. With
    --fail-on, exit status 3 when a row shown is at least that severe."""
    from monitor.format import table, verdict_text, window_json

    cfg = _load(config_path)
    model = _model(cfg, model_id)
    columns = [*model.features, "prediction", "score"]
    if feature is not None and feature not in columns:
        raise click.BadParameter(
            f"model {model_id!r} has no feature {feature!r}; configured: {', '.join(columns)}",
            param_hint="'--feature'",
        )
    from monitor.store import windows as queries

    db = open_reader(cfg)
    rows = queries.windows(
        db, model_id, feature, _since_ms(since), model_version, None if segment == "*" else segment
    )
    late = queries.late_counts(db, model_id)
    # Late events are dropped before they are told apart by segment: counted for the version only.
    out = [
        window_json(
            r,
            None
            if r["segment"]
            else queries.late_in(late, r["model_version"], r["window_start"], r["window_end"]),
        )
        for r in rows
    ]
    if fmt == "json":
        click.echo(json.dumps(out, indent=None))
    else:
        segments = segment != ""  # a segment column only when segments are asked for
        stats = _window_statistics(model)
        click.echo(
            table(
                [
                    "window_start",
                    "version",
                    *(["segment"] if segments else []),
                    "feature",
                    "count",
                    "missing",
                    *(_STAT_HEADERS.get(k, k) for k in stats),
                    "severity",
                    "decided_by",
                ],
                [
                    [
                        w["window_start"],
                        w["model_version"],
                        *([w["segment"] or "(all)"] if segments else []),
                        w["feature"],
                        w["count"],
                        w["missing"],
                        *(w["statistics"].get(k) for k in stats),
                        w["severity"],
                        verdict_text(w["decided_by"]),
                    ]
                    for w in out
                ],
            )
        )
    _fail_on(fail_on, [w["severity"] for w in out])


#: The statistics a window table can show, in order, with their headers where they differ.
_TABLE_STATISTICS = ("psi", "ks", "js", "chi2_pvalue", "wasserstein")
_STAT_HEADERS = {"chi2_pvalue": "chi2_p"}


def _window_statistics(model: ModelConfig) -> list[str]:
    """The table's statistics that ``model`` computes for a kind of column it has.

    >>> from monitor.config import ModelConfig
    >>> _window_statistics(ModelConfig.model_validate(
    ...     {"features": {"x": {"kind": "numeric"}}, "prediction": "numeric"}))
    ['psi', 'ks', 'js', 'wasserstein']
    """
    from monitor.stats.registry import STATISTICS

    kinds: set[str] = {f.kind for f in model.features.values()}
    kinds |= {"numeric"} if model.score else set()
    kinds |= {model.prediction} - {"none"}
    return [k for k in _TABLE_STATISTICS if k in model.statistics and STATISTICS[k].kinds & kinds]


@main.command("performance")
@config_option
@click.option("--model", "-m", "model_id", required=True)
@click.option("--version", "-v", "model_version", default=None)
@click.option(
    "--compare",
    nargs=2,
    default=None,
    metavar="CHAMPION CHALLENGER",
    help="Compare two versions over all their labeled windows.",
)
@format_option
def performance_cmd(
    config_path: str,
    model_id: str,
    model_version: str | None,
    compare: tuple[str, str] | None,
    fmt: str,
) -> None:
    """Print model performance per window: realized (labels), estimated (scores), coverage.

    The table shows the metrics of the model's task (classification or regression)."""
    from monitor.format import iso, table
    from monitor.store.performance import PerformanceRepository

    cfg = _load(config_path)
    model = _model(cfg, model_id)
    repo = PerformanceRepository(_store(cfg))
    rows = repo.windows(model_id, model_version)
    out = [
        {
            "model_id": r["model_id"],
            "model_version": r["model_version"],
            "window_start": iso(r["window_start"]),
            "window_end": iso(r["window_end"]),
            "predictions": r["predictions"],
            "labeled": r["labeled"],
            "coverage": r["labeled"] / r["predictions"] if r["predictions"] else None,
            "metrics": r["metrics"],
            "estimated": r["estimated"],
            "segments": r["segments"],
            "label_delay": r["label_delay"],
            "final": r["final"],
        }
        for r in rows
    ]
    if compare:
        from monitor.performance.comparison import compare_accuracy

        totals = {v: [0, 0] for v in compare}
        for r in rows:
            if r["model_version"] in totals and r["metrics"].get("accuracy") is not None:
                n = r["labeled"]
                totals[r["model_version"]][0] += round(r["metrics"]["accuracy"] * n)
                totals[r["model_version"]][1] += n
        (ca, na), (cb, nb) = totals[compare[0]], totals[compare[1]]
        if not (na and nb):
            raise click.ClickException(
                f"both versions need labeled windows; got {na} and {nb} labeled predictions"
            )
        result = {
            "champion": compare[0],
            "challenger": compare[1],
            **compare_accuracy(ca, na, cb, nb),
        }
        click.echo(
            json.dumps(result, default=str)
            if fmt == "json"
            else "\n".join(f"{k}: {v}" for k, v in result.items())
        )
        return
    if fmt == "json":
        click.echo(json.dumps(out))
        return
    realized, estimated = _PERFORMANCE_COLUMNS[model.task]
    click.echo(
        table(
            [
                "window_start",
                "version",
                "predictions",
                "labeled",
                "coverage",
                *realized,
                *(f"est_{m}" for m in estimated),
                "final",
            ],
            [
                [
                    w["window_start"],
                    w["model_version"],
                    w["predictions"],
                    w["labeled"],
                    w["coverage"],
                    *(w["metrics"].get(m) for m in realized),
                    *((w["estimated"] or {}).get(m) for m in estimated),
                    w["final"],
                ]
                for w in out
            ],
        )
    )
    drifts = repo.concept_drift(model_id)
    if drifts:
        click.echo(
            "\nconcept drift: "
            + ", ".join(
                (
                    f"{d['model_version']} at {iso(d['detected_at'])} ({d['method']}, label "
                    f"#{d['position']})"
                )
                for d in drifts
            )
        )


#: task -> (realized, estimated) metrics of the performance table.
_PERFORMANCE_COLUMNS = {
    "classification": (("accuracy", "f1", "roc_auc"), ("accuracy", "roc_auc")),
    "regression": (("mae", "rmse", "r2"), ()),
}


# -- the service ---------------------------------------------------------------------------------
@main.command("run")
@config_option
@click.option("--bootstrap-servers", default=None, help="Overrides kafka.bootstrap_servers.")
@click.option(
    "--metrics-port", type=int, default=None, help="Overrides metrics.port (0: a free port)."
)
@click.option("--print-windows/--no-print-windows", default=True, show_default=True)
def run_cmd(
    config_path: str, bootstrap_servers: str | None, metrics_port: int | None, print_windows: bool
) -> None:
    """Consume the configured topics as a consumer group; persist windows; serve metrics.

    \b
    Exit status (docs/operations.md, "Exit codes of monitor run"):
      0  stopped by SIGINT or SIGTERM, at any phase: the last line is "stopped during
         start-up" or, after a final checkpoint, "stopped cleanly"; if that checkpoint
         failed, a WARNING "stopped; the last N s of work were not checkpointed ..." (Kafka
         still holds that work: the next start reads it again)
      1  an error in the config or the environment, or the metrics port is taken: one
         line "error: ..." (naming the key, or metrics.port and --metrics-port); or an
         unexpected error (a traceback)
      2  a usage error (an unknown option, a missing config file)

    Once the port, the broker and the database answer, it logs a WARNING for each silent trap
    of the config (monitor/preflight.py).
    """
    from monitor.service import serve

    cfg = _load(config_path, sends=True)
    serve(
        cfg,
        bootstrap_servers=bootstrap_servers,
        metrics_port=metrics_port,
        print_windows=print_windows,
        preflight=lambda store, servers: _run_preflight(cfg, store, servers),
    )


def _run_preflight(cfg: Config, store: Store, servers: str) -> list[str]:
    """:func:`monitor.preflight.preflight` for ``monitor run``, with the broker's topics (none
    when it does not answer: the service reports that itself)."""
    from monitor.kafka.topics import client_config
    from monitor.preflight import broker_topics, preflight

    topics = broker_topics(client_config(cfg, **{"bootstrap.servers": servers}), timeout=5.0)
    return preflight(cfg, store, topics=topics)


@main.group("state")
def state_group() -> None:
    """The checkpointed state of a job (open windows, positions)."""


@state_group.command("reset")
@config_option
@click.option("--model", "model_id", required=True, help="The model whose open windows to drop.")
@click.option(
    "--job",
    default=None,
    help="The job: kafka.group_id for monitor run (default), 'replay' for monitor replay.",
)
def state_reset(config_path: str, model_id: str, job: str | None) -> None:
    """Drop a model's open windows so that it restarts under changed window settings.

    Closed windows stay; consumer positions stay (they are shared by every model), so the
    model's open windows restart empty from the current position.
    """
    from monitor.store.settings import reset_model

    cfg = _load(config_path)
    _model(cfg, model_id)
    job = job or cfg.kafka.group_id
    reset_model(_store(cfg), job, model_id)
    click.echo(f"reset the open windows of {model_id} in job {job}; closed windows are kept")


@main.group("topics")
def topics_group() -> None:
    """Kafka topics."""


@topics_group.command("create")
@config_option
@click.option("--bootstrap-servers", default=None, help="Overrides kafka.bootstrap_servers.")
def topics_create(config_path: str, bootstrap_servers: str | None) -> None:
    """Create every configured topic with kafka.partitions partitions (idempotent)."""
    from monitor.kafka.topics import client_config, create_topics

    cfg = _load(config_path)
    overrides = {"bootstrap.servers": bootstrap_servers} if bootstrap_servers else {}
    names = create_topics(client_config(cfg, **overrides), cfg)
    click.echo(f"topics ready ({cfg.kafka.partitions} partitions): {', '.join(names)}")


@main.command("generate")
@config_option
@click.option(
    "--model", "-m", "model_id", default=None, help="Default: the first configured model."
)
@click.option("--version", "model_version", default="v1", show_default=True)
@click.option(
    "--rate", type=float, default=100.0, show_default=True, help="Predictions per second."
)
@click.option(
    "--events",
    type=int,
    default=None,
    help="Stop after this many predictions (default: run until Ctrl-C).",
)
@click.option(
    "--drift",
    "drifts",
    multiple=True,
    help=(
        "FEATURE=SHIFT@AFTER[/KEY=VALUE], e.g. num_03=0.5@2m or num_03=0.5@2m/region=us "
        "(repeatable)."
    ),
)
@click.option(
    "--segment",
    "segments",
    multiple=True,
    help="KEY=V1,V2,...: each event takes one of the values (repeatable).",
)
@click.option("--label-delay", default="30s", show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--bootstrap-servers", default=None, help="Overrides kafka.bootstrap_servers.")
def generate_cmd(
    config_path: str,
    model_id: str | None,
    model_version: str,
    rate: float,
    events: int | None,
    drifts: tuple[str, ...],
    segments: tuple[str, ...],
    label_delay: str,
    seed: int,
    bootstrap_servers: str | None,
) -> None:
    """Produce a live synthetic stream (predictions and delayed labels) through the SDK."""
    from monitor.client import MonitorClient
    from monitor.config import parse_duration_ms
    from monitor.generate import parse_drift, parse_segment, run_generator, stream_for

    cfg = _load(config_path)
    model_id = model_id or next(iter(cfg.models))
    model = _model(cfg, model_id)
    servers = bootstrap_servers or cfg.kafka.bootstrap_servers
    if not servers:  # the development broker `monitor run` started in this directory
        from monitor.kafka.broker import read_address

        servers = read_address()
    try:
        drift = tuple(parse_drift(d, rate) for d in drifts)
        spec = stream_for(
            model_id,
            model,
            rate,
            drift,
            seed,
            int(time.time() * 1000),
            tuple(parse_segment(s) for s in segments),
        )
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--drift/--segment") from None
    topics = model.topics
    client = MonitorClient(
        servers,
        model_id=model_id,
        model_version=model_version,
        predictions_topic=topics.predictions or "predictions",
        labels_topic=topics.labels or "labels",
        producer_config=dict(cfg.kafka.client),
    )
    click.echo(
        f"producing {model_id} {model_version} at {rate:g}/s to {servers}"
        + (f" with drift {', '.join(drifts)}" if drifts else "")
    )
    try:
        stats = run_generator(
            client, spec, rate, events=events, label_delay_s=parse_duration_ms(label_delay) / 1000
        )
    except KeyboardInterrupt:
        click.echo("stopped")
        return
    finally:
        client.close()
    click.echo(f"produced {stats.predictions} predictions and {stats.labels} labels")


# -- demo ---------------------------------------------------------------------------------------
@main.command("demo")
@click.option(
    "--replay",
    "use_replay",
    is_flag=True,
    help="Replay a generated file instead of the live stream.",
)
@click.option("--events", default=60_000, show_default=True, help="Events to generate (--replay).")
@click.option("--seconds", default=60.0, show_default=True, help="How long the live stream runs.")
@click.option("--rate", default=500.0, show_default=True, help="Predictions per second (live).")
@click.option("--workdir", type=click.Path(file_okay=False), default="demo", show_default=True)
def demo_cmd(use_replay: bool, events: int, seconds: float, rate: float, workdir: str) -> None:
    """A stream with drift injected into three features, monitored on embedded defaults:
    live through the embedded broker (default) or replayed from a file."""
    from monitor.demo import run_demo, run_live_demo

    if use_replay:
        run_demo(Path(workdir), events)
    else:
        run_live_demo(Path(workdir), seconds, rate)


# -- report -------------------------------------------------------------------------------------
@main.command("report")
@config_option
@click.option("--model", "-m", "model_id", required=True)
@click.option(
    "--version",
    "-v",
    "model_version",
    default=None,
    help="One model version (default: every version with windows).",
)
@click.option(
    "--since", default=None, help="RFC 3339 time, epoch ms, or a duration ago such as 7d."
)
@click.option(
    "--max-windows",
    type=click.IntRange(min=1),
    default=200,
    show_default=True,
    help="The most recent windows shown per version.",
)
@click.option(
    "--statistic", default=None, help="Statistic of the heatmap (default: psi when configured)."
)
@click.option(
    "--window",
    "at",
    default=None,
    help="Detail the window holding this time (RFC 3339, epoch ms or a duration ago; default: "
    "the worst window).",
)
@click.option(
    "--out",
    "-o",
    type=click.Path(dir_okay=False, writable=True),
    default="report.html",
    show_default=True,
)
def report_cmd(
    config_path: str,
    model_id: str,
    model_version: str | None,
    since: str | None,
    max_windows: int,
    statistic: str | None,
    at: str | None,
    out: str,
) -> None:
    """Write one self-contained HTML page about a model: drift per feature over time and per
    segment, every feature of the worst window (or the one asked for) with reference vs current
    for those not ok, performance and alerts."""
    from monitor.report import NoSuchWindow, write_report

    cfg = _load(config_path)
    _model(cfg, model_id)
    try:
        data = write_report(
            cfg,
            _store(cfg),
            model_id,
            Path(out),
            version=model_version,
            since_ms=_since_ms(since),
            max_windows=max_windows,
            statistic=statistic,
            at_ms=_since_ms(at),
        )
    except NoSuchWindow as exc:
        raise click.BadParameter(str(exc), param_hint="--window") from None
    windows = sum(len(v.windows) for v in data.versions)
    click.echo(f"wrote {out}: {model_id}, {windows} windows in {len(data.versions)} version(s)")


# -- alerts -------------------------------------------------------------------------------------
from monitor.alerts.cli import alerts_group

main.add_command(alerts_group)

if __name__ == "__main__":
    main()
