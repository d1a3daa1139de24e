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

import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from monitor.exceptions import ConfigError
from monitor.stats import DEFAULT_THRESHOLDS, STATISTICS

__all__ = [
    "Config",
    "ModelConfig",
    "FeatureConfig",
    "Threshold",
    "KafkaConfig",
    "load_config",
    "parse_duration_ms",
]

_UNITS_MS = {"ms": 1, "s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$")
_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def parse_duration_ms(value: Any) -> int:
    """Parse ``"90s"``, ``"5m"``, ``"1h"``, ``"7d"``, ``"250ms"`` or a number of seconds.

    >>> parse_duration_ms("5m"), parse_duration_ms(2), parse_duration_ms("250ms")
    (300000, 2000, 250)
    """
    if isinstance(value, bool):
        raise ValueError(f"expected a duration such as '5m', got {value!r}")
    if isinstance(value, int | float):
        ms = int(round(value * 1000))
    else:
        match = _DURATION.match(str(value))
        if not match:
            raise ValueError(f"expected a duration such as '90s', '5m', '1h' or '7d', got {value!r}")
        ms = int(round(float(match.group(1)) * _UNITS_MS[match.group(2)]))
    if ms < 0:
        raise ValueError(f"a duration cannot be negative, got {value!r}")
    return ms


Duration = Annotated[int, BeforeValidator(parse_duration_ms)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Threshold(_Strict):
    """Warning and critical levels of one statistic; the direction comes from the statistic."""

    warning: float
    critical: float


class FeatureConfig(_Strict):
    kind: Literal["numeric", "categorical"]


class QualityConfig(_Strict):
    """Data-quality thresholds, as shares of a window's events (absolute increase over the
    reference for the missing rate)."""

    missing_rate: Threshold = Threshold(warning=0.05, critical=0.2)
    out_of_range: Threshold = Threshold(warning=0.05, critical=0.2)
    unseen_share: Threshold = Threshold(warning=0.05, critical=0.2)


class ReferenceConfig(_Strict):
    fine_bins: int = Field(1000, ge=2, le=100_000)
    coarse_bins: int = Field(10, ge=2, le=1000)
    baseline_events: int = Field(
        10_000, ge=0, description="Without a stored reference, the first N events become it (0: refuse)."
    )


class TopicsConfig(_Strict):
    predictions: str | None = "predictions"
    features: str | None = None
    labels: str | None = "labels"
    format: Literal["json", "avro"] = "json"


class ModelConfig(_Strict):
    """One monitored model: its features, windows, statistics and thresholds."""

    features: dict[str, FeatureConfig]
    window: Duration = 3_600_000
    slide: Duration | None = None
    allowed_lateness: Duration = 0
    prediction: Literal["numeric", "categorical", "none"] = "categorical"
    score: bool = True
    statistics: tuple[str, ...] = ("psi", "ks", "ks_pvalue", "chi2", "chi2_pvalue", "js", "wasserstein")
    thresholds: dict[str, Threshold] = {}
    drift_share: Threshold = Threshold(warning=0.1, critical=0.3)
    compare_previous: bool = False
    reference: ReferenceConfig = ReferenceConfig()
    quality: QualityConfig = QualityConfig()
    topics: TopicsConfig = TopicsConfig()

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
        if self.slide is not None and (self.slide <= 0 or self.window % self.slide):
            raise ValueError("slide: must be positive and divide the window evenly")
        for stat in (*self.statistics, *self.thresholds):
            if stat not in STATISTICS:
                raise ValueError(f"statistics: unknown statistic {stat!r}; known: {sorted(STATISTICS)}")
        for stat, th in self.thresholds.items():
            worse = STATISTICS[stat].higher_is_worse
            if (th.critical < th.warning) if worse else (th.critical > th.warning):
                order = "critical >= warning" if worse else "critical <= warning (lower is worse)"
                raise ValueError(f"thresholds.{stat}: expected {order}")
        return self

    def threshold(self, stat: str) -> Threshold | None:
        """The configured threshold of ``stat``, else its default, else None (reported only)."""
        if stat in self.thresholds:
            return self.thresholds[stat]
        if stat in DEFAULT_THRESHOLDS:
            warning, critical = DEFAULT_THRESHOLDS[stat]
            return Threshold(warning=warning, critical=critical)
        return None

    @property
    def panes_per_window(self) -> int:
        return self.window_ms // self.slide_ms


class KafkaConfig(_Strict):
    bootstrap_servers: str | None = Field(None, description="None: start the embedded Tansu broker.")
    group_id: str = "monitor"
    dead_letter_topic: str = "monitor.dead-letters"
    partitions: int = Field(4, ge=1)
    schema_registry_url: str | None = None
    client: dict[str, str | int | float | bool] = Field({}, description="librdkafka settings for every client (security.protocol, sasl.*, ssl.*).")
    consumer: dict[str, str | int | float | bool] = Field({}, description="librdkafka settings for the consumer only (session.timeout.ms ...).")


class MetricsConfig(_Strict):
    host: str = "127.0.0.1"
    port: int = Field(9108, ge=0, le=65535)


class Config(_Strict):
    """The whole configuration file."""

    database_url: str = "sqlite:///monitor.db"
    checkpoint_interval: Duration = 5_000
    idle_timeout: Duration = 30_000
    kafka: KafkaConfig = KafkaConfig()
    metrics: MetricsConfig = MetricsConfig()
    models: dict[str, ModelConfig]

    def model(self, model_id: str) -> ModelConfig:
        try:
            return self.models[model_id]
        except KeyError:
            raise ConfigError("models", f"no model {model_id!r}; configured: {sorted(self.models)}") from None


def _interpolate(value: Any, key: str) -> Any:
    if isinstance(value, str):

        def env(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in os.environ:
                raise ConfigError(key, f"environment variable {name} is not set")
            return os.environ[name]

        return _ENV.sub(env, value)
    if isinstance(value, dict):
        return {k: _interpolate(v, f"{key}.{k}" if key else str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v, f"{key}[{i}]") for i, v in enumerate(value)]
    return value


def _first_error(exc: ValidationError) -> ConfigError:
    err = exc.errors()[0]
    key = ".".join(str(part) for part in err["loc"])
    msg = err["msg"].removeprefix("Value error, ")
    # A model-level validator reports "key: problem" for a nested key; fold it into the path.
    if ": " in msg and err["type"] == "value_error":
        sub, msg = msg.split(": ", 1)
        key = f"{key}.{sub}" if key else sub
    return ConfigError(key, msg)


def parse_config(data: Any) -> Config:
    """Validate an already parsed mapping (with ``${ENV}`` substitution)."""
    if not isinstance(data, dict):
        raise ConfigError("", "the config must be a mapping at the top level")
    try:
        return Config.model_validate(_interpolate(data, ""))
    except ValidationError as exc:
        raise _first_error(exc) from None


def load_config(path: str | os.PathLike[str]) -> Config:
    """Read and validate a YAML config file.

    Raises :class:`ConfigError` naming the offending key.
    """
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise ConfigError("", f"cannot read config {path}: {exc.strerror}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError("", f"{path} is not valid YAML: {exc}") from exc
    return parse_config(data)
