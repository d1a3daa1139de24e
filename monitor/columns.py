"""The columns of a reference file: renamed to the names the monitor uses, and their values'
kinds checked against the config.

Pipelines name the score, prediction and label their own way (``y_pred_proba``, ``y_pred``,
``repaid``): the model's ``columns`` and each feature's ``source`` say where a file holds them
(``reference build`` flags override both), and :func:`map_columns` renames them. A file whose
columns already carry the monitor's names (a JSONL file of events) needs no mapping, and a
mapped column that a file lacks under its source name is still found under its own.

>>> from monitor.config import ModelConfig
>>> cfg = ModelConfig.model_validate({"features": {"amount": {"kind": "numeric", "source": "amt"}},
...     "columns": {"score": "y_pred_proba", "label": "repaid"}})
>>> given = {"amt": [1.0, 2.0], "y_pred_proba": [0.2, 0.9], "repaid": ["0.0", "1.0"]}
>>> rows = map_columns(given, cfg)
>>> sorted(rows)
['amount', 'label', 'score']
>>> kinds, warnings = inspect_columns(rows, cfg)
>>> [k.line() for k in kinds], warnings
(['amount integer', 'score numeric', 'label integer'], [])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from pydantic import ValidationError

from monitor.config import ColumnsConfig, FeatureConfig, ModelConfig
from monitor.exceptions import ConfigError, ReferenceProfileError
from monitor.layout import PREDICTION, SCORE
from monitor.values import Kind, category, detect_kind

__all__ = ["LABEL", "MANY_NUMBERS", "ColumnKind", "inspect_columns", "map_columns", "with_columns"]

LABEL = "label"
#: A categorical column with more distinct numbers than this in the reference looks numeric.
MANY_NUMBERS = 50
_SHOWN = 20  # columns of a file named in an error


def map_columns(rows: Mapping[str, Sequence[Any]], cfg: ModelConfig) -> dict[str, Sequence[Any]]:
    """``rows`` (column -> values) with each mapped column under the monitor's name. A column
    the config maps (``columns.*``, ``features.*.source``) that the file holds neither under
    its source nor under its own name is an error naming the key."""
    sources = cfg.sources()
    out = {name: values for name, values in rows.items() if name not in sources.values()}
    for target, source in sources.items():
        if source in rows:
            out[target] = rows[source]
        elif target not in rows:
            key = f"features.{target}.source" if target in cfg.features else f"columns.{target}"
            shown = ", ".join(sorted(rows)[:_SHOWN]) + (", ..." if len(rows) > _SHOWN else "")
            raise ReferenceProfileError(
                f"{key}: the file has no column {source!r} (it has: {shown})"
            )
    return out


def with_columns(
    cfg: ModelConfig, roles: Mapping[str, str | None], features: Mapping[str, str]
) -> ModelConfig:
    """The model's config with the column names given on the command line, which win over the
    config's: ``roles`` (``score`` ... ``prediction_id`` -> column, None: keep) and
    ``features`` (feature -> column).

    >>> cfg = ModelConfig.model_validate({"features": {"amount": {"kind": "numeric"}}})
    >>> with_columns(cfg, {"label": "target"}, {"amount": "amt"}).sources()
    {'label': 'target', 'amount': 'amt'}
    >>> with_columns(cfg, {}, {"amt": "x"})
    Traceback (most recent call last):
    monitor.exceptions.ConfigError: --feature-column: unknown feature 'amt'; configured: ['amount']
    """
    unknown = sorted(set(features) - set(cfg.features))
    if unknown:
        raise ConfigError(
            "--feature-column",
            f"unknown feature {unknown[0]!r}; configured: {sorted(cfg.features)}",
        )
    try:
        given = {role: name for role, name in roles.items() if name is not None}
        columns = ColumnsConfig.model_validate({**cfg.columns.model_dump(), **given})
        feats = {
            n: FeatureConfig(kind=f.kind, source=features[n]) if n in features else f
            for n, f in cfg.features.items()
        }
        return cfg.model_copy(update={"columns": columns, "features": feats})._check_columns()
    except ValidationError as exc:
        err = exc.errors()[0]
        raise ConfigError(f"--{err['loc'][0]}-column".replace("_", "-"), err["msg"]) from None
    except ValueError as exc:
        raise ConfigError("", str(exc)) from None


class ColumnKind(NamedTuple):
    """What a reference column's values look like, next to what the config makes of it."""

    column: str
    detected: Kind
    configured: str  # numeric or categorical

    def line(self) -> str:
        """``amount integer``; ``flag boolean (configured numeric)`` where a numeric column's
        values are not numbers (any values can be categories)."""
        numbers = self.detected in ("integer", "numeric", "empty")
        agree = self.configured == "categorical" or numbers
        return f"{self.column} {self.detected}" + (
            "" if agree else f" (configured {self.configured})"
        )


def inspect_columns(
    rows: Mapping[str, Sequence[Any]], cfg: ModelConfig
) -> tuple[list[ColumnKind], list[str]]:
    """The detected kind of each monitored column of ``rows`` (mapped: :func:`map_columns`),
    and a warning for each disagreement between the config and the values: a numeric column
    of booleans, a categorical column of many numbers, labels without the positive class,
    predictions and labels without a class in common."""
    configured = {n: f.kind for n, f in cfg.features.items()}
    if cfg.score:
        configured[SCORE] = "numeric"
    if cfg.prediction != "none":
        configured[PREDICTION] = cfg.prediction
    configured[LABEL] = "numeric" if cfg.task == "regression" else "categorical"
    kinds = [ColumnKind(c, detect_kind(rows[c]), k) for c, k in configured.items() if c in rows]
    warnings = [w for k in kinds if (w := _disagreement(k, rows[k.column])) is not None]
    if cfg.task == "classification" and LABEL in rows:
        warnings += _class_warnings(rows, cfg)
    return kinds, warnings


def _disagreement(kind: ColumnKind, values: Sequence[Any]) -> str | None:
    if kind.configured == "numeric" and kind.detected == "boolean":
        return (
            f"{kind.column} is configured numeric but its reference values are booleans: they "
            "count as 1 and 0; configure it categorical to compare true and false as categories"
        )
    if kind.configured == "categorical" and kind.detected in ("integer", "numeric"):
        distinct = len(set(map(category, values)) - {None})
        if distinct > MANY_NUMBERS:
            return (
                f"{kind.column} is configured categorical but its reference values are "
                f"{distinct} distinct numbers: each one is a category; configure it numeric to "
                "bin them"
            )
    return None


def _categories(values: Sequence[Any]) -> set[str]:
    """The distinct categories of ``values``, missing ones left out."""
    return {c for c in map(category, values) if c is not None}


def _class_warnings(rows: Mapping[str, Sequence[Any]], cfg: ModelConfig) -> list[str]:
    labels = _categories(rows[LABEL])
    warnings = []
    positive = cfg.labels.positive_class
    if labels and positive not in labels:
        warnings.append(
            f"labels.positive_class {positive!r} is not among the reference's labels "
            f"{sorted(labels)[:_SHOWN]}: no label counts as positive; set labels.positive_class"
        )
    if PREDICTION in rows and cfg.prediction == "categorical":
        predicted = _categories(rows[PREDICTION])
        if labels and predicted and not labels & predicted:
            warnings.append(
                f"the reference's predictions {sorted(predicted)[:_SHOWN]} and labels "
                f"{sorted(labels)[:_SHOWN]} have no class in common: no prediction can be right"
            )
    return warnings
