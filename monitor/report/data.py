"""What the report shows, read from the store: per model version its windows (the whole
population and each segment), the window the page details (the worst one), the reference
profile, late events; and the model's performance and alert spans.

>>> from monitor.config import parse_config
>>> from monitor.store import Store
>>> cfg = parse_config({"models": {"m": {"features": {"x": {"kind": "numeric"}}}}})
>>> store = Store("sqlite://"); store.upgrade()
>>> collect(cfg, store, "m").versions
[]
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from monitor.config import Config, ModelConfig, Threshold
from monitor.drift import SEVERITIES, margin
from monitor.layout import PREDICTION, SCORE
from monitor.reference import ReferenceProfile
from monitor.store import Store
from monitor.store.windows import late_in

__all__ = [
    "HEAT_STATISTICS",
    "NoSuchWindow",
    "ReportData",
    "VersionData",
    "collect",
    "rank",
    "worst",
]

#: Statistics a heatmap can colour by (higher is worse), in order of preference.
HEAT_STATISTICS = ("psi", "js", "wasserstein", "ks", "chi2")

Row = dict[str, Any]


class NoSuchWindow(ValueError):
    """No window shown holds the instant asked for."""


@dataclass
class VersionData:
    """What the report shows of one model version."""

    version: str
    windows: list[tuple[int, int]]  # (start, end), oldest first
    cells: dict[tuple[str, int], Row]  # (feature, window start) -> window row
    summaries: list[Row]
    features: list[str]
    reference: ReferenceProfile | None
    selected: tuple[int, int]  # the window detailed: the worst one, unless one was asked for
    asked: bool  # whether ``selected`` is the window asked for (``at_ms``)
    late: dict[int, int] = field(default_factory=dict)  # window start -> late events
    segments: dict[str, list[Row]] = field(default_factory=dict)  # segment -> summaries
    # (segment, feature) -> the segment's worst row of the feature over the windows shown
    segment_worst: dict[tuple[str, str], Row] = field(default_factory=dict)

    def rows_of(self, start: int) -> list[Row]:
        """The rows of the window starting at ``start``, worst first."""
        rows = [r for f in self.features if (r := self.cells.get((f, start))) is not None]
        return sorted(rows, key=rank, reverse=True)


@dataclass
class ReportData:
    model_id: str
    model: ModelConfig
    statistic: str
    threshold: Threshold | None
    versions: list[VersionData]
    performance: list[Row]
    alerts: list[Row]
    generated_ms: int


def rank(row: Row) -> tuple[int, float]:
    """How bad a window row is: its severity, then how far the value that decided it is past
    its threshold (for an ok row, how close it is to its warning one), as in
    :func:`monitor.drift.decide`.

    >>> ok = {"severity": "ok", "decided_by": None}
    >>> bad = {"severity": "critical", "decided_by": {"statistic": "psi", "value": 0.5,
    ...        "threshold": 0.25, "severity": "critical"}}
    >>> rank(ok) < rank(bad), rank(bad)
    (True, (2, 2.0))
    """
    decided = row["decided_by"]
    return SEVERITIES.index(row["severity"]), margin(decided) if decided else 0.0


def worst(rows: list[Row]) -> Row:
    """The worst of ``rows`` by :func:`rank`; the latest window on ties."""
    return max(rows, key=lambda r: (rank(r), r["window_start"]))


def collect(
    config: Config,
    store: Store,
    model_id: str,
    *,
    version: str | None = None,
    since_ms: int | None = None,
    max_windows: int = 200,
    statistic: str | None = None,
    at_ms: int | None = None,
) -> ReportData:
    """Read what the report shows from ``store`` (the last ``max_windows`` windows per version).
    The window detailed is the worst one, or with ``at_ms`` the latest window holding that
    instant (:class:`NoSuchWindow` when no version shown has one)."""
    model = config.model(model_id)
    stat = statistic or next((s for s in HEAT_STATISTICS if s in model.statistics), "psi")
    rows = store.windows(model_id, since_ms=since_ms, version=version, segment=None)
    summaries = [
        s
        for s in store.summaries(model_id, since_ms, segment=None)
        if version is None or s["model_version"] == version
    ]
    late = store.late_counts(model_id)
    versions = []
    for v in sorted({r["model_version"] for r in rows if not r["segment"]}):
        vrows = [r for r in rows if r["model_version"] == v]
        whole = [r for r in vrows if not r["segment"]]
        windows = sorted({(r["window_start"], r["window_end"]) for r in whole})[-max_windows:]
        first = windows[0][0]
        whole = [r for r in whole if r["window_start"] >= first]
        shown = [r for r in vrows if r["window_start"] >= first]
        present = {r["feature"] for r in whole}
        order = [*model.features, SCORE, PREDICTION]
        holding = [w for w in windows if at_ms is not None and w[0] <= at_ms < w[1]]
        chosen = worst(
            [r for r in whole if holding and r["window_start"] == holding[-1][0]] or whole
        )
        late_of = {s: late_in(late, v, s, e) for s, e in windows}
        vsum = [s for s in summaries if s["model_version"] == v and s["window_start"] >= first]
        versions.append(
            VersionData(
                v,
                windows,
                {(r["feature"], r["window_start"]): r for r in whole},
                [s for s in vsum if not s["segment"]],
                [f for f in order if f in present] + sorted(present - set(order)),
                store.get_reference(model_id, v, chosen["reference_version"]),
                (chosen["window_start"], chosen["window_end"]),
                bool(holding),
                late_of,
                _by_segment([s for s in vsum if s["segment"]]),
                _worst_per_cell(shown),
            )
        )
    if at_ms is not None and not any(v.asked for v in versions):
        raise NoSuchWindow(f"no window shown holds {at_ms} (epoch ms); see `monitor windows`")
    versions.sort(key=lambda d: d.windows[-1][1], reverse=True)
    return ReportData(
        model_id,
        model,
        stat,
        model.threshold(stat),
        versions,
        store.performance(model_id),
        _alert_spans(store, model_id),
        int(time.time() * 1000),
    )


def _by_segment(summaries: list[Row]) -> dict[str, list[Row]]:
    out: dict[str, list[Row]] = {}
    for s in sorted(summaries, key=lambda s: s["window_start"]):
        out.setdefault(s["segment"], []).append(s)
    return out


def _worst_per_cell(rows: list[Row]) -> dict[tuple[str, str], Row]:
    """(segment, feature) -> its worst row; segment "" is the whole population."""
    groups: dict[tuple[str, str], list[Row]] = {}
    for r in rows:
        groups.setdefault((r["segment"], r["feature"]), []).append(r)
    return {key: worst(group) for key, group in groups.items()}


def _alert_spans(store: Store, model_id: str) -> list[Row]:
    from monitor.alerts.queries import alert_spans

    with store.tx() as conn:
        return alert_spans(conn, model_id)
