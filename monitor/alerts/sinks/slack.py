"""The Slack sink: an incoming webhook, a Block Kit message.

One message per model, version and window: a header with the status, fields for the model,
version, window and severity, one line per alert (rule, feature, statistic, value against its
threshold), a button to the Grafana dashboard, and the idempotency key in the footer. Slack
drops nothing by key, so the key is there for people; a resolved alert sends a resolved message.

Text from events (model ids, versions, feature names, segment values) is data, never markup.
Slack parses ``&``, ``<`` and ``>`` as control characters in mrkdwn (``<!channel>``, ``<@U..>``,
``<url|text>``): :func:`escape` turns them into the entities Slack documents, which it displays as
the characters. A value inside a code span has its backticks replaced by a look-alike, so it
cannot close the span. Every mrkdwn object is ``verbatim``: Slack does not turn a bare URL or
channel name in a value into a link. The header is ``plain_text``, which Slack does not parse,
so it carries the value as is (entities there would be shown as ``&lt;``). Our own dashboard link
is a button's ``url``, never text.

>>> payload = {"status": "firing", "severity": "critical", "model_id": "fraud",
...     "model_version": "v3", "idempotency_key": "ab" * 32, "features": ["amount"],
...     "dashboard_url": None,
...     "window": {"start": "2026-01-01T00:00:00Z", "end": "2026-01-01T01:00:00Z"},
...     "alerts": [{"rule": "drift", "kind": "feature_drift", "feature": "amount",
...                 "state": "firing", "severity": "critical", "statistic": "psi",
...                 "comparison": ">=", "value": 0.41, "threshold": 0.25, "reminder": False,
...                 "evidence": {}}]}
>>> message = render(payload)
>>> message["text"]
':red_circle: [CRITICAL] fraud v3: 1 alert firing (amount)'
>>> [b["type"] for b in message["blocks"]]
['header', 'section', 'section', 'context']
>>> message["blocks"][2]["text"]["text"]
'• *drift* · `amount`: psi = 0.41 (≥ 0.25, critical)'
>>> hostile = render({**payload, "model_version": "<!channel> <https://evil.example|log in>"})
>>> hostile["text"].removesuffix(": 1 alert firing (amount)")  # Slack's syntax shown as text
':red_circle: [CRITICAL] fraud &lt;!channel&gt; &lt;https://evil.example|log in&gt;'
>>> hostile["blocks"][0]["text"]["text"]  # plain_text: shown as is, never parsed
'CRITICAL: fraud <!channel> <https://evil.example|log in>'
"""

from __future__ import annotations

from typing import Any

from monitor.alerts.sinks.base import Request, Sink

__all__ = ["SlackSink", "escape", "render"]

_EMOJI = {
    "critical": ":red_circle:",
    "warning": ":large_orange_circle:",
    "resolved": ":white_check_mark:",
    "test": ":wave:",
}
# mrkdwn text: a bare < or > is a control character (escaped, as a value's would be)
_SYMBOL = {">": "&gt;", ">=": "≥", "<": "&lt;", "<=": "≤"}
_SECTION_CHARS = 2900  # Slack: 3000 characters per section text
_MAX_SECTIONS = 20  # Slack: 50 blocks per message


def escape(text: str) -> str:
    """``text`` for a mrkdwn object: ``&``, ``<``, ``>`` as Slack's entities (``&`` first).

    >>> escape("<@U123> & <#C1|x>")
    '&lt;@U123&gt; &amp; &lt;#C1|x&gt;'
    """
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _code(text: str) -> str:
    # A backtick in the value would close the span and format the rest: U+02CB looks alike.
    return "`" + escape(text).replace("`", "\u02cb") + "`"


def _mrkdwn(text: str) -> dict[str, Any]:
    # verbatim: no auto-linking of bare URLs or channel names that came in with a value.
    return {"type": "mrkdwn", "text": text, "verbatim": True}


def _num(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _line(a: dict[str, Any]) -> str:
    who = f"*{escape(a['rule'])}*" + (f" · {_code(a['feature'])}" if a.get("feature") else "")
    who += f" in {_code(a['segment'])}" if a.get("segment") else ""
    statistic = escape(a["statistic"])
    symbol = _SYMBOL.get(a.get("comparison") or ">=", "≥")
    if a["state"] == "resolved":
        text = (
            f"{who}: {statistic} back to {_num(a.get('value'))} (threshold "
            f"{_num(a.get('threshold'))})"
        )
    else:
        text = (
            f"{who}: {statistic} = {_num(a.get('value'))} ({symbol} "
            f"{_num(a.get('threshold'))}, {a['severity']})"
        )
        if a.get("kind") == "dataset_drift" and a.get("evidence", {}).get("features"):
            text += ": " + ", ".join(_code(f) for f in a["evidence"]["features"])
        if a.get("reminder"):
            text += " _(still firing)_"
    return "• " + text


def _sections(lines: list[str]) -> list[dict[str, Any]]:
    chunks: list[str] = []
    current = ""
    for i, line in enumerate(lines):
        if len(current) + len(line) + 1 > _SECTION_CHARS:
            if len(chunks) + 1 == _MAX_SECTIONS:
                current += f"\n… and {len(lines) - i} more"
                break
            chunks.append(current)
            current = ""
        current = f"{current}\n{line}" if current else line[:_SECTION_CHARS]
    chunks.append(current)
    return [{"type": "section", "text": _mrkdwn(c)} for c in chunks if c]


def render(payload: dict[str, Any]) -> dict[str, Any]:
    """The Slack message (``text`` fallback and ``blocks``) for a notification payload."""
    status = payload["status"]
    model = f"{payload['model_id']} {payload['model_version']}"  # plain_text: as is
    if status == "test":
        text = (
            f"{_EMOJI['test']} {escape(payload.get('message', 'Test notification from monitor.'))}"
        )
        return {"text": text, "blocks": [{"type": "section", "text": _mrkdwn(text)}]}
    alerts = payload["alerts"]
    firing = [a for a in alerts if a["state"] == "firing"]
    features = payload.get("features") or []
    shown = escape(", ".join(features[:5])) + (
        f" +{len(features) - 5}" if len(features) > 5 else ""
    )
    if firing:
        emoji, label = _EMOJI[payload["severity"]], payload["severity"].upper()
        summary = f"{len(firing)} alert{'s' if len(firing) != 1 else ''} firing"
    else:
        emoji, label = _EMOJI["resolved"], "RESOLVED"
        summary = f"{len(alerts)} alert{'s' if len(alerts) != 1 else ''} resolved"
    text = f"{emoji} [{label}] {escape(model)}: {summary}" + (f" ({shown})" if shown else "")
    window = payload["window"]
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": f"{label}: {model}"[:150], "emoji": True},
        },
        {
            "type": "section",
            "fields": [
                _mrkdwn(f"*Model*\n{escape(payload['model_id'])}"),
                _mrkdwn(f"*Version*\n{escape(payload['model_version'])}"),
                _mrkdwn(f"*Window*\n{window['start']} → {window['end']}"),
                _mrkdwn(f"*Status*\n{summary}"),
            ],
        },
        *_sections([_line(a) for a in alerts]),
    ]
    if payload.get("dashboard_url"):
        blocks.append(
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": "Open dashboard"},
                        "url": payload["dashboard_url"],
                    }
                ],
            }
        )
    key = payload["idempotency_key"][:16]
    blocks.append({"type": "context", "elements": [_mrkdwn(f"monitor · key `{key}`")]})
    return {"text": text, "blocks": blocks}


class SlackSink(Sink):
    type = "slack"

    def __init__(self, name: str, url: str, **kwargs: Any) -> None:
        super().__init__(name, **kwargs)
        self._url = url

    def secrets(self) -> list[str]:
        return [self._url]

    def build(self, payload: dict[str, Any]) -> Request:
        return (
            "POST",
            self._url,
            {"json": render(payload), "headers": {"Idempotency-Key": payload["idempotency_key"]}},
        )
