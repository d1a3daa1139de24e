"""The configuration: one YAML file, validated at start.

Every error names the key and the problem (``models.fraud.window: ...``). Secrets never sit in
the file: any string may reference an environment variable as ``${NAME}``, which is substituted
after parsing, so a value cannot inject YAML.

>>> cfg = Config.model_validate({"models": {"fraud": {
...     "window": "1h", "features": {"amount": {"kind": "numeric"}}}}})
>>> cfg.models["fraud"].window_ms, cfg.models["fraud"].slide_ms
(3600000, 3600000)
>>> cfg.database_url
'sqlite:///monitor.db'
"""

from __future__ import annotations

import difflib
import os
import re
import types
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import yaml
from pydantic import (
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    model_validator,
)

from monitor.exceptions import ConfigError
from monitor.limits import MAX_ID_CHARS, MAX_SEGMENT_KEY_CHARS
from monitor.stats.registry import DEFAULT_THRESHOLDS, STATISTICS

__all__ = [
    "MAX_ALLOWED_LATENESS_MS",
    "MAX_PANES_PER_WINDOW",
    "AlertsConfig",
    "ColumnsConfig",
    "Config",
    "DeliveryConfig",
    "EventTimeConfig",
    "FeatureConfig",
    "KafkaConfig",
    "ModelConfig",
    "RuleConfig",
    "SegmentsConfig",
    "SinkConfig",
    "Threshold",
    "load_config",
    "parse_config",
    "parse_duration_ms",
    "sqlite_beside",
]

_UNITS_MS = {"ms": 1, "s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$")
_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def parse_duration_ms(value: Any) -> int:
    """Parse ``"90s"``, ``"5m"``, ``"1h"``, ``"7d"``, ``"250ms"`` or a number of seconds.

    >>> parse_duration_ms("5m"), parse_duration_ms(2), parse_duration_ms("250ms")
    (300000, 2000, 250)
    """
    if isinstance(value, bool):  # ValueError, not TypeError: pydantic reports only ValueError
        raise ValueError(f"expected a duration such as '5m', got {value!r}")  # noqa: TRY004
    if isinstance(value, int | float):
        ms = round(value * 1000)
    else:
        match = _DURATION.match(str(value))
        if not match:
            raise ValueError(
                f"expected a duration such as '90s', '5m', '1h' or '7d', got {value!r}"
            )
        ms = round(float(match.group(1)) * _UNITS_MS[match.group(2)])
    if ms < 0:
        raise ValueError(f"a duration cannot be negative, got {value!r}")
    return ms


Duration = Annotated[int, BeforeValidator(parse_duration_ms)]


def parse_timestamp_ms(value: Any) -> int:
    """An RFC 3339 time or epoch milliseconds.

    >>> parse_timestamp_ms("2026-01-01T00:00:00Z"), parse_timestamp_ms(5)
    (1767225600000, 5)
    """
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    import datetime as dt

    try:
        parsed = dt.datetime.fromisoformat(str(value))  # a "Z" suffix is read since Python 3.11
    except ValueError:
        raise ValueError(
            f"expected an RFC 3339 time or epoch milliseconds, got {value!r}"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return int(parsed.timestamp() * 1000)


Timestamp = Annotated[int, BeforeValidator(parse_timestamp_ms)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Threshold(_Strict):
    """Warning and critical levels of one statistic; the direction comes from the statistic."""

    warning: float
    critical: float


#: The default thresholds as config objects, built once (they are read per column and window).
_DEFAULTS = {stat: Threshold(warning=w, critical=c) for stat, (w, c) in DEFAULT_THRESHOLDS.items()}


#: A column name in a reference file (``columns.*``, ``features.*.source``).
ColumnName = Annotated[str, Field(min_length=1, max_length=MAX_ID_CHARS)]


class FeatureConfig(_Strict):
    kind: Literal["numeric", "categorical"]
    source: ColumnName | None = Field(
        None, description="The feature's column in reference files (default: its name)."
    )


class ColumnsConfig(_Strict):
    """Where reference files hold the prediction's columns, when they name them their own way
    (``score: y_pred_proba``); None: the column has the role's name (``score``).

    >>> ColumnsConfig(score="y_pred_proba").sources()
    {'score': 'y_pred_proba'}
    """

    score: ColumnName | None = None
    prediction: ColumnName | None = None
    label: ColumnName | None = None
    timestamp: ColumnName | None = None
    prediction_id: ColumnName | None = None

    def sources(self) -> dict[str, str]:
        """The mapped roles: role -> its column in the file."""
        return {role: name for role, name in self if name is not None}


def _class(value: Any) -> str:
    """A class label as events spell it (``1``, ``1.0`` and ``"1"`` are the class ``"1"``)."""
    from monitor.values import category  # here: it loads numpy, which a read-only command needs not

    spelled = category(value)
    if spelled is None:
        raise ValueError(f"a class must be a string, a number or a boolean, got {value!r}")
    return spelled


ClassLabel = Annotated[str, BeforeValidator(_class)]


class QualityConfig(_Strict):
    """Data-quality thresholds, as shares of a window's events (absolute increase over the
    reference for the missing rate), and the test of a rise over the reference's rate: a rise
    of at least ``min_rise`` whose one-sided p-value is at most ``significance`` is a warning
    (see docs/statistics.md)."""

    missing_rate: Threshold = Threshold(warning=0.05, critical=0.2)
    out_of_range: Threshold = Threshold(warning=0.05, critical=0.2)
    unseen_share: Threshold = Threshold(warning=0.05, critical=0.2)
    significance: float = Field(
        0.001, gt=0, lt=1, description="A rise over the reference's rate this unlikely is flagged."
    )
    min_rise: float = Field(
        0.01, ge=0, le=1, description="The smallest rise the test flags (huge windows: noise is)."
    )


class ReferenceConfig(_Strict):
    fine_bins: int = Field(1000, ge=2, le=100_000)
    coarse_bins: int = Field(10, ge=2, le=1000)
    exact_bins_max_values: int = Field(
        50,
        ge=0,
        le=10_000,
        description="An integer feature with at most this many distinct reference values gets "
        "one bin per value (exact KS).",
    )
    baseline_events: int = Field(
        10_000,
        ge=0,
        description="Without a stored reference, the first N events become it (0: refuse).",
    )


class LabelsConfig(_Strict):
    """How delayed labels join their predictions and what is computed from them."""

    horizon: Duration = Field(
        30 * 86_400_000, description="Labels are awaited this long after the prediction."
    )
    max_pending: int = Field(
        1_000_000,
        ge=1000,
        description="Join records kept in memory per process (the rest are in SQL).",
    )
    task: Literal["auto", "classification", "regression"] = "auto"
    positive_class: ClassLabel = "1"
    classes: tuple[ClassLabel, ...] | None = Field(
        None, description="Class labels (default: the reference's prediction vocabulary)."
    )
    concept_drift: Literal["adwin", "page_hinkley", "kswin", "none"] = "adwin"
    score_bins: int = Field(1000, ge=10, le=100_000)


class SegmentsConfig(_Strict):
    """Drift and performance per segment: per value of each key of the events' ``segments``.

    The monitored values of a key come from the reference (see :mod:`monitor.segments`): those
    with at least ``min_reference_rows`` rows, the ``top_k`` most frequent; the rest is "other".
    """

    keys: tuple[str, ...] = Field((), description="Segment keys (from the events' segments).")
    top_k: int = Field(
        10,
        ge=1,
        le=1000,
        description="Values of a key monitored on their own; the rest count as 'other'.",
    )
    min_reference_rows: int = Field(
        100, ge=1, description="A value needs this many reference rows to be monitored on its own."
    )


class TopicsConfig(_Strict):
    predictions: str | None = "predictions"
    features: str | None = None
    labels: str | None = Field(
        None, description="The labels topic; set it to join labels and compute performance."
    )
    format: Literal["json", "avro"] = "json"


# -- alerts (rules per model; sinks, routes and delivery under ``alerts``; see docs/alerts.md)
# ------
RuleKind = Literal[
    "feature_drift",
    "prediction_drift",
    "dataset_drift",
    "data_quality",
    "performance",
    "estimated_performance",
    "label_coverage",
    "concept_drift",
    "pipeline_health",
]
#: Rule kinds evaluated per column of a closed window (one alert per feature).
COLUMN_RULE_KINDS = frozenset({"feature_drift", "prediction_drift", "data_quality"})
#: Data-quality statistics of the window as a whole, not of a column.
DATASET_QUALITY_STATISTICS = frozenset({"events", "predictions", "late_events", "late_share"})
_DEFAULT_STATISTIC = {
    "feature_drift": "psi",
    "prediction_drift": "psi",
    "dataset_drift": "drifted_share",
    "data_quality": "missing_rate",
    "label_coverage": "label_coverage",
    "concept_drift": "concept_drift",
    "pipeline_health": "silence_seconds",
}
_LOWER_IS_WORSE_KINDS = frozenset({"performance", "estimated_performance", "label_coverage"})


class RuleConfig(_Strict):
    """One alert rule of a model: a statistic, a comparison, warning and critical thresholds,
    hysteresis (``for`` breaching windows to fire, ``resolve_after`` normal windows to resolve)
    and a reminder interval (``repeat``, in event time; 0: no reminders).

    >>> r = RuleConfig.model_validate({"name": "drift", "kind": "feature_drift", "critical": 0.25})
    >>> r.statistic, r.comparison, r.for_, r.features
    ('psi', '>=', 1, ('*',))
    >>> RuleConfig.model_validate({"name": "acc", "kind": "performance", "metric": "accuracy",
    ...                            "warning": 0.9, "critical": 0.8, "for": 2}).comparison
    '<'
    """

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    name: str = Field(pattern=r"^[A-Za-z0-9_.:-]{1,100}$")
    kind: RuleKind
    statistic: str | None = Field(None, validation_alias=AliasChoices("statistic", "metric"))
    features: tuple[str, ...] = ("*",)
    comparison: Literal[">", ">=", "<", "<="] | None = None
    compare: Literal["value", "drop", "rise", "relative_drop", "relative_rise"] = "value"
    baseline: float | str | None = None
    warning: float | None = None
    critical: float | None = None
    for_: int = Field(1, ge=1, validation_alias=AliasChoices("for", "for_"))
    resolve_after: int = Field(1, ge=1)
    repeat: Duration = 0
    sinks: dict[Literal["warning", "critical"], tuple[str, ...]] = {}
    segments: bool = Field(
        False,
        description=(
            "Also judge each segment's window (window rules); the alert's subject is then "
            "'key=value' or 'key=value/feature'."
        ),
    )

    @model_validator(mode="before")
    @classmethod
    def _durations(cls, data: Any) -> Any:
        # A pipeline-health rule's thresholds are durations of silence ("15m"), kept in seconds.
        if isinstance(data, dict) and data.get("kind") == "pipeline_health":
            data = dict(data)
            for key in ("warning", "critical"):
                if data.get(key) is not None:
                    try:
                        data[key] = parse_duration_ms(data[key]) / 1000
                    except ValueError as exc:
                        raise ValueError(f"{key}: {exc}") from None
        return data

    @model_validator(mode="after")
    def _check(self) -> RuleConfig:
        stat = self.statistic or _DEFAULT_STATISTIC.get(self.kind)
        if stat is None:
            raise ValueError(
                f"statistic: a {self.kind} rule names its metric (statistic: or metric:)"
            )
        if self.warning is None and self.critical is None:
            raise ValueError("warning: a rule needs a warning or a critical threshold (or both)")
        if self.kind not in COLUMN_RULE_KINDS and self.features != ("*",):
            raise ValueError(f"features: a {self.kind} rule applies to the model, not to features")
        if not self.features:
            raise ValueError("features: name at least one feature, or '*' for every feature")
        if self.segments and self.kind not in (
            "feature_drift",
            "prediction_drift",
            "dataset_drift",
            "data_quality",
        ):
            raise ValueError(
                f"segments: a {self.kind} rule is judged on the model version; per segment "
                "are drift and data-quality rules"
            )
        if (self.compare == "value") != (self.baseline is None):
            raise ValueError(
                "baseline: needed exactly when compare is drop, rise, relative_drop or "
                "relative_rise"
            )
        comparison = self.comparison
        if comparison is None:
            if self.compare != "value":
                comparison = ">"
            elif self.kind in _LOWER_IS_WORSE_KINDS:
                comparison = "<"
            elif stat in STATISTICS and not STATISTICS[stat].higher_is_worse:
                comparison = "<="
            else:
                comparison = ">="
        higher = comparison.startswith(">")
        if (
            self.warning is not None
            and self.critical is not None
            and (self.critical < self.warning if higher else self.critical > self.warning)
        ):
            order = "critical >= warning" if higher else "critical <= warning"
            raise ValueError(f"critical: with comparison {comparison!r} expected {order}")
        object.__setattr__(self, "statistic", stat)
        object.__setattr__(self, "comparison", comparison)
        return self

    def routes(self, severity: str) -> tuple[str, ...] | None:
        """The sinks this rule names for ``severity`` (None: use ``alerts.routes``)."""
        return self.sinks.get(severity)  # type: ignore[call-overload]


#: A sliding window is merged from ``window / slide`` panes, and every pane that holds data opens
#: that many windows: past this ratio a sparse stream evaluates windows faster than it reads
#: events (1h sliding by 1s crawled at 3,000 events in 120 s).
MAX_PANES_PER_WINDOW = 500
#: Panes stay in memory and in SQL until the lateness after their last window has passed.
MAX_ALLOWED_LATENESS_MS = 7 * 86_400_000


class ModelConfig(_Strict):
    """One monitored model: its features, windows, statistics and thresholds."""

    features: dict[str, FeatureConfig]
    columns: ColumnsConfig = ColumnsConfig()
    window: Duration = 3_600_000
    slide: Duration | None = None
    allowed_lateness: Duration = 0
    window_origin: Timestamp = Field(
        0,
        description=(
            "Windows are aligned to this instant (RFC 3339 or epoch ms); default the epoch."
        ),
    )
    prediction: Literal["numeric", "categorical", "none"] = "categorical"
    score: bool = True
    statistics: tuple[str, ...] = (
        "psi",
        "ks",
        "ks_pvalue",
        "chi2",
        "chi2_pvalue",
        "js",
        "wasserstein",
    )
    thresholds: dict[str, Threshold] = {}
    drift_share: Threshold = Threshold(warning=0.1, critical=0.3)
    min_events: int = Field(
        1000,
        ge=0,
        description=(
            "A column with fewer values in a window is not judged for drift (its statistics "
            "are still reported)."
        ),
    )
    compare_previous: bool = False
    reference: ReferenceConfig = ReferenceConfig()
    quality: QualityConfig = QualityConfig()
    topics: TopicsConfig = TopicsConfig()
    rules: list[RuleConfig] = []
    labels: LabelsConfig = LabelsConfig()
    segments: SegmentsConfig = SegmentsConfig()
    max_versions: int = Field(
        20,
        ge=1,
        le=10_000,
        description="Model versions with open windows at once (per process); events of one more "
        "version are dead letters (too_many_versions) until an open one's windows close.",
    )

    @property
    def task(self) -> str:
        """classification or regression (``labels.task``, else from the prediction's kind)."""
        if self.labels.task != "auto":
            return self.labels.task
        return "regression" if self.prediction == "numeric" else "classification"

    @property
    def window_ms(self) -> int:
        return self.window

    @property
    def slide_ms(self) -> int:
        return self.slide if self.slide is not None else self.window

    @model_validator(mode="after")
    def _check(self) -> ModelConfig:
        if self.window <= 0:
            raise ValueError("window: must be positive")
        if not self.features:
            raise ValueError("features: at least one feature is needed")
        for name in self.features:
            if name in ("prediction", "score"):
                raise ValueError(f"features.{name}: the name is reserved for prediction drift")
            if len(name) > MAX_ID_CHARS:
                raise ValueError(
                    f"features.{name[:20]}...: a feature name has at most {MAX_ID_CHARS} characters"
                )
            if any(c in name for c in '"\\') or any(ord(c) < 0x20 for c in name):
                # the decoder reads features by their names as JSON keys (msgspec refuses these)
                raise ValueError(
                    f"features.{name!r}: a feature name may not contain a quote, a backslash or a "
                    "control character"
                )
        for i, key in enumerate(self.segments.keys):
            if len(key) > MAX_SEGMENT_KEY_CHARS:
                raise ValueError(
                    f"segments.keys.{i}: a segment key has at most {MAX_SEGMENT_KEY_CHARS} "
                    "characters"
                )
            if key in self.features or key in ("prediction", "score"):
                raise ValueError(
                    f"segments.keys.{i}: {key!r} is also a column; reference files hold "
                    "segments as columns, so the names must differ"
                )
        if self.slide is not None and (self.slide <= 0 or self.window % self.slide):
            raise ValueError("slide: must be positive and divide the window evenly")
        if self.window // self.slide_ms > MAX_PANES_PER_WINDOW:
            raise ValueError(
                f"slide: a window of {self.window // self.slide_ms} slides is too many (at most "
                f"{MAX_PANES_PER_WINDOW}); use a longer slide or a shorter window"
            )
        if self.allowed_lateness > MAX_ALLOWED_LATENESS_MS:
            raise ValueError(
                f"allowed_lateness: at most 7d (got {self.allowed_lateness // 1000} s): panes wait "
                "that long in memory and in SQL before their windows close"
            )
        for stat in (*self.statistics, *self.thresholds):
            if stat not in STATISTICS:
                raise ValueError(
                    f"statistics: unknown statistic {stat!r}; known: {sorted(STATISTICS)}"
                )
        for stat, th in self.thresholds.items():
            worse = STATISTICS[stat].higher_is_worse
            if (th.critical < th.warning) if worse else (th.critical > th.warning):
                order = "critical >= warning" if worse else "critical <= warning (lower is worse)"
                raise ValueError(f"thresholds.{stat}: expected {order}")
        return self

    @model_validator(mode="after")
    def _check_rules(self) -> ModelConfig:
        seen: set[str] = set()
        columns = {*self.features, "prediction", "score", "*"}
        for i, rule in enumerate(self.rules):
            if rule.name in seen:
                raise ValueError(f"rules.{i}.name: duplicate rule name {rule.name!r}")
            seen.add(rule.name)
            for feature in rule.features:
                if feature not in columns:
                    raise ValueError(
                        f"rules.{i}.features: unknown feature {feature!r}; configured: "
                        f"{sorted(self.features)}"
                    )
        return self

    @model_validator(mode="after")
    def _validate_columns(self) -> ModelConfig:
        return self._check_columns()

    def _check_columns(self) -> ModelConfig:
        """Each source column read once (also called on a copy, which pydantic does not
        validate)."""
        seen: dict[str, str] = {}
        keys = [(f"columns.{role}", name) for role, name in self.columns.sources().items()]
        keys += [
            (f"features.{n}" + (".source" if f.source else ""), f.source or n)
            for n, f in self.features.items()
        ]
        for key, name in keys:
            if name in seen:
                raise ValueError(
                    f"{key}: column {name!r} is also {seen[name]}; each column is read once"
                )
            seen[name] = key
        return self

    def sources(self) -> dict[str, str]:
        """Each monitored column and role -> its column in reference files, where they differ.

        >>> ModelConfig.model_validate(
        ...     {"features": {"amount": {"kind": "numeric", "source": "amt"}},
        ...      "columns": {"label": "repaid"}}).sources()
        {'label': 'repaid', 'amount': 'amt'}
        """
        features = {n: f.source for n, f in self.features.items() if f.source not in (None, n)}
        return {**self.columns.sources(), **features}

    def threshold(self, stat: str) -> Threshold | None:
        """The configured threshold of ``stat``, else its default, else None (reported only)."""
        if stat in self.thresholds:
            return self.thresholds[stat]
        return _DEFAULTS.get(stat)


class EmbeddedBrokerConfig(_Strict):
    """The development broker ``monitor run`` starts when ``kafka.bootstrap_servers`` is unset."""

    port: int = Field(19092, ge=0, le=65535, description="0: any free port (a new one each start).")
    storage: Literal["disk", "memory"] = Field(
        "disk", description="disk: topics survive a restart (in data_dir); memory: they do not."
    )
    data_dir: str = Field(
        ".monitor-broker",
        description="Where disk storage lives, relative to the working directory.",
    )


class KafkaConfig(_Strict):
    bootstrap_servers: str | None = Field(
        None, description="None: start the embedded Tansu broker (kafka.embedded)."
    )
    embedded: EmbeddedBrokerConfig = EmbeddedBrokerConfig()
    group_id: str = "monitor"
    dead_letter_topic: str = "monitor.dead-letters"
    partitions: int = Field(4, ge=1)
    schema_registry_url: str | None = None
    client: dict[str, str | int | float | bool] = Field(
        {}, description="librdkafka settings for every client (security.protocol, sasl.*, ssl.*)."
    )
    consumer: dict[str, str | int | float | bool] = Field(
        {}, description="librdkafka settings for the consumer only (session.timeout.ms ...)."
    )


class MetricsConfig(_Strict):
    host: str = "127.0.0.1"
    port: int = Field(9108, ge=0, le=65535)
    max_lag_events: int | None = Field(
        None,
        ge=0,
        description="/readyz fails when a partition is more than this many messages behind.",
    )


class _SinkBase(_Strict):
    timeout: Duration | None = Field(
        None, description="Overrides alerts.delivery.timeout for this sink."
    )


class SlackSinkConfig(_SinkBase):
    """A Slack incoming webhook (the URL is the secret: take it from ``${ENV}``)."""

    type: Literal["slack"]
    url: SecretStr


class WebhookSinkConfig(_SinkBase):
    """A generic JSON webhook, signed with HMAC-SHA256 over ``timestamp + "." + body``."""

    type: Literal["webhook"]
    url: SecretStr
    secret: SecretStr | None = None
    headers: dict[str, SecretStr] = {}


class _RetrainBase(_SinkBase):
    rate_limit: Duration = Field(
        86_400_000, description="At most one trigger per model per this period."
    )


class GithubSinkConfig(_RetrainBase):
    """A GitHub ``repository_dispatch`` retrain trigger."""

    type: Literal["github"]
    repository: str = Field(pattern=r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
    token: SecretStr
    event_type: str = "monitor-retrain"
    api_url: str = "https://api.github.com"


class GitlabSinkConfig(_RetrainBase):
    """A GitLab pipeline trigger (``POST /projects/:id/trigger/pipeline``)."""

    type: Literal["gitlab"]
    project: str
    token: SecretStr
    ref: str = "main"
    variables: dict[str, str] = {}
    url: str = "https://gitlab.com"


class CiWebhookSinkConfig(_RetrainBase):
    """A generic retrain trigger: the evidence as JSON, optional Bearer token and signature."""

    type: Literal["ci_webhook"]
    url: SecretStr
    token: SecretStr | None = None
    secret: SecretStr | None = None


SinkConfig = Annotated[
    SlackSinkConfig | WebhookSinkConfig | GithubSinkConfig | GitlabSinkConfig | CiWebhookSinkConfig,
    Field(discriminator="type"),
]
RETRAIN_SINK_TYPES = frozenset({"github", "gitlab", "ci_webhook"})


class DeliveryConfig(_Strict):
    """How the dispatcher delivers the outbox: timeouts, retries with exponential backoff and
    full jitter (``uniform(0, min(backoff_cap, backoff * 2**(attempt-1)))``), then dead."""

    timeout: Duration = 10_000
    max_attempts: int = Field(
        20,
        ge=1,
        description="Then dead. With the default backoff, about an hour of retries on average.",
    )
    backoff: Duration = 1_000
    backoff_cap: Duration = 600_000
    max_retry_after: Duration = Field(3_600_000, description="Longest Retry-After honoured.")
    poll_interval: Duration = 1_000
    batch: int = Field(50, ge=1)
    lease: Duration = Field(
        300_000, description="A claimed notification whose dispatcher died is retried after this."
    )

    @model_validator(mode="after")
    def _check(self) -> DeliveryConfig:
        if self.timeout <= 0:
            raise ValueError("timeout: must be positive")
        if self.lease <= self.timeout:
            raise ValueError("lease: must be longer than the timeout")
        return self


class AlertsConfig(_Strict):
    """Sinks by name, default routes by severity, delivery, and links."""

    sinks: dict[str, SinkConfig] = {}
    routes: dict[Literal["warning", "critical"], tuple[str, ...]] = {}
    grafana_url: str | None = Field(
        None, description="Dashboard URL; links get var-model, var-version, from and to."
    )
    inhibit_drift_on_quality: bool = True
    health_interval: Duration = 30_000
    delivery: DeliveryConfig = DeliveryConfig()

    @model_validator(mode="after")
    def _check(self) -> AlertsConfig:
        for severity, names in self.routes.items():
            for name in names:
                if name not in self.sinks:
                    raise ValueError(
                        f"routes.{severity}: unknown sink {name!r}; configured: "
                        f"{sorted(self.sinks)}"
                    )
        return self


class EventTimeConfig(_Strict):
    """Bounds on event time, so that one event with a wrong clock cannot move a source's
    watermark (and have every later event of its partition dropped as late).

    An event later than the wall clock plus ``max_future`` (every feeder), or, in ``monitor
    replay``, later than its source's watermark plus ``max_ahead``, or earlier than
    ``not_before``, is a dead letter (``timestamp_out_of_range``) and moves nothing.

    >>> EventTimeConfig().max_future, EventTimeConfig().max_ahead
    (3600000, 604800000)
    """

    max_future: Duration = Field(
        3_600_000, description="Events ahead of the wall clock by more are dead letters."
    )
    max_ahead: Duration | None = Field(
        7 * 86_400_000,
        description=(
            "monitor replay: events ahead of their file's watermark by more are dead letters "
            "(null: no bound)."
        ),
    )
    not_before: Timestamp | None = Field(
        None, description="Events before this instant are dead letters."
    )


class Config(_Strict):
    """The whole configuration file."""

    database_url: str = "sqlite:///monitor.db"
    checkpoint_interval: Duration = 5_000
    idle_timeout: Duration = 30_000
    event_time: EventTimeConfig = EventTimeConfig()
    kafka: KafkaConfig = KafkaConfig()
    metrics: MetricsConfig = MetricsConfig()
    models: dict[str, ModelConfig]
    alerts: AlertsConfig = AlertsConfig()

    @model_validator(mode="after")
    def _check_alert_sinks(self) -> Config:
        for model_id, model in self.models.items():
            for i, rule in enumerate(model.rules):
                for severity, names in rule.sinks.items():
                    for name in names:
                        if name not in self.alerts.sinks:
                            raise ValueError(
                                f"models.{model_id}.rules.{i}.sinks.{severity}: unknown "
                                f"sink {name!r}; "
                                f"configured: {sorted(self.alerts.sinks)}"
                            )
        return self

    def model(self, model_id: str) -> ModelConfig:
        try:
            return self.models[model_id]
        except KeyError:
            raise ConfigError(
                "models", f"no model {model_id!r}; configured: {sorted(self.models)}"
            ) from None


def _interpolate(value: Any, key: str, missing: list[ConfigError], secrets: bool) -> Any:
    """``value`` with each ``${NAME}`` replaced by the environment's; an unset variable is
    added to ``missing`` and its text left in place (so that every other key is still checked),
    except, with ``secrets=False``, under ``alerts.sinks``: the commands that send nothing
    need no sink secret."""
    if isinstance(value, str):

        def env(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in os.environ:
                return os.environ[name]
            if secrets or not key.startswith("alerts.sinks."):
                missing.append(ConfigError(key, f"environment variable {name} is not set"))
            return match.group(0)

        return _ENV.sub(env, value)
    if isinstance(value, dict):
        return {
            k: _interpolate(v, f"{key}.{k}" if key else str(k), missing, secrets)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_interpolate(v, f"{key}.{i}", missing, secrets) for i, v in enumerate(value)]
    return value


def _walk(loc: tuple[Any, ...]) -> tuple[list[str], list[str]]:
    """The key path of a pydantic error location as the file spells it (without the tags of
    sink types) and the keys the mapping at its end accepts.

    >>> _walk(("alerts", "sinks", "ops", "slack", "urll"))[0]
    ['alerts', 'sinks', 'ops', 'urll']
    >>> "window" in _walk(("models", "fraud", "windw"))[1]
    True
    """
    if not loc:  # a validator of the whole config: its message names the key
        return [], []
    kinds: list[Any] = [Config]
    path: list[str] = []
    for part in loc[:-1]:
        step: list[Any] = []
        tag = False
        for t in (leaf for kind in kinds for leaf in _leaves(kind)):
            if isinstance(t, type) and issubclass(t, BaseModel):
                field = next((f for n, f in t.model_fields.items() if part in _names(n, f)), None)
                if field is not None:
                    step.append(field.annotation)
                elif "type" in t.model_fields and part in get_args(
                    t.model_fields["type"].annotation
                ):
                    step.append(t)  # a discriminated union's tag: not a key of the file
                    tag = True
            elif get_origin(t) in (dict, list, tuple):
                step.append(get_args(t)[-1] if get_origin(t) is dict else get_args(t)[0])
        kinds = step
        if not tag:
            path.append(str(part))
    path.append(str(loc[-1]))
    known = [
        name
        for t in kinds
        for leaf in _leaves(t)
        if isinstance(leaf, type) and issubclass(leaf, BaseModel)
        for n, f in leaf.model_fields.items()
        for name in _names(n, f)
    ]
    return path, sorted(set(known))


def _leaves(t: Any) -> list[Any]:
    """The types a field's annotation may hold (``Annotated`` and unions unwrapped)."""
    origin = get_origin(t)
    if origin is Annotated:
        return _leaves(get_args(t)[0])
    if origin in (Union, types.UnionType):
        return [leaf for arg in get_args(t) for leaf in _leaves(arg)]
    return [t]


def _names(name: str, field: Any) -> list[str]:
    """The keys a field is read from: its name, or its aliases (``for`` of ``for_``)."""
    alias = field.validation_alias
    if isinstance(alias, AliasChoices):
        return [str(choice) for choice in alias.choices]
    return [name]


def _problems(exc: ValidationError, unset: set[str]) -> list[ConfigError]:
    """Every error of a validation, each naming its key; an unknown key says which known key
    it may be a typo of (and the "Field required" of that key goes, as it says the same). The
    value of a key in ``unset`` is an unset variable's text: its type errors go too."""
    problems: list[tuple[str, ConfigError]] = []
    meant: set[str] = set()
    for err in exc.errors():
        path, known = _walk(tuple(err["loc"]))
        key = ".".join(path)
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            name = path[-1]
            close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
            if close:
                msg = f"unknown key {name!r}, did you mean {close[0]!r}?"
                meant.add(".".join([*path[:-1], close[0]]))
            else:
                msg = f"unknown key {name!r}; known keys: {', '.join(known)}"
        elif ": " in msg and err["type"] == "value_error":
            # A model-level validator reports "key: problem" for a nested key; fold it in.
            sub, msg = msg.split(": ", 1)
            key = f"{key}.{sub}" if key else sub
        problems.append((err["type"], ConfigError(key, msg)))
    return [
        e
        for kind, e in problems
        if not (kind == "missing" and e.key in meant)
        and not (kind != "extra_forbidden" and e.key in unset)
    ]


def _one(errors: list[ConfigError]) -> ConfigError:
    """All the problems of a config as one error: a single one as it is, several one a line.

    >>> print(_one([ConfigError("a", "bad"), ConfigError("b.c", "worse")]))
    2 problems in the config:
      a: bad
      b.c: worse
    """
    if len(errors) == 1:
        return errors[0]
    lines = "".join(f"\n  {e}" for e in errors)
    return ConfigError("", f"{len(errors)} problems in the config:{lines}")


def parse_config(data: Any, *, secrets: bool = True) -> Config:
    """Validate an already parsed mapping (with ``${ENV}`` substitution); every problem is
    reported at once. ``secrets=False``: variables under ``alerts.sinks`` may be unset (for
    the commands that send no notification).

    >>> parse_config({"model": {}})
    Traceback (most recent call last):
    ...
    monitor.exceptions.ConfigError: model: unknown key 'model', did you mean 'models'?
    """
    if not isinstance(data, dict):
        raise ConfigError("", "the config must be a mapping at the top level")
    missing: list[ConfigError] = []
    data = _interpolate(data, "", missing, secrets)
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        raise _one(missing + _problems(exc, {e.key for e in missing})) from None
    if missing:
        raise _one(missing)
    return config


def load_config(path: str | os.PathLike[str], *, secrets: bool = True) -> Config:
    """Read and validate a YAML config file (see :func:`parse_config`).

    A relative SQLite path in ``database_url`` (the default ``sqlite:///monitor.db`` too) is
    the file's neighbour, wherever the command runs. Raises :class:`ConfigError` naming each
    offending key.
    """
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise ConfigError("", f"cannot read config {path}: {exc.strerror}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError("", f"{path} is not valid YAML: {exc}") from exc
    _require_env_secrets(data)
    config = parse_config(data, secrets=secrets)
    url = sqlite_beside(config.database_url, Path(path).resolve().parent)
    return config.model_copy(update={"database_url": url})


_RELATIVE_SQLITE = re.compile(r"^(sqlite(?:\+\w+)?):///(?!/|:memory:|file:)([^?]+)(\?.*)?$")


def sqlite_beside(url: str, directory: Path) -> str:
    """``url`` with a relative SQLite path made absolute under ``directory``; any other URL
    (absolute, in memory, another database) unchanged.

    >>> sqlite_beside("sqlite:///monitor.db", Path("/etc/monitor"))
    'sqlite:////etc/monitor/monitor.db'
    >>> sqlite_beside("sqlite:////var/m.db", Path("/etc")), sqlite_beside("sqlite://", Path("/"))
    ('sqlite:////var/m.db', 'sqlite://')
    """
    match = _RELATIVE_SQLITE.match(url)
    if match is None:
        return url
    dialect, relative, query = match.groups()
    return f"{dialect}:///{directory / relative}{query or ''}"


_SINK_TYPES: dict[Any, type[BaseModel]] = {
    "slack": SlackSinkConfig,
    "webhook": WebhookSinkConfig,
    "github": GithubSinkConfig,
    "gitlab": GitlabSinkConfig,
    "ci_webhook": CiWebhookSinkConfig,
}


def _require_env_secrets(data: Any) -> None:
    """In a config file, every secret of a sink (webhook URLs, tokens, signing secrets, header
    values) must be an ``${ENV}`` reference, so no secret sits in a file that gets committed."""
    sinks = (
        data.get("alerts", {}).get("sinks", {})
        if isinstance(data, dict) and isinstance(data.get("alerts"), dict)
        else {}
    )
    for name, sink in sinks.items() if isinstance(sinks, dict) else ():
        model = _SINK_TYPES.get(sink.get("type")) if isinstance(sink, dict) else None
        if model is None:
            continue
        for field_name, info in model.model_fields.items():
            if "SecretStr" not in str(info.annotation) or field_name not in sink:
                continue
            value = sink[field_name]
            values = value.values() if isinstance(value, dict) else [value]
            if any(
                v is not None and not (isinstance(v, str) and _ENV.fullmatch(v.strip()))
                for v in values
            ):
                raise ConfigError(
                    f"alerts.sinks.{name}.{field_name}",
                    (
                        "secrets come only from the environment: write ${VARIABLE} and set it "
                        "where monitor runs"
                    ),
                )
