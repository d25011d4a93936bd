"""The usage ledger writer: rows are queued on the request path and written in batches off it.

Writing one row per request inside the request would put a database round trip on every call; a
batch every ``flush_interval_s`` keeps the gateway's overhead small and the ledger exact, because
nothing is dropped: a failed batch is retried, the queue is drained on shutdown, and when the queue
is full the gateway refuses new requests instead of serving them unrecorded.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque

from sqlalchemy.ext.asyncio import async_sessionmaker

from hub.errors import HubError
from hub.usage.services import UsageEntry, write_usage

log = logging.getLogger("kiverbund.gateway.ledger")


class Ledger:
    """Buffers :class:`UsageEntry` objects and writes them to the database in batches."""

    def __init__(
        self, sessionmaker: async_sessionmaker, *, flush_interval_s: float, batch_size: int, queue_limit: int
    ) -> None:
        self._sessionmaker = sessionmaker
        self._flush_interval_s = flush_interval_s
        self._batch_size = batch_size
        self._queue_limit = queue_limit
        self._pending: deque[UsageEntry] = deque()
        self._wakeup = asyncio.Event()
        self._lock = asyncio.Lock()
        self.written = 0

    def check_capacity(self) -> None:
        """Refuse new work (503) while the ledger cannot keep up, so no request goes unrecorded."""
        if len(self._pending) >= self._queue_limit:
            raise HubError(
                "The usage ledger is not writable at the moment; try again shortly",
                status_code=503,
                code="ledger_unavailable",
                error_type="server_error",
            )

    def add(self, entry: UsageEntry) -> None:
        """Queue one finished request for writing."""
        self._pending.append(entry)
        if len(self._pending) >= self._batch_size:
            self._wakeup.set()

    @property
    def pending(self) -> int:
        """Entries not yet written."""
        return len(self._pending)

    async def flush(self) -> None:
        """Write everything queued so far (raises if the database refuses)."""
        async with self._lock:
            while self._pending:
                batch = [self._pending.popleft() for _ in range(min(self._batch_size, len(self._pending)))]
                try:
                    async with self._sessionmaker() as session, session.begin():
                        await write_usage(session, batch)
                except BaseException:
                    # Put the batch back in front, in order, so a retry writes it exactly once.
                    self._pending.extendleft(reversed(batch))
                    raise
                self.written += len(batch)

    async def run(self) -> None:
        """Flush periodically until cancelled; errors are logged and the batch retried."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), timeout=self._flush_interval_s)
            self._wakeup.clear()
            try:
                await self.flush()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("writing %d ledger entries failed; will retry", len(self._pending))
                await asyncio.sleep(1.0)

    async def close(self) -> None:
        """Write what is left (called on shutdown)."""
        try:
            await self.flush()
        except Exception:
            log.exception("could not write %d ledger entries on shutdown", len(self._pending))
