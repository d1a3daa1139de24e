"""The files feeder (``monitor replay``): feed event files through the same engine as the live
stream.

A replay is one source (the files in the given order, as one stream), checkpointed like the live
service, so an interrupted backfill can ``--resume`` and a repeated replay rewrites the same
windows with the same values.
"""

from __future__ import annotations

import io
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import msgspec

from monitor.config import Config
from monitor.engine import ClosedWindow
from monitor.event_checks import Fault
from monitor.event_time import EventTimeGuard
from monitor.events import BadEvent, Decoded, DecodedLabels, EventDecoder, LabelDecoder
from monitor.pipeline.build import build, steady_collector
from monitor.pipeline.closing import close, flush
from monitor.store import Store
from monitor.store.settings import check_geometry, check_replay_input

__all__ = ["JOB", "LABELS_SOURCE", "SOURCE", "ReplayReport", "jsonl_blocks", "replay"]

#: A replay checkpoints under this job; predictions and labels are two sources that meet in the
#: label join under the same key ("replay"), as a Kafka partition's two topics do.
JOB = "replay"
SOURCE = "predictions:replay"
LABELS_SOURCE = "labels:replay"
_BLOCK = 4 << 20  # bytes read at a time; ~6,000 events of 700 bytes


@dataclass
class ReplayReport:
    events: int = 0
    labels: int = 0
    invalid: Counter[str] = field(default_factory=Counter)
    #: per model, events dropped because their window had closed (see allowed_lateness)
    late: Counter[str] = field(default_factory=Counter)
    #: the closed windows, when replay() is asked to keep them (see its ``keep_windows``)
    windows: list[ClosedWindow] = field(default_factory=list)
    closed: int = 0  # windows closed (of model versions; their segments' windows ride along)
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


def jsonl_blocks(fh: io.BufferedIOBase) -> Iterator[memoryview]:
    """Whole lines of ``fh``, about ``_BLOCK`` bytes at a time, read into one buffer that every
    block reuses: each block is valid until the next is read. (A fresh 4 MiB a block, joined to
    the line the last one cut, took 4x as long: 0.5 s of a million events' replay, in page
    faults and copies.) A line longer than the buffer gets a buffer twice as long.

    >>> import io
    >>> [bytes(b) for b in jsonl_blocks(io.BytesIO(b'{"a": 1}\\n{"a": 2}'))]
    [b'{"a": 1}\\n', b'{"a": 2}']
    """
    buf = bytearray(_BLOCK)
    held = 0  # the bytes of a line the last block cut, at the start of buf
    while True:
        if held == len(buf):  # one line fills the buffer; blocks handed out keep the old one
            bigger = bytearray(2 * len(buf))
            bigger[:held] = buf
            buf = bigger
        end = held + fh.readinto(memoryview(buf)[held:])
        if end == held:
            break
        cut = buf.rfind(b"\n", held, end) + 1
        if cut == 0:
            held = end
            continue
        yield memoryview(buf)[:cut]
        buf[: end - cut] = buf[cut:end]  # the same length: allowed while blocks are out
        held = end - cut
    if held:  # a last line without its newline (a blank one is an `empty` bad event)
        yield memoryview(buf)[:held]


def _decoded_blocks(
    path: Path, decoder: EventDecoder
) -> Iterator[tuple[Decoded, _Lines | list[Any], int]]:
    """(decoded batch, the raw events, bytes read) per block of the file; JSONL blocks are
    split into raw lines only when a dead letter needs one (see :class:`_Lines`)."""
    if path.suffix.lower() == ".avro":
        from monitor.kafka.avro import container_records

        with path.open("rb") as fh:
            records: list[Any] = []
            reported = 0
            for record in container_records(fh):
                if isinstance(record, Fault):  # the rest of the file: one dead letter
                    if records:
                        yield decoder.decode_objects(records), records, 0
                    rest = path.stat().st_size - reported
                    yield Decoded({}, [BadEvent(0, *record)], 1), [None], rest
                    return
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
        line = 1
        for block in jsonl_blocks(fh):
            decoded = decoder.decode_lines(block)
            yield decoded, _Lines(block, line), len(block)
            line += decoded.count


class _Lines:
    """The lines of a JSONL block (blank ones too, as ``decode_lines`` counts them), split only
    if a dead letter needs them, before the next block is read (:func:`jsonl_blocks`);
    ``first`` is the 1-based line number of the first in its file."""

    def __init__(self, block: memoryview, first: int) -> None:
        self.block = block
        self.first = first
        self._lines: list[bytes] | None = None

    def __getitem__(self, i: int) -> bytes:
        if self._lines is None:
            self._lines = bytes(self.block).split(b"\n")
        return self._lines[i].removesuffix(b"\r")  # a CRLF file's line ends with both


def _dead_letter(e: BadEvent, path: Path, raw: _Lines | list[Any], offset: int) -> dict[str, Any]:
    """The dead-letter record of ``e``: ``offset`` is its position in the replay (every file
    in order; for JSONL, every line counts), ``line`` its 1-based line number in a JSONL file."""
    event = raw[e.position]
    letter = {"reason": e.reason, "detail": e.detail, "source": str(path), "offset": offset}
    if isinstance(raw, _Lines):
        letter["line"] = raw.first + e.position
    letter["event"] = event.decode("utf-8", "replace") if isinstance(event, bytes) else event
    return letter


def _label_blocks(paths: list[Path], decoder: LabelDecoder) -> Iterator[tuple[DecodedLabels, int]]:
    """(decoded labels, their latest label time) per block of the label files."""
    for path in paths:
        with path.open("rb") as fh:
            for block in jsonl_blocks(fh):
                decoded = decoder.decode_lines(block)
                latest = max(
                    (int(b.timestamps.max()) for b in decoded.batches.values() if len(b)),
                    default=-(2**62),
                )
                yield decoded, latest


def replay(
    config: Config,
    store: Store,
    paths: list[Path],
    *,
    job: str = JOB,
    labels: list[Path] = (),  # type: ignore[assignment]
    resume: bool = False,
    dead_letters: IO[bytes] | None = None,
    progress: Callable[[int], None] | None = None,
    on_windows: Callable[[list[ClosedWindow]], None] | None = None,
    keep_windows: bool = True,
) -> ReplayReport:
    """Replay prediction/feature event files (JSONL or Avro container files) into ``store``;
    with ``labels``, label files too, in event-time order through the same label join: a block
    of labels goes in once the predictions' watermark has passed its latest label time.

    Every closed window is in the store; ``keep_windows`` also returns them in
    :attr:`ReplayReport.windows`, which grows with the replay: a long one hands them to
    ``on_windows`` as they close and keeps none (``keep_windows=False``), as ``monitor replay``
    does."""
    pipeline = build(
        config,
        store,
        job,
        labels=bool(labels),
        time_guard=EventTimeGuard.replay(config.event_time),
        wait_for_operator=False,  # a full disk ends the replay, resumable (StoreFull)
    )
    engine, checkpointer = pipeline.engine, pipeline.checkpointer
    decoder = EventDecoder(config)
    label_blocks = _label_blocks(labels, LabelDecoder(config))
    pending_labels: list[tuple[DecodedLabels, int]] = []
    if not resume:
        store.reset(job)
    check_geometry(store, job, config)
    check_replay_input(store, job, paths, labels, resume)
    offsets = pipeline.restore().offsets if resume else {}
    skip, label_skip = offsets.get(SOURCE, 0), offsets.get(LABELS_SOURCE, 0)
    report = ReplayReport()
    position = 0
    encoder = msgspec.json.Encoder()
    started = time.perf_counter()

    def emit(windows: list[ClosedWindow]) -> None:
        report.closed += len(windows)
        if keep_windows:
            report.windows += windows
        if on_windows and windows:
            on_windows(windows)

    label_position = 0

    def feed_labels(until: int | None) -> None:
        """Join label blocks whose latest label time the watermark has passed (all at the end)."""
        nonlocal label_position
        while True:
            if not pending_labels:
                block = next(label_blocks, None)
                if block is None:
                    return
                pending_labels.append(block)
            decoded, latest = pending_labels[0]
            if until is not None and latest > until:
                return
            pending_labels.pop(0)
            label_position += decoded.count
            if label_position <= label_skip:
                continue
            for e in decoded.errors + engine.process_labels(LABELS_SOURCE, decoded, label_position):
                report.invalid[e.reason] += 1
            report.labels += decoded.count - len(decoded.errors)

    with steady_collector():
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
                        letter = _dead_letter(e, path, raw, first + e.position)
                        dead_letters.write(encoder.encode(letter) + b"\n")
                report.events += decoded.count - len(bad)
                feed_labels(engine.watermark())
                emit(close(engine, engine.watermark()))
                checkpointer.maybe()
        feed_labels(None)
        report.late.update(engine.late_by_model)
        emit(flush(engine))
        while not checkpointer.commit():  # raises StoreFull: the disk will not empty by waiting
            time.sleep(1.0)  # the database is away: a replay waits for it rather than lose windows
    report.seconds = time.perf_counter() - started
    return report
