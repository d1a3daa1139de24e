"""``monitor replay``: feed files through the same engine as the live stream.

A replay is one source (the files in the given order, as one stream), checkpointed like the live
service, so an interrupted backfill can ``--resume`` and a repeated replay rewrites the same
windows with the same values.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import msgspec

from monitor.checkpoint import Checkpointer
from monitor.config import Config
from monitor.engine import ClosedWindow, Engine
from monitor.events import BadEvent, Decoded, EventDecoder
from monitor.store import Store

__all__ = ["replay", "ReplayReport", "SOURCE"]

SOURCE = "replay"
_BLOCK = 4 << 20  # bytes read at a time; ~6,000 events of 700 bytes


@dataclass
class ReplayReport:
    events: int = 0
    invalid: Counter[str] = field(default_factory=Counter)
    windows: list[ClosedWindow] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


def _jsonl_blocks(fh: IO[bytes]) -> Iterator[bytes]:
    rest = b""
    while block := fh.read(_BLOCK):
        block = rest + block
        cut = block.rfind(b"\n") + 1
        if cut == 0:
            rest = block
            continue
        rest = block[cut:]
        yield block[:cut]
    if rest.strip():
        yield rest


def _decoded_blocks(path: Path, decoder: EventDecoder) -> Iterator[tuple[Decoded, list[Any] | None, int]]:
    """(decoded batch, the raw events or None, bytes read) per block of the file; JSONL blocks
    are split into raw lines only when needed (see :func:`_raw_lines`)."""
    if path.suffix.lower() == ".avro":
        import fastavro

        with path.open("rb") as fh:
            records: list[Any] = []
            reported = 0
            for record in fastavro.reader(fh):
                records.append(record)
                if len(records) == 5000:
                    yield decoder.decode_objects(records), records, fh.tell() - reported
                    reported, records = fh.tell(), []
            if records:
                yield decoder.decode_objects(records), records, fh.tell() - reported
            elif fh.tell() > reported:
                yield Decoded({}, [], 0), [], fh.tell() - reported
        return
    with path.open("rb") as fh:
        for block in _jsonl_blocks(fh):
            yield decoder.decode_lines(block), _Lines(block), len(block)


class _Lines:
    """The non-blank lines of a JSONL block, split only if a dead letter needs them."""

    def __init__(self, block: bytes) -> None:
        self.block = block
        self._lines: list[bytes] | None = None

    def __getitem__(self, i: int) -> bytes:
        if self._lines is None:
            self._lines = [line for line in self.block.splitlines() if line.strip()]
        return self._lines[i]


def replay(
    config: Config,
    store: Store,
    paths: list[Path],
    *,
    job: str = SOURCE,
    resume: bool = False,
    dead_letters: IO[bytes] | None = None,
    progress: Callable[[int], None] | None = None,
    on_windows: Callable[[list[ClosedWindow]], None] | None = None,
) -> ReplayReport:
    """Replay prediction/feature event files (JSONL or Avro container files) into ``store``."""
    engine = Engine(config, store)
    decoder = EventDecoder(config)
    checkpointer = Checkpointer(engine, store, job, interval_s=config.checkpoint_interval / 1000)
    skip = 0
    if resume:
        state = store.load_state(job)
        engine.restore(state)
        skip = state.offsets.get(SOURCE, 0)
    else:
        store.reset(job)
    report = ReplayReport()
    position = 0
    encoder = msgspec.json.Encoder()
    started = time.perf_counter()

    def emit(windows: list[ClosedWindow]) -> None:
        report.windows += windows
        if on_windows and windows:
            on_windows(windows)

    for path in paths:
        for decoded, raw, nbytes in _decoded_blocks(path, decoder):
            first = position
            position += decoded.count
            if progress:
                progress(nbytes)
            if position <= skip:
                continue
            refused = engine.process(SOURCE, decoded, position)
            bad: list[BadEvent] = decoded.errors + refused
            for e in bad:
                report.invalid[e.reason] += 1
                if dead_letters is not None:
                    event = raw[e.position] if raw is not None else None
                    payload = event.decode("utf-8", "replace") if isinstance(event, bytes) else event
                    dead_letters.write(
                        encoder.encode({"reason": e.reason, "detail": e.detail, "source": str(path), "offset": first + e.position, "event": payload})
                        + b"\n"
                    )
            report.events += decoded.count - len(bad)
            emit(engine.close(engine.watermark()))
            checkpointer.maybe()
    emit(engine.flush())
    while not checkpointer.commit():
        time.sleep(1.0)  # the database is away: a replay waits for it rather than lose windows
    report.seconds = time.perf_counter() - started
    return report
