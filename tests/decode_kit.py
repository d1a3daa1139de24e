"""What the hostile-input and fuzz tests of the decoders share: configs, a good event and label,
Avro framing, and the invariants every decoded batch must keep."""

from __future__ import annotations

import io
import json
import math
from collections.abc import Callable, Sequence
from typing import Any

import fastavro

from monitor.config import parse_config
from monitor.events import REASONS, Decoded, DecodedLabels
from monitor.kafka.avro import parsed_schema

T = 1_767_225_600_000  # 2026-01-01T00:00:00Z
MODEL = {
    "features": {"x": {"kind": "numeric"}, "c": {"kind": "categorical"}},
    "segments": {"keys": ["region"]},
}
CFG = parse_config({"models": {"m": MODEL}})
TWO_MODELS = parse_config({"models": {"m": MODEL, "n": MODEL}})
REGRESSION = parse_config(
    {"models": {"r": {"prediction": "numeric", "features": {"x": {"kind": "numeric"}}}}}
)
EVENT: dict[str, Any] = {
    "model_id": "m",
    "model_version": "v1",
    "prediction_id": "p1",
    "timestamp": T,
    "features": {"x": 1.5, "c": "red"},
    "prediction": "1",
    "score": 0.5,
    "segments": {"region": "eu"},
}
LABEL: dict[str, Any] = {"model_id": "m", "prediction_id": "p1", "label": "1", "timestamp": T}


def dump(obj: Any) -> bytes:
    """JSON as Python producers write it (``NaN``, ``Infinity``, ``"\\ud800"`` escapes)."""
    return json.dumps(obj).encode()


def event(**changes: Any) -> bytes:
    return dump({**EVENT, **changes})


def label(**changes: Any) -> bytes:
    return dump({**LABEL, **changes})


def jsonl(lines: Sequence[bytes], last_newline: bool = True) -> bytes:
    """``lines`` as a JSONL buffer; the last line without its newline unless that would drop it."""
    ends = bool(lines) and (last_newline or lines[-1] == b"")
    return b"\n".join(lines) + (b"\n" if ends else b"")


def avro(record: dict[str, Any], schema: str = "prediction") -> bytes:
    """A record in raw Avro binary (``monitor.v1`` schemas)."""
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, parsed_schema(schema), record)
    return buf.getvalue()


def avro_event(**changes: Any) -> dict[str, Any]:
    """EVENT as the prediction schema spells it (every field present)."""
    return {**EVENT, "scores": None, **changes}


def rows(decoded: Decoded | DecodedLabels) -> dict[int, tuple[Any, ...]]:
    """Each good event of a decoded batch as a comparable tuple, by its position (NaN as None)."""
    out: dict[int, tuple[Any, ...]] = {}
    for model_id, b in decoded.batches.items():
        for j, position in enumerate(b.positions.tolist()):
            if isinstance(decoded, DecodedLabels):
                row: tuple[Any, ...] = (
                    b.prediction_ids[j],
                    _plain(b.labels[j]),
                    int(b.timestamps[j]),
                )
            else:
                row = (
                    b.versions[j],
                    b.prediction_ids[j],
                    int(b.timestamps[j]),
                    tuple(_plain(v) for v in b.numeric[j].tolist()),
                    tuple(_plain(c[j]) for c in b.categorical),
                    bool(b.has_prediction[j]),
                    b.segments[j] if b.segments else None,
                )
            assert position not in out, f"position {position} decoded twice"
            out[position] = (model_id, *row)
    return out


def _plain(value: Any) -> Any:
    return None if isinstance(value, float) and math.isnan(value) else value


def check(
    decode: Callable[[Sequence[Any]], Decoded | DecodedLabels], values: Sequence[Any]
) -> dict[int, str]:
    """Decode ``values`` as one batch and check the invariants every batch keeps; returns the
    reason of each bad position.

    - nothing raises (the caller would see it);
    - every input is accounted for once: good positions and bad ones partition the input;
    - every reason is a documented one, with a detail;
    - each good event decodes as it does alone: a bad neighbour changes nothing.
    """
    decoded = decode(values)
    assert decoded.count == len(values)
    good = rows(decoded)
    bad = {e.position: e.reason for e in decoded.errors}
    assert len(bad) == len(decoded.errors), "one error per bad position"
    assert sorted([*good, *bad]) == list(range(len(values)))
    assert all(e.reason in REASONS and e.detail for e in decoded.errors), decoded.errors
    for position, row in good.items():
        alone = rows(decode([values[position]]))
        assert list(alone.values()) == [row], f"position {position} decodes otherwise alone"
    return bad
