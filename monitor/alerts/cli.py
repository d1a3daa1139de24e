"""``monitor alerts``: list and show alerts, silence them, test sinks, inspect and deliver the
outbox. Registered on the main command group by :mod:`monitor.cli`; like it, it imports the
libraries a command needs inside that command (``monitor --help`` stays instant)."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

import click

from monitor.options import config_option as _config
from monitor.options import format_option as _fmt
from monitor.options import load, model_of, open_store

if TYPE_CHECKING:
    from monitor.config import Config
    from monitor.store import Store

__all__ = ["alerts_group"]


def _open(path: str, *, sends: bool = False) -> tuple[Config, Store]:
    cfg = load(path, sends=sends)
    return cfg, open_store(cfg)


def _rule_of(cfg: Config, model_id: str, rule: str | None) -> None:
    model = model_of(cfg, model_id)
    if rule is not None and rule not in {r.name for r in model.rules}:
        raise click.BadParameter(
            f"no rule {rule!r}; configured: {sorted(r.name for r in model.rules)}",
            param_hint="'--rule'",
        )


def _ms(value: int | None) -> str | None:
    from monitor.format import iso

    return iso(value) if value is not None else None


def _alert_json(r: dict[str, Any]) -> dict[str, Any]:
    from monitor.alerts.rules import subject_parts

    segment, feature = subject_parts(r["subject"], r["details"])
    return {
        "model_id": r["model_id"],
        "model_version": r["model_version"],
        "rule": r["rule"],
        "kind": r["kind"],
        "segment": segment,
        "feature": feature,
        "state": r["state"],
        "severity": r["severity"],
        "value": r["value"],
        "threshold": r["threshold"],
        "since": _ms(r["since_end"]),
        "last_window_end": _ms(r["last_window_end"]),
        "notified": r["notified_state"],
        "details": r["details"],
    }


@click.group("alerts")
def alerts_group() -> None:
    """Alerts: state, history, silences, sinks and the notification outbox."""


@alerts_group.command("list")
@_config
@click.option("--model", "-m", "model_id", default=None)
@click.option(
    "--state",
    "states",
    multiple=True,
    type=click.Choice(["inactive", "pending", "firing", "resolved"]),
    help="Repeatable; default: pending and firing.",
)
@click.option("--all", "show_all", is_flag=True, help="Every alert, whatever its state.")
@_fmt
def alerts_list(
    config_path: str, model_id: str | None, states: tuple[str, ...], show_all: bool, fmt: str
) -> None:
    """List alerts (pending and firing by default)."""
    from monitor.alerts.queries import ACTIVE_STATES, list_alerts
    from monitor.format import table

    cfg, store = _open(config_path)
    if model_id is not None:
        model_of(cfg, model_id)
    with store.tx() as conn:
        rows = list_alerts(
            conn, model_id=model_id, states=None if show_all else (states or ACTIVE_STATES)
        )
    if fmt == "json":
        click.echo(json.dumps([_alert_json(r) for r in rows]))
        return
    click.echo(
        table(
            [
                "model",
                "version",
                "rule",
                "feature",
                "state",
                "severity",
                "value",
                "threshold",
                "since",
            ],
            [
                [
                    r["model_id"],
                    r["model_version"],
                    r["rule"],
                    r["subject"] or "-",
                    r["state"],
                    r["severity"],
                    r["value"],
                    r["threshold"],
                    _ms(r["since_end"]),
                ]
                for r in rows
            ],
        )
    )


@alerts_group.command("show")
@_config
@click.option("--model", "-m", "model_id", required=True)
@click.option("--rule", "-r", default=None)
@click.option("--feature", "-f", default=None)
@click.option("--version", "-v", "model_version", default=None)
@click.option(
    "--history", "limit", default=20, show_default=True, help="Transitions to show per alert."
)
@_fmt
def alerts_show(
    config_path: str,
    model_id: str,
    rule: str | None,
    feature: str | None,
    model_version: str | None,
    limit: int,
    fmt: str,
) -> None:
    """Show alerts of a model (one rule, one feature) with their history and notifications."""
    from monitor.alerts.outbox import outbox_rows
    from monitor.alerts.queries import alert_history, list_alerts
    from monitor.format import table

    cfg, store = _open(config_path)
    _rule_of(cfg, model_id, rule)
    with store.tx() as conn:
        alerts = list_alerts(
            conn, model_id=model_id, rule=rule, subject=feature, version=model_version, states=None
        )
        found = []
        for a in alerts:
            history = alert_history(
                conn,
                model_id=model_id,
                rule=a["rule"],
                subject=a["subject"],
                version=a["model_version"],
                limit=limit,
            )
            found.append((a, history))
        sent = outbox_rows(conn, model_id=model_id, limit=limit)
    if rule is not None:
        sent = [n for n in sent if any(m["rule"] == rule for m in n["payload"].get("alerts", []))]
    if fmt == "json":
        click.echo(
            json.dumps(
                {
                    "alerts": [
                        {**_alert_json(a), "history": [_history_json(h) for h in hist]}
                        for a, hist in found
                    ],
                    "notifications": [_outbox_json(n) for n in sent],
                }
            )
        )
        return
    if not found:
        click.echo("no alerts")
    for a, hist in found:
        who = f"{a['model_id']} {a['model_version']} {a['rule']}" + (
            f" {a['subject']}" if a["subject"] else ""
        )
        click.echo(
            f"{who}: {a['state']} ({a['severity']}), value {a['value']} vs "
            f"{a['threshold']}, since {_ms(a['since_end'])}"
        )
        click.echo(
            table(
                ["window_end", "from", "to", "severity", "value", "threshold", "inhibited"],
                [
                    [
                        _ms(h["window_end"]),
                        h["from_state"],
                        h["to_state"],
                        h["severity"],
                        h["value"],
                        h["threshold"],
                        h["inhibited"],
                    ]
                    for h in hist
                ],
            )
        )
        click.echo("")
    if sent:
        click.echo("notifications:")
        click.echo(
            table(
                ["key", "sink", "status", "attempts", "window_end", "error"],
                [
                    [
                        n["key"][:16],
                        n["sink"],
                        n["status"],
                        n["attempts"],
                        _ms(n["window_end"]),
                        n["last_error"],
                    ]
                    for n in sent
                ],
            )
        )


def _history_json(h: dict[str, Any]) -> dict[str, Any]:
    return {
        "window_start": _ms(h["window_start"]),
        "window_end": _ms(h["window_end"]),
        "from": h["from_state"],
        "to": h["to_state"],
        "severity": h["severity"],
        "value": h["value"],
        "threshold": h["threshold"],
        "inhibited": h["inhibited"],
        "at": _ms(h["at_ms"]),
    }


def _outbox_json(n: dict[str, Any]) -> dict[str, Any]:
    return {
        "key": n["key"],
        "sink": n["sink"],
        "status": n["status"],
        "attempts": n["attempts"],
        "window_end": _ms(n["window_end"]),
        "created": _ms(n["created_ms"]),
        "delivered": _ms(n["delivered_ms"]),
        "error": n["last_error"],
    }


@alerts_group.command("silence")
@_config
@click.option("--model", "-m", "model_id", required=True)
@click.option("--rule", "-r", default=None, help="Default: every rule of the model.")
@click.option("--for", "duration", required=True, help="How long, e.g. 30m, 2h, 1d.")
@click.option("--comment", default=None)
def alerts_silence(
    config_path: str, model_id: str, rule: str | None, duration: str, comment: str | None
) -> None:
    """Silence a model's alerts (or one rule's) for a while: they still change state and are
    recorded; their notifications are not sent."""
    from monitor.alerts.silences import add_silence
    from monitor.config import parse_duration_ms
    from monitor.format import iso

    try:
        duration_ms = parse_duration_ms(duration)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--for") from None
    if duration_ms <= 0:
        raise click.BadParameter("must be positive", param_hint="--for")
    cfg, store = _open(config_path)
    _rule_of(cfg, model_id, rule)
    with store.tx() as conn:
        s = add_silence(conn, model_id, rule, int(time.time() * 1000), duration_ms, comment)
    click.echo(f"silence {s.id}: {model_id} {rule or '(every rule)'} until {iso(s.expires_ms)}")


@alerts_group.command("silences")
@_config
@_fmt
def alerts_silences(config_path: str, fmt: str) -> None:
    """List active silences."""
    from monitor.alerts.silences import active_silences
    from monitor.format import iso, table

    _, store = _open(config_path)
    with store.tx() as conn:
        rows = active_silences(conn, int(time.time() * 1000))
    if fmt == "json":
        click.echo(
            json.dumps(
                [
                    {
                        "id": s.id,
                        "model_id": s.model_id,
                        "rule": s.rule,
                        "until": iso(s.expires_ms),
                        "comment": s.comment,
                    }
                    for s in rows
                ]
            )
        )
        return
    click.echo(
        table(
            ["id", "model", "rule", "until", "comment"],
            [[s.id, s.model_id, s.rule or "*", iso(s.expires_ms), s.comment] for s in rows],
        )
    )


@alerts_group.command("unsilence")
@_config
@click.argument("silence_id", type=int)
def alerts_unsilence(config_path: str, silence_id: int) -> None:
    """End a silence now."""
    from monitor.alerts.silences import remove_silence

    _, store = _open(config_path)
    with store.tx() as conn:
        removed = remove_silence(conn, silence_id)
    if not removed:
        raise click.ClickException(f"no silence {silence_id}")
    click.echo(f"silence {silence_id} removed")


@alerts_group.command("test")
@_config
@click.argument("sink")
def alerts_test(config_path: str, sink: str) -> None:
    """Send a test message to SINK now (not through the outbox)."""
    from monitor.alerts.exceptions import DeliveryError
    from monitor.alerts.notify import probe_payload
    from monitor.alerts.sinks import build_sink

    cfg = load(config_path, sends=True)
    if sink not in cfg.alerts.sinks:
        raise click.BadParameter(
            f"no sink {sink!r}; configured: {sorted(cfg.alerts.sinks)}", param_hint="'SINK'"
        )
    target = build_sink(sink, cfg.alerts.sinks[sink], timeout_ms=cfg.alerts.delivery.timeout)
    try:
        target.send(probe_payload(sink, int(time.time() * 1000)))
    except DeliveryError as exc:
        raise click.ClickException(f"sink {sink} ({target.type}): {exc.reason}") from None
    finally:
        target.close()
    click.echo(f"sent a test message to sink {sink} ({target.type})")


@alerts_group.command("outbox")
@_config
@click.option("--model", "-m", "model_id", default=None)
@click.option(
    "--status",
    default=None,
    type=click.Choice(["pending", "sending", "delivered", "dead", "silenced", "rate_limited"]),
)
@click.option("--limit", default=50, show_default=True)
@_fmt
def alerts_outbox(
    config_path: str, model_id: str | None, status: str | None, limit: int, fmt: str
) -> None:
    """List notifications in the outbox, newest first."""
    from monitor.alerts.outbox import outbox_rows
    from monitor.format import table

    _, store = _open(config_path)
    with store.tx() as conn:
        rows = outbox_rows(conn, model_id=model_id, status=status, limit=limit)
    if fmt == "json":
        click.echo(json.dumps([_outbox_json(n) for n in rows]))
        return
    click.echo(
        table(
            ["key", "sink", "model", "version", "status", "attempts", "window_end", "error"],
            [
                [
                    n["key"][:16],
                    n["sink"],
                    n["model_id"],
                    n["model_version"],
                    n["status"],
                    n["attempts"],
                    _ms(n["window_end"]),
                    n["last_error"],
                ]
                for n in rows
            ],
        )
    )


@alerts_group.command("dispatch")
@_config
@click.option("--once", is_flag=True, help="Deliver what is due now and exit.")
def alerts_dispatch(config_path: str, once: bool) -> None:
    """Deliver the outbox (and judge pipeline health) until Ctrl-C."""
    from monitor.alerts.dispatcher import Dispatcher

    cfg, store = _open(config_path, sends=True)
    dispatcher = Dispatcher.from_config(cfg, store)
    try:
        if once:
            n = dispatcher.drain()
            click.echo(f"attempted {n} notification(s)")
            return
        dispatcher.start()
        click.echo(f"dispatching to {len(dispatcher.sinks)} sink(s); Ctrl-C to stop")
        while True:
            time.sleep(1.0)
    except KeyboardInterrupt:
        click.echo("stopped")
    finally:
        dispatcher.close()
