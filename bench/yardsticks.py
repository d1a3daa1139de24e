"""The yardsticks: the fastest way Python turns the same bytes into values, and nothing else.

JSON: msgspec decoding into the product's own typed Struct (the one
:class:`monitor.events.EventDecoder` builds from the config), streaming over a file in 4 MiB
blocks as replay reads it, or over a list of consumed message values; each way of cutting the
work (per line, per block with ``decode_lines``, per block as one JSON array) is timed and the
fastest is the yardstick. Untyped msgspec, orjson, json and pyarrow's columnar JSON reader are
context rows (pyarrow reads the same blocks straight into columns, the product's own output,
in C++ and without a Python object per value: its row shows whether such a reader would beat
the yardstick). Avro: fastavro's
``reader`` over a container file, ``schemaless_reader`` per Kafka message.

The garbage collector is set as the product sets it: replay and ``monitor run`` both feed
under :func:`monitor.pipeline.build.steady_collector` (what start-up built frozen, generation
0 collected less often), and so does every yardstick here (the Kafka one through the same
function, in :mod:`bench.kafka`).

>>> from monitor.config import parse_config
>>> cfg = parse_config({"models": {"m": {"features": {"x": {"kind": "numeric"}}}}})
>>> line = (b'{"model_id": "m", "model_version": "1", "prediction_id": "a", "timestamp": 1, '
...         b'"features": {"x": 2.5}}')
>>> rates = json_values_rates(cfg, [line] * 1000)
>>> sorted(rates) == sorted(JSON_VALUES_WAYS)
True
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Union

import msgspec

from monitor.config import Config
from monitor.events import EventDecoder
from monitor.pipeline.build import steady_collector
from monitor.pipeline.files import jsonl_blocks

__all__ = [
    "JSON_VALUES_WAYS",
    "TYPED",
    "avro_container_rate",
    "avro_values_rate",
    "best_typed",
    "json_file_rates",
    "json_values_rates",
]

#: The name of every typed way starts with this; the fastest of them is the yardstick.
TYPED = "msgspec typed"


def event_type(config: Config) -> Any:
    """The product's event type: one model's Struct, or the union of the models' Structs."""
    structs = tuple(codec.struct for codec in EventDecoder(config).codecs.values())
    return structs[0] if len(structs) == 1 else Union[structs]  # noqa: UP007 (runtime union)


def _lines(block: memoryview) -> list[bytes]:
    return bytes(block).splitlines()


def _array(decode: Callable[[bytes], Any]) -> Callable[[list[bytes]], Any]:
    return lambda lines: decode(b"[" + b",".join(lines) + b"]")


def _file_ways(config: Config, quick: bool) -> dict[str, Callable[[memoryview], Any]]:
    """Each way to decode a block of lines (:func:`~monitor.pipeline.files.jsonl_blocks`)
    into values; ``quick``: the typed ways per block and per line only."""
    kind = event_type(config)
    typed = msgspec.json.Decoder(kind)
    ways: dict[str, Callable[[memoryview], Any]] = {
        f"{TYPED}, per block (Decoder.decode_lines)": typed.decode_lines,
        f"{TYPED}, per line": lambda block: list(map(typed.decode, _lines(block))),
    }
    if quick:  # the rest would load orjson and pyarrow into a process that measures its RSS
        return ways
    import orjson
    import pyarrow as pa
    import pyarrow.json as pa_json

    typed_list = _array(msgspec.json.Decoder(list[kind]).decode)  # type: ignore[valid-type]
    generic = msgspec.json.Decoder()
    # One thread, as the other ways; a parse block larger than a read block: one chunk each.
    columnar = pa_json.ReadOptions(use_threads=False, block_size=1 << 23)
    return ways | {
        f"{TYPED}, per block as one JSON array": lambda block: typed_list(_lines(block)),
        "msgspec untyped (dicts), per block": generic.decode_lines,
        "orjson.loads, per line": lambda block: list(map(orjson.loads, _lines(block))),
        "json.loads, per line": lambda block: list(map(json.loads, _lines(block))),
        "pyarrow.json.read_json into columns, per block (one thread)": lambda block: (
            pa_json.read_json(pa.BufferReader(block), read_options=columnar)
        ),
    }


def json_file_rates(config: Config, path: Path, quick: bool = False) -> dict[str, float]:
    """Events per second of each way, streaming over the JSONL file at ``path`` (read included;
    each block's values are dropped when the next block is decoded). ``quick``: the typed ways
    per line and per block only (the one-array way has been the slowest typed way in every
    run; the full table keeps it)."""
    out = {}
    for name, decode in _file_ways(config, quick).items():
        with steady_collector(), path.open("rb") as fh:
            started, n = time.perf_counter(), 0
            for block in jsonl_blocks(fh):  # as replay reads them
                n += len(decode(block))
            out[name] = n / (time.perf_counter() - started)
    return out


JSON_VALUES_WAYS = (
    f"{TYPED}, per message",
    f"{TYPED}, per batch of 5,000 as one JSON array",
    "msgspec untyped (dicts), per message",
    "orjson.loads, per message",
)


def json_values_rates(config: Config, values: Sequence[bytes]) -> dict[str, float]:
    """Events per second of each way over consumed message values, in batches of 5,000 (a
    batch's values are dropped when the next is decoded)."""
    import orjson

    kind = event_type(config)
    typed = msgspec.json.Decoder(kind).decode
    typed_list = _array(msgspec.json.Decoder(list[kind]).decode)  # type: ignore[valid-type]
    generic = msgspec.json.Decoder().decode
    ways: dict[str, Callable[[Sequence[bytes]], Any]] = {
        JSON_VALUES_WAYS[0]: lambda batch: list(map(typed, batch)),
        JSON_VALUES_WAYS[1]: lambda batch: typed_list(list(batch)),
        JSON_VALUES_WAYS[2]: lambda batch: list(map(generic, batch)),
        JSON_VALUES_WAYS[3]: lambda batch: list(map(orjson.loads, batch)),
    }
    out = {}
    for name, decode in ways.items():
        started = time.perf_counter()
        for i in range(0, len(values), 5000):
            decode(values[i : i + 5000])
        out[name] = len(values) / (time.perf_counter() - started)
    return out


def best_typed(rates: dict[str, float]) -> tuple[str, float]:
    """The yardstick: the fastest typed way and its rate."""
    return max(((k, v) for k, v in rates.items() if k.startswith(TYPED)), key=lambda kv: kv[1])


def avro_container_rate(path: Path) -> float:
    """Records per second of fastavro's streaming ``reader`` over a container file."""
    from fastavro import reader

    started, n = time.perf_counter(), 0
    with path.open("rb") as fh:
        for _ in reader(fh):
            n += 1
    return n / (time.perf_counter() - started)


def avro_values_rate(values: Sequence[bytes]) -> float:
    """Records per second of fastavro's ``schemaless_reader``, one message at a time, with
    the schema as the product reads it (timestamps as ints: the fastest way; fastavro makes a
    datetime of each otherwise)."""
    from fastavro import schemaless_reader

    from monitor.kafka.avro import decoding_schema

    schema = decoding_schema("prediction")
    started = time.perf_counter()
    for i in range(0, len(values), 5000):
        [schemaless_reader(io.BytesIO(v), schema, None) for v in values[i : i + 5000]]
    return len(values) / (time.perf_counter() - started)
