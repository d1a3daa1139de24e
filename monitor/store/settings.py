"""What a job's checkpointed state was built under, checked at every start.

Panes are numbered in units of a model's ``slide`` from its ``window_origin``, and sketches hold
one column per configured feature, so state checkpointed under one geometry is meaningless under
another: after ``window`` went from 1m to 5m between restarts, the saved frontier was in the old
units and no window closed again, silently. So each job records, per model, the settings its state
depends on (:func:`geometry`), and a start with other settings is refused with the key that changed
and the command that resets that model's state. A resumed replay also records its input (paths,
sizes and a digest of each file's first block) and refuses another.

>>> from monitor.config import parse_config
>>> from monitor.store import Store
>>> store = Store("sqlite://"); store.upgrade()
>>> cfg = parse_config({"models": {"m": {"window": "1m", "features": {"x": {"kind": "numeric"}}}}})
>>> check_geometry(store, "job", cfg)  # first start: recorded
>>> check_geometry(store, "job", cfg)  # same settings: fine
>>> moved = parse_config(
...     {"models": {"m": {"window": "5m", "features": {"x": {"kind": "numeric"}}}}})
>>> check_geometry(store, "job", moved)  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
monitor.exceptions.ConfigError: models.m.window: changed from 60000 to 300000 ms; ...
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select

from monitor.config import Config, ModelConfig
from monitor.exceptions import ConfigError, MonitorError
from monitor.store import schema
from monitor.store.db import Database, upsert

__all__ = ["INPUT_KEY", "check_geometry", "check_replay_input", "geometry", "reset_model"]

log = logging.getLogger(__name__)

INPUT_KEY = "replay:input"
_DIGEST_BYTES = 1 << 20  # a digest of each file's first MiB tells files of equal size apart
_UNITS = {"window": "ms", "slide": "ms", "window_origin": "ms"}


def geometry(model: ModelConfig) -> dict[str, Any]:
    """The settings a model's panes and sketches depend on (the config keys they come from)."""
    return {
        "window": model.window_ms,
        "slide": model.slide_ms,
        "window_origin": model.window_origin,
        "features": {name: f.kind for name, f in sorted(model.features.items())},
        "prediction": model.prediction,
        "score": model.score,
        "segments.keys": list(model.segments.keys),
    }


def _key(model_id: str) -> str:
    return f"model:{model_id}"


def _read(store: Database, job: str) -> dict[str, Any]:
    t = schema.job_settings
    with store.tx() as conn:
        rows = conn.execute(select(t.c.key, t.c.value).where(t.c.job == job))
        return {r.key: r.value for r in rows}


def _write(store: Database, job: str, values: dict[str, Any]) -> None:
    if values:
        with store.tx() as conn:
            rows = [{"job": job, "key": k, "value": v} for k, v in values.items()]
            upsert(conn, schema.job_settings, rows)


def _has_state(store: Database, job: str, model_id: str) -> bool:
    with store.tx() as conn:
        for t in (schema.panes, schema.frontiers):
            q = select(t.c.model_id).where(t.c.job == job, t.c.model_id == model_id).limit(1)
            if conn.execute(q).first() is not None:
                return True
    return False


def check_geometry(store: Database, job: str, config: Config, config_path: str = "CONFIG") -> None:
    """Refuse to start ``job`` when a model's geometry differs from the one its checkpointed
    state was built under (every changed key named at once); record it on a first start."""
    saved = _read(store, job)
    problems: list[str] = []
    record: dict[str, Any] = {}
    for model_id, model in config.models.items():
        now, before = geometry(model), saved.get(_key(model_id))
        if before is None:
            if _has_state(store, job, model_id):  # state from before settings were recorded
                log.info("recording the window settings of %s's state in job %s", model_id, job)
            record[_key(model_id)] = now
            continue
        for key in now:
            if before.get(key) != now[key]:
                unit = f" {_UNITS[key]}" if key in _UNITS else ""
                problems.append(
                    f"models.{model_id}.{key}: changed from {before.get(key)} to {now[key]}{unit}"
                )
    if problems:
        first, *rest = problems
        key, what = first.split(": ", 1)
        more = "".join(f"; {p}" for p in rest)
        models = sorted({p.split(".")[1] for p in problems})
        reset = " and ".join(
            f"'monitor state reset -c {config_path} --job {job} --model {m}'" for m in models
        )
        raise ConfigError(
            key,
            f"{what}{more} since job {job!r} checkpointed its state in {store.safe_url}, which is "
            f"built under the old settings. Restore them, or drop that model's open windows with "
            f"{reset} (closed windows stay; the open ones restart from the current position).",
        )
    _write(store, job, record)


def _describe_input(paths: Sequence[Path], labels: Sequence[Path]) -> dict[str, Any]:
    def one(path: Path) -> dict[str, Any]:
        with path.open("rb") as fh:
            digest = hashlib.sha256(fh.read(_DIGEST_BYTES)).hexdigest()
        size = path.stat().st_size
        return {"path": str(path.resolve()), "size": size, "sha256_first_mib": digest}

    return {"files": [one(p) for p in paths], "labels": [one(p) for p in labels]}


def check_replay_input(
    store: Database, job: str, paths: Sequence[Path], labels: Sequence[Path], resume: bool
) -> None:
    """A fresh replay records its input; a resumed one must be given the same files in the same
    order (its checkpoint is a position in that sequence), else it is refused."""
    now = _describe_input(paths, labels)
    if not resume:
        _write(store, job, {INPUT_KEY: now})
        return
    before = _read(store, job).get(INPUT_KEY)
    if before is None:
        raise MonitorError(
            f"nothing to resume: job {job!r} has no interrupted replay in {store.safe_url}"
        )
    if before != now:
        raise MonitorError(
            f"--resume was given other input than the interrupted replay of job {job!r}: "
            f"{_difference(before, now)}. Resume with the same files in the same order "
            f"({', '.join(f['path'] for f in before['files'])}), or replay without --resume."
        )


def _difference(before: dict[str, Any], now: dict[str, Any]) -> str:
    for kind in ("files", "labels"):
        old, new = before[kind], now[kind]
        if [f["path"] for f in old] != [f["path"] for f in new]:
            return f"{kind} {[f['path'] for f in new]} instead of {[f['path'] for f in old]}"
        for o, n in zip(old, new):
            if o != n:
                sizes = f"size {o['size']} -> {n['size']}"
                return f"{n['path']} changed since ({sizes}, or its content)"
    return "the input differs"


def reset_model(store: Database, job: str, model_id: str) -> None:
    """Forget ``model_id``'s open windows in ``job`` (panes, frontier, performance panes,
    concept-drift detectors and recorded settings); closed windows, positions and other models
    are kept."""
    with store.tx() as conn:
        for t in (schema.panes, schema.frontiers, schema.performance_panes, schema.drift_detectors):
            conn.execute(delete(t).where(t.c.job == job, t.c.model_id == model_id))
        t = schema.job_settings
        conn.execute(delete(t).where(t.c.job == job, t.c.key == _key(model_id)))
