"""Start-up checks: a configuration that runs but does not do what its author expects.

Each check returns one message a person can act on; ``monitor run`` and ``monitor replay`` log
them as warnings before they start. None of them stops a command: a model without rules, or a
reference without a prediction column, may be what its author wants.

- labels produced but not read: the broker holds the SDK's labels topic and no model sets
  ``topics.labels`` (``monitor run``), or a replay has no ``--labels`` for a model that reads
  labels live, or label files for a model that logs no prediction to join them to;
- a model without alert rules: its windows are judged, but nothing ever fires;
- a model without a stored reference (its first events become one), or whose reference has no
  ``prediction`` or ``score`` column, so that prediction or score drift is skipped.

>>> from monitor.config import parse_config
>>> cfg = parse_config({"models": {"fraud": {"features": {"x": {"kind": "numeric"}}}}})
>>> print(rules(cfg)[0])
model 'fraud' has no alert rules: its windows get a severity (monitor windows) but no alert \
fires. Add one under models.fraud.rules, e.g. {name: drift, kind: feature_drift, critical: 0.25} \
(docs/alerts.md)
>>> labels_topic(cfg, {"predictions", "labels"})[0][:53]
"topic 'labels' exists but no model reads labels (set "
"""

from __future__ import annotations

import inspect
from collections.abc import Collection
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from monitor.config import Config
    from monitor.store import Store

__all__ = ["broker_topics", "labels_topic", "preflight", "references", "replay_labels", "rules"]


def preflight(
    config: Config,
    store: Store | None,
    *,
    topics: Collection[str] | None = None,
    label_files: bool | None = None,
) -> list[str]:
    """Every warning about ``config`` and what ``store`` holds (None: not known); ``topics``:
    the broker's topic names (``monitor run``, when the broker answered); ``label_files``:
    whether a replay was given label files (None: not a replay)."""
    found = rules(config) + (references(config, store) if store is not None else [])
    if topics is not None:
        found += labels_topic(config, topics)
    if label_files is not None:
        found += replay_labels(config, label_files)
    return found


def rules(config: Config) -> list[str]:
    """A model without alert rules never alerts, whatever its windows show."""
    return [
        f"model {model_id!r} has no alert rules: its windows get a severity (monitor windows) but "
        f"no alert fires. Add one under models.{model_id}.rules, e.g. {{name: drift, kind: "
        "feature_drift, critical: 0.25} (docs/alerts.md)"
        for model_id, model in config.models.items()
        if not model.rules
    ]


def sdk_labels_topic() -> str:
    """The labels topic :class:`monitor.client.MonitorClient` writes to unless told otherwise."""
    from monitor.client import MonitorClient

    default: str = inspect.signature(MonitorClient).parameters["labels_topic"].default
    return default


def labels_topic(config: Config, topics: Collection[str]) -> list[str]:
    """Labels sent by the SDK to its default topic are ignored unless a model reads them."""
    read = {m.topics.labels for m in config.models.values() if m.topics.labels}
    name = sdk_labels_topic()
    if name not in topics or read:
        return []
    first = next(iter(config.models))
    return [
        (
            f"topic {name!r} exists but no model reads labels (set models.<model>.topics.labels, "
            f"e.g. models.{first}.topics.labels: {name}): labels there are ignored and no "
            "performance is computed"
        )
    ]


def replay_labels(config: Config, label_files: bool) -> list[str]:
    """A replay without the labels a model reads live computes no performance for it; label
    files for a model that logs no prediction have nothing to join."""
    if not label_files:
        return [
            f"model {model_id!r} reads labels live (topics.labels) but this replay has no "
            "--labels file: no performance is computed"
            for model_id, model in config.models.items()
            if model.topics.labels
        ]
    return [
        f"model {model_id!r} logs no prediction (prediction: none): the label files give it no "
        "performance"
        for model_id, model in config.models.items()
        if model.prediction == "none"
    ]


def references(config: Config, store: Store) -> list[str]:
    """A model without a reference, or whose reference lacks the prediction or score column
    (that drift is then skipped, window after window)."""
    found = []
    for model_id, model in config.models.items():
        latest: dict[str, int] = {}
        for row in store.list_references(model_id):
            latest[row["model_version"]] = max(row["version"], latest.get(row["model_version"], 0))
        if not latest:
            found.append(_no_reference(model_id, model.reference.baseline_events))
        for version, profile_version in latest.items():
            profile = store.get_reference(model_id, version, profile_version)
            if profile is None:  # deleted since it was listed
                continue
            lacking = [
                role
                for role, wanted in (
                    ("prediction", model.prediction != "none"),
                    ("score", model.score),
                )
                if wanted and role not in profile.columns
            ]
            if lacking:
                found.append(
                    f"the reference of model {model_id!r} version {version!r} has no "
                    f"{' or '.join(lacking)} column: {' and '.join(lacking)} drift is skipped "
                    f"(name the file's columns with models.{model_id}.columns, or set "
                    f"{_off(lacking)} if the model has none)"
                )
    return found


def _off(roles: list[str]) -> str:
    return " and ".join(
        {"prediction": "prediction: none", "score": "score: false"}[r] for r in roles
    )


def _no_reference(model_id: str, baseline: int) -> str:
    build = f"monitor reference build -m {model_id} FILE"
    if baseline == 0:
        return f"model {model_id!r} has no reference and takes none from its events: run {build}"
    return (
        f"model {model_id!r} has no reference: its first {baseline:,} events become it "
        f"(for a chosen one, run {build})"
    )


def broker_topics(client_config: dict[str, Any], timeout: float = 10.0) -> set[str] | None:
    """The broker's topic names, or None when it does not answer within ``timeout`` seconds
    (the command then reports the broker itself)."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    try:
        return set(AdminClient(client_config).list_topics(timeout=timeout).topics)
    except KafkaException:
        return None
