"""The asyncio producer: :class:`AsyncMonitorClient`, a :class:`MonitorClient` whose waits are
awaited, never spent on the event loop."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any, Self

from monitor.client._encode import Timestamp, Value
from monitor.client._producer import ClientStats, Message, MonitorClient

__all__ = ["AsyncMonitorClient"]

# How often the background thread serves delivery reports (it returns at once when one is
# ready, so this only bounds how late it notices close()), and the longest nap of a call waiting
# for room in a full local queue with on_full="block".
_POLL_S = 0.1
_NAP_S = 0.01


class AsyncMonitorClient:
    """Log one model's predictions, features and labels to Kafka from asyncio code.

    It takes the arguments of :class:`MonitorClient` and keeps its semantics (``on_full``,
    ``block_timeout``, ``config`` validation, :attr:`stats`); what differs is where time is
    spent. A ``log_*`` coroutine only encodes and queues, as the synchronous call does; it
    never runs librdkafka's callbacks or waits on the network: a background thread serves
    delivery reports, ``on_full="block"`` waits with ``await asyncio.sleep``, a batch call
    lets other tasks run every 1,000 rows, and :meth:`flush` and :meth:`close` wait in a
    worker thread. With a Schema Registry (Avro), encoding may call the registry over HTTP
    (to register a schema, on first use), so it runs in a worker thread too.

    >>> import asyncio
    >>> async def app() -> ClientStats:
    ...     async with AsyncMonitorClient("127.0.0.1:1", model_id="fraud", model_version="3",
    ...                                   producer_config={"log_level": 0}) as client:
    ...         pid = await client.log_prediction({"amount": 12.5}, prediction=1, score=0.9)
    ...         await client.log_label(pid, 1)
    ...         ids = await client.log_predictions([{"amount": 3.0, "prediction": 0}] * 3)
    ...         stats = client.stats  # nothing listens at 127.0.0.1:1: all still queued
    ...         await client.close(timeout=0)
    ...     return stats
    >>> asyncio.run(app())
    ClientStats(sent=0, dropped=0, failed=0, pending=5)
    """

    def __init__(self, bootstrap_servers: str, **kwargs: Any) -> None:
        self.client = MonitorClient(bootstrap_servers, **kwargs)
        self._stop = threading.Event()
        self._poller = threading.Thread(target=self._serve, name="monitor-client-poll", daemon=True)
        self._poller.start()

    def _serve(self) -> None:
        poll = self.client._producer.poll
        while not self._stop.is_set():
            poll(_POLL_S)

    @property
    def stats(self) -> ClientStats:
        """The events sent, dropped, failed and pending so far (:attr:`MonitorClient.stats`)."""
        return self.client.stats

    @property
    def pending(self) -> int:
        """Messages queued or in flight (:attr:`MonitorClient.pending`)."""
        return self.client.pending

    async def log_prediction(
        self,
        features: Mapping[str, float | str | bool | None],
        prediction: Value,
        score: float | None = None,
        scores: Mapping[str, float] | None = None,
        segments: Mapping[str, str] | None = None,
        prediction_id: str | None = None,
        timestamp: Timestamp = None,
    ) -> str:
        """:meth:`MonitorClient.log_prediction`, awaited."""
        make = self.client._prediction
        args = (features, prediction, score, scores, segments, prediction_id, timestamp)
        message = await self._encoded(make, *args)
        await self._produce(self.client.predictions_topic, (message,))
        return message[0]

    async def log_features(
        self,
        features: Mapping[str, float | str | bool | None],
        segments: Mapping[str, str] | None = None,
        prediction_id: str | None = None,
        timestamp: Timestamp = None,
    ) -> str:
        """:meth:`MonitorClient.log_features`, awaited."""
        message = await self._encoded(
            self.client._features, features, segments, prediction_id, timestamp
        )
        await self._produce(self.client.features_topic, (message,))
        return message[0]

    async def log_label(
        self, prediction_id: str, label: float | str | bool, timestamp: Timestamp = None
    ) -> None:
        """:meth:`MonitorClient.log_label`, awaited."""
        message = await self._encoded(self.client._label, prediction_id, label, timestamp)
        await self._produce(self.client.labels_topic, (message,))

    async def log_predictions(
        self,
        data: Any,
        *,
        features: Sequence[str] | Mapping[str, str] | None = None,
        prediction: str | None = None,
        score: str | None = None,
        prediction_id: str | None = None,
        timestamp: str | None = None,
        segments: Sequence[str] | None = None,
    ) -> list[str]:
        """:meth:`MonitorClient.log_predictions`, awaited (other tasks run between chunks)."""
        chunks = self.client._predictions(
            data, features, prediction, score, prediction_id, timestamp, segments
        )
        messages = await self._batch(chunks)
        await self._produce(self.client.predictions_topic, messages)
        return [key for key, _ in messages]

    async def log_labels(
        self,
        data: Any,
        *,
        prediction_id: str | None = None,
        label: str | None = None,
        timestamp: str | None = None,
    ) -> int:
        """:meth:`MonitorClient.log_labels`, awaited (other tasks run between chunks)."""
        messages = await self._batch(self.client._labels(data, prediction_id, label, timestamp))
        await self._produce(self.client.labels_topic, messages)
        return len(messages)

    async def flush(self, timeout: float = 5.0) -> None:
        """:meth:`MonitorClient.flush` in a worker thread: waits up to ``timeout`` seconds,
        raises :class:`~monitor.exceptions.KafkaError` for what was not delivered."""
        await asyncio.to_thread(self.client.flush, timeout)

    async def close(self, timeout: float = 5.0) -> ClientStats:
        """:meth:`MonitorClient.close` in a worker thread, after stopping the polling thread;
        returns the final :attr:`stats`. Closing twice is a no-op."""
        self._stop.set()
        await asyncio.to_thread(self._poller.join)
        return await asyncio.to_thread(self.client.close, timeout)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def _encoded(self, make: Any, *args: Any) -> Message:
        """One event's message; made in a worker thread when encoding may call the registry."""
        if self.client.schema_registry is not None:
            return await asyncio.to_thread(make, *args)
        return make(*args)

    async def _batch(self, chunks: Any) -> list[Message]:
        """Every message of a batch, letting other tasks run between chunks (in a worker
        thread when encoding may call the registry)."""
        if self.client.schema_registry is not None:
            return await asyncio.to_thread(lambda: [m for chunk in chunks for m in chunk])
        messages: list[Message] = []
        for chunk in chunks:
            messages.extend(chunk)
            await asyncio.sleep(0)
        return messages

    async def _produce(self, topic: str, messages: Sequence[Message]) -> None:
        """Queue ``messages`` as :meth:`MonitorClient._produce_all` does, awaiting each wait
        (the background thread makes room meanwhile)."""
        for wait in self.client._producing(topic, messages):
            await asyncio.sleep(min(wait, _NAP_S))
