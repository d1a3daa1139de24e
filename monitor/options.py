"""Options shared by the commands of :mod:`monitor.cli` and :mod:`monitor.alerts.cli`, and the
exit statuses they document (light: ``monitor --help`` imports this)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from monitor.exceptions import ConfigError

if TYPE_CHECKING:
    from monitor.config import Config, ModelConfig
    from monitor.store import Store
    from monitor.store.reading import Reader

__all__ = [
    "FAIL_ON_STATUS",
    "config_option",
    "fail_on",
    "fail_on_option",
    "format_option",
    "load",
    "model_of",
    "open_reader",
    "open_store",
]

#: ``--fail-on`` ends the command with this status (see :mod:`monitor.cli`).
FAIL_ON_STATUS = 3

config_option = click.option(
    "--config",
    "-c",
    "config_path",
    required=True,
    envvar="MONITOR_CONFIG",
    show_envvar=True,
    type=click.Path(exists=True, dir_okay=False),
    help="The YAML config file.",
)
format_option = click.option(
    "--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True
)
fail_on_option = click.option(
    "--fail-on",
    type=click.Choice(["warning", "critical"]),
    default=None,
    help=f"Exit with status {FAIL_ON_STATUS} when a window is at least this severe (CI gates).",
)


def load(path: str, *, sends: bool = False) -> Config:
    """The config; ``sends``: the command sends notifications, so it needs the sinks' secrets
    (the others run without them)."""
    from monitor.config import load_config

    return load_config(path, secrets=sends)


def open_store(cfg: Config) -> Store:
    """The configured store, its schema upgraded."""
    from monitor.store import Store

    store = Store(cfg.database_url)
    store.upgrade()
    return store


def open_reader(cfg: Config) -> Reader:
    """The configured database, its schema upgraded, for the read queries of
    :mod:`monitor.store.windows`: lighter than :func:`open_store`, whose facade loads the
    engine; a SQLite file is read without SQLAlchemy (:mod:`monitor.store.reading`)."""
    from monitor.store.reading import open_reader as reader_of

    return reader_of(cfg.database_url)


def model_of(cfg: Config, model_id: str) -> ModelConfig:
    """The model named by ``--model``; an unknown one is a usage error (exit status 2)."""
    try:
        return cfg.model(model_id)
    except ConfigError as exc:
        raise click.BadParameter(exc.problem, param_hint="'--model'") from None


def fail_on(level: str | None, severities: list[str]) -> None:
    """``--fail-on``: exit with :data:`FAIL_ON_STATUS` when a severity is at least ``level``.

    >>> fail_on("critical", ["ok", "warning"])
    >>> fail_on("warning", ["ok", "warning"])
    Traceback (most recent call last):
    ...
    SystemExit: 3
    """
    from monitor.stats.registry import SEVERITIES

    if level is None:
        return
    worse = [s for s in severities if SEVERITIES.index(s) >= SEVERITIES.index(level)]
    if worse:
        click.echo(
            f"failing (--fail-on {level}): {len(worse)} result(s) at {level} or worse, the worst "
            f"{max(worse, key=SEVERITIES.index)}",
            err=True,
        )
        sys.exit(FAIL_ON_STATUS)
