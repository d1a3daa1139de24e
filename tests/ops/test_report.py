"""``monitor report``: a self-contained HTML page from a real store (SQLite and PostgreSQL)
holding what a real replay wrote (windows, segments, performance from joined labels, alert
transitions), rendered in headless Chromium.

Screenshots land in ``$MONITOR_REPORT_SCREENSHOTS`` when set (to look at them), else in the
test's temporary directory.
"""

from __future__ import annotations

import os
import re
import struct
import subprocess
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from monitor.cli import main
from monitor.config import load_config
from monitor.pipeline.files import replay
from monitor.reference import ReferenceProfile
from monitor.report import collect, render
from monitor.report.data import rank
from monitor.report.fmt import num, when
from monitor.store import Store
from monitor.synth import (
    DriftSpec,
    FeatureSpec,
    StreamSpec,
    default_features,
    generate,
    labels_to_jsonl,
    reference_rows,
    to_jsonl,
)
from tests.helpers import rows_of
from tests.ops.conftest import need

FEATURES = (
    *default_features(6, {"cat10": 10, "cat50": 50}),
    FeatureSpec("num_missing", "numeric", missing_rate=0.05),
)
#: 20 two-minute windows of 2,400 events; drift: num_02 +0.5 std from window 5, cat10 30% unseen
#: from 10, num_04 +1 std from 14, and num_05 +0.4 std from 8 in segment region=us only (a third
#: of the events: too diluted to flag in the whole population).
SPEC = StreamSpec(
    features=FEATURES,
    model_id="demo",
    interval_ms=50,
    drift=(
        DriftSpec("num_02", 0.5, 12_000),
        DriftSpec("cat10", 0.3, 24_000),
        DriftSpec("num_04", 1.0, 33_600),
        DriftSpec("num_05", 0.4, 19_200, "region=us"),
    ),
    segments=(("region", ("eu", "us", "apac")),),
    seed=11,
)
EVENTS = 48_000


def _replayed(tmp: Path, db_url: str, spec: StreamSpec = SPEC, events: int = EVENTS) -> Path:
    """A config, a reference and a replay of ``events`` events of ``spec`` with their labels,
    into the store at ``db_url``, with a drift rule that fires."""
    config = {
        "database_url": db_url,
        "checkpoint_interval": 0,
        "models": {
            spec.model_id: {
                "window": "2m",
                "reference": {"baseline_events": 0, "fine_bins": 500},
                "features": {f.name: {"kind": f.kind} for f in spec.features},
                "segments": {"keys": ["region"]},
                "min_events": 300,
                "topics": {"labels": "labels"},
                "labels": {"horizon": "1h"},  # every window gets its labels
                "rules": [
                    {"name": "drift", "kind": "feature_drift", "warning": 0.1, "critical": 0.25}
                ],
            }
        },
    }
    path = tmp / "monitor.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True))
    cfg = load_config(path)
    store = Store(cfg.database_url)
    store.upgrade()
    ref = reference_rows(spec, 30_000)
    rows = rows_of(ref)
    rows["region"] = ref.segments["region"].tolist()
    model = cfg.models[spec.model_id]
    store.save_reference(ReferenceProfile.for_model(spec.model_id, "*", model, rows))
    cols = generate(spec, events)
    (tmp / "events.jsonl").write_bytes(to_jsonl(spec, cols))
    (tmp / "labels.jsonl").write_bytes(labels_to_jsonl(spec, cols))
    replay(cfg, store, [tmp / "events.jsonl"], labels=[tmp / "labels.jsonl"])
    store.engine.dispose()
    return path


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def replayed(request, tmp_path_factory) -> Path:
    """The config of a replayed model, its store on SQLite or on PostgreSQL."""
    tmp = tmp_path_factory.mktemp("report")
    if request.param == "sqlite":
        return _replayed(tmp, f"sqlite:///{tmp / 'monitor.db'}")
    url = request.getfixturevalue("pg_url_module")
    return _replayed(tmp, url)


def screenshot(html: Path, name: str, tmp_path: Path, height: int) -> Path:
    out = Path(os.environ.get("MONITOR_REPORT_SCREENSHOTS") or tmp_path) / name
    out.parent.mkdir(parents=True, exist_ok=True)
    out.unlink(missing_ok=True)
    subprocess.run(
        [
            need("chromium"),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            f"--screenshot={out}",
            f"--window-size=1400,{height}",
            html.resolve().as_uri(),
        ],
        capture_output=True,
        timeout=60,
        check=True,
    )
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
    assert struct.unpack(">II", data[16:24]) == (1400, height)
    return out


def _section(page: str, start: str, end: str = "</section>") -> str:
    part = page[page.index(start) :]
    return part[: part.index(end)]


def test_report_command_writes_a_self_contained_page(replayed, request, tmp_path):
    out = tmp_path / "report.html"
    result = CliRunner().invoke(
        main, ["report", "--config", str(replayed), "--model", "demo", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"wrote {out}: demo, 20 windows in 1 version(s)"
    page = out.read_text()
    # Self-contained: no script, no stylesheet or image fetched from anywhere.
    assert "<script" not in page and "<link" not in page and "<img" not in page
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", page)
    assert "url(http" not in page
    # The heatmap: one cell per column and window (9 features + score + prediction, x 20), the
    # baseline pattern and the frame of the window detailed.
    heat = _section(page, '<svg class="chart heat"', "</svg>")
    assert heat.count("<rect") == 11 * 20 + 2
    # Performance from the joined labels, and the alerts the drift rule raised.
    cfg = load_config(replayed)
    store = Store(cfg.database_url)
    accuracy = [r for r in store.performance("demo") if r["metric"] == "accuracy"]
    store.engine.dispose()
    assert len(accuracy) == 20 and all(r["realized"] is not None for r in accuracy)
    assert "No performance recorded" not in page and "accuracy" in page
    assert "No alerts recorded" not in page and "drift · num_04 (v1)" in page
    shot = "report-sqlite.png" if "sqlite" in request.node.callspec.id else "report-pg.png"
    screenshot(out, shot, tmp_path, height=5200)


def test_the_window_detailed_is_the_worst_not_the_latest(replayed):
    cfg = load_config(replayed)
    store = Store(cfg.database_url)
    data = collect(cfg, store, "demo")
    (v,) = data.versions
    rows = store.windows("demo")
    store.engine.dispose()

    # The worst window: the highest severity, then the value furthest past its threshold (here
    # every deciding statistic grows with drift); not the latest one.
    def past(r):
        return r["decided_by"]["value"] / r["decided_by"]["threshold"]

    critical = [r for r in rows if r["severity"] == "critical"]
    worst = max(critical, key=past)
    assert v.selected == (worst["window_start"], worst["window_end"]) != v.windows[-1]
    page = render(data)
    head = re.search(r"<h2>Window (.*?) UTC <span class=\"sub\">(.*?)</span></h2>", page)
    assert head and head[2].startswith(
        f"the worst of 20 windows shown: critical, decided by {worst['feature']} "
        f"({worst['decided_by']['statistic']} {num(past(worst), 2)}× its threshold)"
    )
    # The table lists every feature of that window, worst first, with its verdict.
    table = _section(page, '<table class="stats features">', "</table>")
    names = re.findall(r'<tr><th title="([^"]+)">', table)
    in_window = [r for r in rows if r["window_start"] == worst["window_start"]]
    assert names == [r["feature"] for r in sorted(in_window, key=rank, reverse=True)]
    assert len(names) == 11 and names[0] == worst["feature"]
    assert "psi<small>≥ 0.1 / ≥ 0.25</small>" in table  # psi's thresholds, under its name
    assert "psi=" in table and "critical" in table
    # Reference vs current for the features not ok in it, worst first.
    cards = re.findall(r'<div class="card feature"><h3 title="([^"]+)"', page)
    assert (
        cards
        == [
            n
            for n, r in zip(names, sorted(in_window, key=rank, reverse=True))
            if r["severity"] != "ok"
        ][: len(cards)]
    )
    assert {"num_02", "num_04", "cat10"} <= set(cards)
    assert "cat10_new" in page  # the unseen category, by name
    # Numeric bins (reference deciles) drawn with their true widths, and said so.
    assert "each drawn as wide as it is" in page and "share ÷ bin width" in page


def test_segment_only_drift_shows_in_the_segments_heatmap(replayed):
    cfg = load_config(replayed)
    store = Store(cfg.database_url)
    data = collect(cfg, store, "demo")
    store.engine.dispose()
    (v,) = data.versions
    # num_05 drifted in region=us only: flagged there, ok in the whole population.
    assert v.segment_worst[("region=us", "num_05")]["severity"] != "ok"
    assert v.segment_worst[("", "num_05")]["severity"] == "ok"
    assert v.segment_worst[("region=eu", "num_05")]["severity"] == "ok"
    page = render(data)
    segments = _section(page, "<h2>Drift per segment", "</table>")
    # Rows: the whole population first, then each segment; columns: every feature.
    svg = _section(segments, '<svg class="chart heat"', "</svg>")
    labels = re.findall(r'class="label" text-anchor="end"[^>]*><title>([^<]+)</title>', svg)
    assert labels == ["the whole population", "region=apac", "region=eu", "region=us"]
    assert svg.count('class="cellnum"') == 4 * 11
    only = dict(
        re.findall(r'<tr><th title="(region=\w+)">.*?<td class="\w*">([^<]+)</td></tr>', segments)
    )
    # (cat50's 50 categories in ~800 events per segment put its PSI near 0.1 by noise alone.)
    assert set(only) == {"region=apac", "region=eu", "region=us"}
    assert ["num_05" in only[s] for s in sorted(only)] == [False, False, True]


def test_time_ticks_fall_on_window_boundaries(replayed):
    cfg = load_config(replayed)
    store = Store(cfg.database_url)
    page = render(collect(cfg, store, "demo"))
    store.engine.dispose()
    labels = re.findall(
        r'class="tick" text-anchor="\w+">(\d\d-\d\d \d\d:\d\d(?::\d\d)?)</text>', page
    )
    assert labels
    # Every time label is a window boundary (2m windows from 00:00) and round: every 10 minutes.
    minutes = {int(t[9:11]) for t in labels}
    assert minutes <= {0, 10, 20, 30, 40, 50}, labels


@pytest.fixture(scope="module")
def pg_url_module():
    """A fresh PostgreSQL database for the module's tests, dropped afterwards."""
    import uuid

    from sqlalchemy import create_engine, text

    from tests.conftest import PG_ADMIN_URL

    name = f"monitor_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


#: Names a hostile producer (versions, segment values) or a careless config (feature names)
#: can give: markup, quotes, and long non-ASCII text.
HOSTILE_FEATURE = "<script>alert('f')</script>"
LONG_FEATURE = "température_moyenne_du_capteur_" + "日本語の特徴量名" * 8
HOSTILE_VERSION = "'><img src=x onerror=alert(1)>"
HOSTILE_SEGMENT = "<script>alert('s')</script>"


def test_text_from_events_and_config_is_escaped_everywhere(tmp_path):
    spec = StreamSpec(
        features=(
            FeatureSpec(HOSTILE_FEATURE, "numeric"),
            FeatureSpec(LONG_FEATURE, "numeric"),
            FeatureSpec("plain", "categorical", levels=5),
        ),
        model_id="demo",
        model_version=HOSTILE_VERSION,
        interval_ms=100,
        drift=(DriftSpec(HOSTILE_FEATURE, 1.0, 6_000), DriftSpec(LONG_FEATURE, 1.0, 6_000)),
        segments=(("region", (HOSTILE_SEGMENT, "eu")),),
        seed=3,
    )
    path = _replayed(tmp_path, f"sqlite:///{tmp_path / 'monitor.db'}", spec, 12_000)
    out = tmp_path / "hostile.html"
    result = CliRunner().invoke(main, ["report", "-c", str(path), "-m", "demo", "-o", str(out)])
    assert result.exit_code == 0, result.output
    page = out.read_text()
    assert "<script" not in page and "<img" not in page and "onerror=alert(1)>" not in page
    assert "&lt;script&gt;alert(&#x27;f&#x27;)&lt;/script&gt;" in page  # the feature, escaped
    assert "&lt;script&gt;alert(&#x27;s&#x27;)&lt;/script&gt;" in page  # the segment value
    assert "&#x27;&gt;&lt;img src=x onerror=alert(1)&gt;" in page  # the version
    assert LONG_FEATURE in page  # whole in tooltips, cut where space is short
    screenshot(out, "report-hostile.png", tmp_path, height=3600)


def test_the_window_detailed_can_be_asked_for(replayed, tmp_path):
    cfg = load_config(replayed)
    store = Store(cfg.database_url)
    (v,) = collect(cfg, store, "demo").versions
    store.engine.dispose()
    start, end = v.windows[3]  # before any drift: every feature ok
    out = tmp_path / "r.html"
    args = ["report", "-c", str(replayed), "-m", "demo", "-o", str(out)]
    result = CliRunner().invoke(main, [*args, "--window", str(start + 1)])
    assert result.exit_code == 0, result.output
    page = out.read_text()
    assert f"<h2>Window {when(start)} – {when(end)} UTC" in page
    assert "the window asked for: ok" in page and "Every feature is ok in this window." in page
    result = CliRunner().invoke(main, [*args, "--window", "2020-01-01T00:00:00Z"])
    assert result.exit_code == 2 and "no window shown holds 1577836800000" in result.output


def test_report_options_select_version_and_windows(replayed, tmp_path):
    out = tmp_path / "r.html"
    args = ["report", "-c", str(replayed), "-m", "demo", "--version", "v1", "--max-windows", "5"]
    result = CliRunner().invoke(main, [*args, "--statistic", "js", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "5 windows" in result.output and "Heatmap statistic: js" in out.read_text()
    result = CliRunner().invoke(main, ["report", "-c", str(replayed), "-m", "nope", "-o", str(out)])
    assert result.exit_code == 2 and "no model 'nope'" in result.output
