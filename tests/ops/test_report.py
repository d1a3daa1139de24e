"""``monitor report``: a self-contained HTML page, rendered in headless Chromium.

Screenshots land in ``$MONITOR_REPORT_SCREENSHOTS`` when set (to look at them), else in the
test's temporary directory.
"""

from __future__ import annotations

import os
import re
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner
from sqlalchemy import update

from monitor.cli import main
from monitor.config import load_config
from monitor.reference import ReferenceProfile
from monitor.replay import replay
from monitor.report import collect, render
from monitor.store import Store, schema
from monitor.synth import (
    DriftSpec,
    FeatureSpec,
    StreamSpec,
    default_features,
    generate,
    reference_rows,
    to_jsonl,
)
from tests.helpers import rows_of
from tests.ops.conftest import need

FEATURES = (
    *default_features(6, {"cat10": 10, "cat50": 50}),
    FeatureSpec("num_missing", "numeric", missing_rate=0.05),
)
#: 40 two-minute windows; drift: num_02 +0.5 std from window 20, num_04 +1 std from 28, 30% of
#: cat10 unseen from 24.
SPEC = StreamSpec(
    features=FEATURES,
    model_id="demo",
    interval_ms=100,
    drift=(
        DriftSpec("num_02", 0.5, 24_000),
        DriftSpec("num_04", 1.0, 33_600),
        DriftSpec("cat10", 0.3, 28_800),
    ),
    seed=11,
)
EVENTS = 48_000
#: Event i is in segment REGIONS[i % 3] of the key region (eu twice as often as us).
REGIONS = ("eu", "us", "eu")


@pytest.fixture(scope="module")
def replayed(tmp_path_factory) -> tuple[Path, Store]:
    tmp = tmp_path_factory.mktemp("report")
    config = {
        "database_url": f"sqlite:///{tmp / 'monitor.db'}",
        "models": {
            "demo": {
                "window": "2m",
                "reference": {"baseline_events": 0, "fine_bins": 500},
                "features": {f.name: {"kind": f.kind} for f in FEATURES},
                "segments": {"keys": ["region"]},
                "min_events": 300,
            }
        },
    }
    path = tmp / "monitor.yaml"
    path.write_text(yaml.safe_dump(config))
    cfg = load_config(path)
    store = Store(cfg.database_url)
    store.upgrade()
    model = cfg.models["demo"]
    rows = rows_of(reference_rows(SPEC, 30_000))
    rows["region"] = [REGIONS[i % 3] for i in range(30_000)]
    store.save_reference(
        ReferenceProfile.for_model("demo", "*", model, rows, source="reference.jsonl")
    )
    events = tmp / "events.jsonl"
    lines = b"".join(
        to_jsonl(SPEC, generate(SPEC, 12_000, o)) for o in range(0, EVENTS, 12_000)
    ).splitlines()
    events.write_bytes(
        b"".join(
            line[:-1] + b',"segments":{"region":"%s"}}\n' % REGIONS[i % 3].encode()
            for i, line in enumerate(lines)
        )
    )
    replay(cfg, store, [events])
    return path, store


def screenshot(html: Path, name: str, tmp_path: Path, height: int = 2000) -> Path:
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


def test_report_command_writes_a_self_contained_page(replayed, tmp_path):
    config, store = replayed
    out = tmp_path / "report.html"
    result = CliRunner().invoke(
        main, ["report", "--config", str(config), "--model", "demo", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"wrote {out}: demo, 40 windows in 1 version(s)"
    page = out.read_text()
    # Self-contained: no script, no stylesheet or image fetched from anywhere.
    assert "<script" not in page and "<link" not in page and "<img" not in page
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", page)
    assert "url(http" not in page
    # The heatmap: one cell per column and window (9 features + score + prediction, x 40).
    heat = page[page.index('<svg class="chart heat"') :]
    heat = heat[: heat.index("</svg>")]
    assert heat.count("<rect") == 11 * 40 + 1  # + the baseline pattern
    # Reference vs current for the drifted features only, worst first.
    cards = re.findall(r'<div class="card feature"><h3>(\w+) ', page)
    worst = {f: max(r["statistics"]["psi"] for r in store.windows("demo", f)) for f in cards}
    assert set(cards[:3]) == {"num_02", "num_04", "cat10"}  # the injected drift is the worst
    assert cards == sorted(cards, key=lambda f: -worst[f]) and "num_00" not in cards
    assert "cat10_new" in page  # the unseen category, by name
    assert "No performance recorded" in page and "No alerts recorded" in page  # no labels topic
    # Drift per segment: the share over time and each segment's latest window.
    segments = page[page.index("<h2>Drift per segment") :]
    latest = dict(
        re.findall(
            r"<tr><th>(region=\w+)</th>.*?<td>([\w, ]+)</td></tr>",
            segments[: segments.index("</table>")],
        )
    )
    assert set(latest) == {"region=eu", "region=us"}  # no event outside them: no "other" window
    expected = {
        s["segment"]: ", ".join(s["drifted_features"]) or "none"
        for s in store.summaries("demo", segment=None)
        if s["segment"] and s["window_end"] == max(w["window_end"] for w in store.summaries("demo"))
    }
    assert latest == expected
    assert "num_04" in latest["region=eu"] and "num_04" in latest["region=us"]
    screenshot(out, "report.png", tmp_path, height=2600)


def test_report_options_select_version_and_windows(replayed, tmp_path):
    config, _ = replayed
    out = tmp_path / "r.html"
    result = CliRunner().invoke(
        main,
        [
            "report",
            "-c",
            str(config),
            "-m",
            "demo",
            "--version",
            "v1",
            "--max-windows",
            "5",
            "--statistic",
            "js",
            "-o",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "5 windows" in result.output and "Heatmap statistic: js" in out.read_text()
    result = CliRunner().invoke(main, ["report", "-c", str(config), "-m", "nope", "-o", str(out)])
    assert result.exit_code == 2 and "no model 'nope'" in result.output


class _WithHistory(Store):
    """A store whose performance rows are made up (the replayed stream has no labels)."""

    def performance(self, model_id):
        rows = []
        for s in self.summaries(model_id):
            late = s["window_start"] >= self.summaries(model_id)[24]["window_start"]
            rows.append(
                {
                    "model_version": s["model_version"],
                    "window_start": s["window_start"],
                    "window_end": s["window_end"],
                    "metric": "accuracy",
                    "realized": 0.81 - (0.07 if late else 0),
                    "estimated": 0.80 - (0.02 if late else 0),
                }
            )
        return rows


def test_report_shows_performance_and_window_histograms(replayed, tmp_path):
    """Performance rows and the per-window histogram the engine is to persist
    (docs/operations.md), computed here from the raw events."""
    config, store = replayed
    cfg = load_config(config)
    rich = _WithHistory(store.url)
    reference = rich.get_reference("demo", "v1")
    last = max(r["window_start"] for r in rich.windows("demo"))
    events = generate(SPEC, EVENTS)
    in_window = (events.timestamp >= last) & (events.timestamp < last + 120_000)
    num = reference.columns["num_04"]
    starts = (np.arange(10) * num.inner_bins) // 10
    edges = num.edges[np.append(starts, num.inner_bins)]
    values = events.numeric[in_window, events.numeric_names.index("num_04")]
    counts = np.bincount(
        np.searchsorted(edges, values[np.isfinite(values)], side="right"), minlength=edges.size + 1
    )
    cat = reference.columns["cat10"]
    labels = events.categorical[events.categorical_names.index("cat10")][in_window]
    cat_counts = [int((labels == v).sum()) for v in cat.vocab] + [
        int(sum(v not in cat.index for v in labels if v is not None))
    ]
    t = schema.windows
    with rich.engine.begin() as conn:
        for feature, hist in (
            ("num_04", {"edges": edges.tolist(), "counts": counts.tolist()}),
            ("cat10", {"counts": cat_counts}),
        ):
            key = (
                t.c.model_id == "demo",
                t.c.segment == "",
                t.c.feature == feature,
                t.c.window_start == last,
            )
            row = conn.execute(t.select().where(*key)).mappings().one()
            conn.execute(
                update(t).where(*key).values(quality={**row["quality"], "histogram": hist})
            )
    page = render(collect(cfg, rich, "demo"))
    assert "Reference and window shares over the same bins." in page
    assert "No performance recorded" not in page and "accuracy" in page
    out = tmp_path / "rich.html"
    out.write_text(page)
    screenshot(out, "report-with-history.png", tmp_path, height=4400)


def test_the_report_draws_the_alert_timeline_from_real_alert_history(tmp_path) -> None:
    """Rules fire on a real replay into a real store; the report reads their transitions (it
    crashed on exactly this before: KeyError 'started_ms', rc 1)."""
    path = tmp_path / "monitor.yaml"
    config = {
        "database_url": f"sqlite:///{tmp_path / 'monitor.db'}",
        "checkpoint_interval": 0,
        "models": {
            "demo": {
                "window": "2m",
                "reference": {"baseline_events": 0, "fine_bins": 500},
                "features": {f.name: {"kind": f.kind} for f in FEATURES},
                "min_events": 300,
                "rules": [
                    {"name": "drift", "kind": "feature_drift", "warning": 0.1, "critical": 0.25},
                ],
            }
        },
    }
    path.write_text(yaml.safe_dump(config))
    cfg = load_config(path)
    store = Store(cfg.database_url)
    store.upgrade()
    rows = rows_of(reference_rows(SPEC, 30_000))
    store.save_reference(ReferenceProfile.for_model("demo", "*", cfg.models["demo"], rows))
    events = tmp_path / "events.jsonl"
    events.write_bytes(to_jsonl(SPEC, generate(SPEC, EVENTS)))
    replay(cfg, store, [events])
    data = collect(cfg, store, "demo")
    fired = {a["feature"] for a in data.alerts}
    assert {"num_02", "num_04", "cat10"} <= fired, data.alerts
    assert all(a["rule"] == "drift" and a["started_ms"] > 0 for a in data.alerts)
    out = tmp_path / "report.html"
    result = CliRunner().invoke(main, ["report", "-c", str(path), "-m", "demo", "-o", str(out)])
    assert result.exit_code == 0, result.output
    page = out.read_text()
    assert "No alerts recorded" not in page and "drift · num_04 (v1)" in page
    screenshot(out, "report-with-alerts.png", tmp_path, height=4400)
