"""Text from events reaches Slack as text: a hostile model version or segment value cannot
mention ``@channel``, a user or a channel, nor plant a link, in any mrkdwn part of the message;
the plain_text header (which Slack does not parse) shows it as is; our own dashboard link works.
End to end: the hostile events are replayed into a real store, the rule fires, the dispatcher
posts to a real HTTP receiver, and the received JSON is checked."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from monitor.alerts import Dispatcher
from monitor.alerts.sinks.slack import escape, render
from monitor.config import parse_config
from monitor.pipeline.files import replay
from monitor.reference import ReferenceProfile
from monitor.store import Store

from .conftest import Receiver

HOSTILE = "<!channel> <https://evil.example|log in>"
REGION = "<@U024BE7LH> & `co` *x*"
GRAFANA = "https://grafana.example.com/d/monitor"


def unescape(text: str) -> str:
    """What Slack displays for escaped mrkdwn text (``&amp;`` last, as it was first)."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def text_objects(message: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every text object of a Block Kit message."""
    for block in message["blocks"]:
        if isinstance(block.get("text"), dict):
            yield block["text"]
        yield from block.get("fields", ())
        for element in block.get("elements", ()):
            yield element.get("text", element) if element.get("type") == "button" else element


def mrkdwn(message: dict[str, Any]) -> list[str]:
    """The texts Slack parses as mrkdwn: the top-level ``text`` and every mrkdwn object."""
    objects = [o for o in text_objects(message) if o["type"] == "mrkdwn"]
    assert all(o.get("verbatim") is True for o in objects)  # no auto-linking in values
    return [message["text"], *(o["text"] for o in objects)]


def payload(version: str, feature: str, segment: str | None) -> dict[str, Any]:
    alert = {
        "rule": "drift",
        "kind": "feature_drift",
        "feature": feature,
        "segment": segment,
        "state": "firing",
        "severity": "critical",
        "statistic": "psi",
        "comparison": ">",
        "value": 0.41,
        "threshold": 0.25,
        "reminder": False,
        "evidence": {},
    }
    return {
        "status": "firing",
        "severity": "critical",
        "model_id": "fraud",
        "model_version": version,
        "idempotency_key": "ab" * 32,
        "features": [feature],
        "dashboard_url": None,
        "window": {"start": "2026-01-01T00:00:00Z", "end": "2026-01-01T01:00:00Z"},
        "alerts": [alert],
    }


@given(version=st.text(min_size=1), feature=st.text(min_size=1), segment=st.text(min_size=1))
def test_no_value_can_become_markup(version: str, feature: str, segment: str) -> None:
    message = render(payload(version, feature, f"region={segment}"))
    texts = mrkdwn(message)
    assert not any("<" in t or ">" in t for t in texts)
    fields = [o["text"] for o in message["blocks"][1]["fields"]]
    assert unescape(fields[1]) == f"*Version*\n{version}"
    line = message["blocks"][2]["text"]["text"]
    assert line.count("`") == 4  # our two code spans; a value's backticks cannot close them
    assert unescape(line.replace("\u02cb", "`")).startswith(
        f"• *drift* · `{feature}` in `region={segment}`: psi = 0.41 (> 0.25, critical)"
    )
    assert message["blocks"][0]["text"] == {
        "type": "plain_text",
        "text": f"CRITICAL: fraud {version}"[:150],
        "emoji": True,
    }


def test_escape_is_slacks_and_undone_by_what_slack_displays() -> None:
    assert escape("a & b <c> &lt;") == "a &amp; b &lt;c&gt; &amp;lt;"
    assert unescape(escape("a & b <c> &lt;")) == "a & b <c> &lt;"


def test_a_hostile_events_alert_reaches_slack_as_text(
    store: Store, receiver: Receiver, tmp_path
) -> None:
    cfg = parse_config(
        {
            "database_url": store.url,
            "models": {
                "fraud": {
                    "features": {"amount": {"kind": "numeric"}},
                    "window": "100s",
                    "prediction": "none",
                    "score": False,
                    "min_events": 200,
                    "segments": {"keys": ["region"], "top_k": 2, "min_reference_rows": 50},
                    "rules": [
                        {
                            "name": "drift",
                            "kind": "feature_drift",
                            "statistic": "psi",
                            "critical": 0.25,
                            "segments": True,
                        }
                    ],
                }
            },
            "alerts": {
                "sinks": {"slack": {"type": "slack", "url": receiver.url("/services/T0/B0/X")}},
                "routes": {"critical": ["slack"]},
                "grafana_url": GRAFANA,
            },
        }
    )
    rng = np.random.default_rng(11)
    regions = [REGION, "eu"] * 2_000
    store.save_reference(
        ReferenceProfile.for_model(
            "fraud", "*", cfg.models["fraud"], {"amount": rng.normal(size=4_000), "region": regions}
        )
    )
    events = tmp_path / "events.jsonl"
    events.write_bytes(
        b"".join(
            event_line(i, float(x), regions[i]) for i, x in enumerate(rng.normal(2.0, size=2_000))
        )
    )
    report = replay(cfg, store, [events])
    assert report.events == 2_000 and not report.invalid
    dispatcher = Dispatcher.from_config(cfg, store, evaluator=None)
    dispatcher.drain()
    dispatcher.close()

    [request] = receiver.requests
    message = request.json()
    for text in mrkdwn(message):
        assert "<" not in text and ">" not in text  # no mention, no link, no channel: text
    fields = {
        unescape(o["text"]).split("\n")[0]: unescape(o["text"]).split("\n", 1)[1]
        for o in message["blocks"][1]["fields"]
    }
    assert fields["*Model*"] == "fraud" and fields["*Version*"] == HOSTILE
    assert unescape(message["text"]).startswith(f":red_circle: [CRITICAL] fraud {HOSTILE}: ")
    lines = unescape(message["blocks"][2]["text"]["text"]).splitlines()
    shown_region = REGION.replace("`", "\u02cb")
    assert f"• *drift* · `amount` in `region={shown_region}`: psi = " in "\n".join(lines)
    assert message["blocks"][0]["text"]["text"] == f"CRITICAL: fraud {HOSTILE}"
    [button] = message["blocks"][3]["elements"]
    url = urlsplit(button["url"])
    assert f"{url.scheme}://{url.netloc}{url.path}" == GRAFANA
    assert parse_qs(url.query)["var-version"] == [HOSTILE]  # our link, the value encoded in it


def event_line(i: int, amount: float, region: str) -> bytes:
    return (
        json.dumps(
            {
                "model_id": "fraud",
                "model_version": HOSTILE,
                "prediction_id": str(i),
                "timestamp": i * 10,
                "features": {"amount": amount},
                "segments": {"region": region},
            }
        ).encode()
        + b"\n"
    )
