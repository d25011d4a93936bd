"""An open-loop HTTP/1.1 load generator, run as its own process by :mod:`benchmarks.gateway_overhead`.

Requests are sent on a fixed schedule (``rate`` per second) whether or not earlier ones have been
answered, so a slow server cannot slow the generator down and hide its own latency (no coordinated
omission). Latency is measured from each request's *scheduled* send time; the time it actually left
(``service`` latency) is recorded as well.

The client is deliberately thin (uvloop, ``asyncio.Protocol`` and httptools' C parser, keep-alive
connections reused first-in-first-out) so that it takes as little CPU as possible from the servers
under test on a small machine, and it is the same code for both paths: only host and port differ.

Run: ``python -m benchmarks.loadgen --port 8080 --path /v1/chat/completions --body '{...}' --rate 100``.
Prints one JSON object with the raw per-request figures of the measured window.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import resource
import socket
import sys
import time
from collections import deque
from typing import Any

import httptools
import msgspec

_decode = msgspec.json.decode
perf = time.perf_counter


class Sample:
    """One request: when it was due, when it left, when its first content and its end arrived."""

    __slots__ = (
        "buffer",
        "chunks",
        "done",
        "error",
        "finished",
        "first",
        "index",
        "scheduled",
        "sent",
        "status",
        "stream",
    )

    def __init__(self, index: int, scheduled: float, stream: bool) -> None:
        self.index = index
        self.scheduled = scheduled
        self.stream = stream
        self.sent = 0.0
        self.first = 0.0
        self.done = 0.0
        self.status = 0
        self.chunks = 0
        self.finished = False
        self.error: str | None = None
        self.buffer = bytearray()

    def feed(self, data: bytes) -> None:
        """Body bytes: kept whole for a JSON answer, parsed event by event for a stream."""
        self.buffer += data
        if not self.stream:
            return
        while True:
            end = self.buffer.find(b"\n\n")
            if end < 0:
                return
            event = bytes(self.buffer[:end])
            del self.buffer[: end + 2]
            if not event.startswith(b"data: "):
                continue
            payload = event[6:]
            if payload == b"[DONE]":
                self.finished = True
                continue
            try:
                choices = _decode(payload).get("choices") or []
            except msgspec.DecodeError:
                self.error = "bad_sse"
                continue
            if choices:
                choice = choices[0]
                content = (choice.get("delta") or {}).get("content") or choice.get("text")
                if content:
                    if not self.first:
                        self.first = perf()
                    self.chunks += 1


class Connection(asyncio.Protocol):
    """One keep-alive connection carrying one request at a time."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.current: Sample | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def send(self, sample: Sample) -> None:
        self.current = sample
        sample.sent = perf()
        assert self.transport is not None
        self.transport.write(self.client.request_bytes)

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(f"parse:{exc}")
            assert self.transport is not None
            self.transport.close()

    def on_body(self, body: bytes) -> None:
        if self.current is not None:
            self.current.feed(body)

    def on_message_complete(self) -> None:
        sample = self.current
        if sample is None:
            return
        sample.done = perf()
        sample.status = self.parser.get_status_code()
        self.current = None
        self.client.finished(self, sample)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._fail("connection_lost")
        self.client.dropped(self)

    def _fail(self, error: str) -> None:
        sample = self.current
        if sample is not None:
            self.current = None
            sample.error = error
            sample.done = perf()
            self.client.completed(sample)


class Client:
    """A pool of connections to one server; requests beyond ``max_connections`` wait in a queue."""

    def __init__(self, host: str, port: int, request_bytes: bytes, max_connections: int, expect_chunks: int) -> None:
        self.host = host
        self.port = port
        self.request_bytes = request_bytes
        self.max_connections = max_connections
        self.expect_chunks = expect_chunks
        self.idle: deque[Connection] = deque()
        self.open_connections = 0
        self.waiting: deque[Sample] = deque()
        self.outstanding = 0
        self.results: list[Sample] = []
        self.all_done = asyncio.Event()
        self.peak_connections = 0

    def submit(self, sample: Sample) -> None:
        self.outstanding += 1
        self.all_done.clear()
        while self.idle:
            conn = self.idle.popleft()
            if not conn.closed:
                conn.send(sample)
                return
        if self.open_connections < self.max_connections:
            self.open_connections += 1
            self.peak_connections = max(self.peak_connections, self.open_connections)
            asyncio.get_running_loop().create_task(self._open(sample))
        else:
            self.waiting.append(sample)

    async def _open(self, sample: Sample) -> None:
        loop = asyncio.get_running_loop()
        try:
            _, conn = await loop.create_connection(lambda: Connection(self), self.host, self.port)
        except OSError as exc:
            self.open_connections -= 1
            sample.error = f"connect:{exc.__class__.__name__}"
            sample.done = perf()
            self.completed(sample)
            return
        conn.send(sample)

    def finished(self, conn: Connection, sample: Sample) -> None:
        self.completed(sample)
        if self.waiting:
            conn.send(self.waiting.popleft())
        else:
            self.idle.append(conn)

    def dropped(self, conn: Connection) -> None:
        self.open_connections -= 1
        if self.waiting and self.open_connections < self.max_connections:
            sample = self.waiting.popleft()
            self.outstanding -= 1  # submit() counts it again
            self.submit(sample)

    def completed(self, sample: Sample) -> None:
        if sample.error is None:
            if sample.status != 200:
                sample.error = f"http_{sample.status}"
            elif sample.stream and (not sample.finished or sample.chunks != self.expect_chunks):
                sample.error = "incomplete_stream"
            elif not sample.stream and b'"choices"' not in sample.buffer:
                sample.error = "bad_body"
        sample.buffer = bytearray()
        self.results.append(sample)
        self.outstanding -= 1
        if self.outstanding == 0:
            self.all_done.set()


async def run(args: argparse.Namespace) -> dict[str, Any]:
    body = args.body.encode()
    head = (
        f"POST {args.path} HTTP/1.1\r\nHost: {args.host}:{args.port}\r\nUser-Agent: kiverbund-bench\r\n"
        f"Content-Type: application/json\r\nAccept: */*\r\n"
        + (f"Authorization: Bearer {args.key}\r\n" if args.key else "")
        + f"Content-Length: {len(body)}\r\n\r\n"
    )
    client = Client(args.host, args.port, head.encode() + body, args.max_connections, args.expect_chunks)
    stream = args.stream
    interval = 1.0 / args.rate
    total = round((args.warmup + args.duration) * args.rate)
    first_measured = round(args.warmup * args.rate)
    t0 = perf() + 0.02
    cpu_start: float | None = None
    measure_start = t0 + first_measured * interval
    i = 0
    while i < total:
        now = perf()
        due = t0 + i * interval
        if due > now:
            await asyncio.sleep(due - now)
            now = perf()
        while i < total and t0 + i * interval <= now:
            if i == first_measured:
                usage = resource.getrusage(resource.RUSAGE_SELF)
                cpu_start = usage.ru_utime + usage.ru_stime
            client.submit(Sample(i, t0 + i * interval, stream))
            i += 1
    sending_ended = perf()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(client.all_done.wait(), timeout=args.timeout)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu_used = usage.ru_utime + usage.ru_stime - (cpu_start or 0.0)
    measured = sorted((s for s in client.results if s.index >= first_measured), key=lambda s: s.index)
    unanswered = (total - first_measured) - len(measured)
    ok = [s for s in measured if s.error is None]
    errors: dict[str, int] = {}
    for s in measured:
        if s.error is not None:
            errors[s.error] = errors.get(s.error, 0) + 1
    if unanswered:
        errors["timeout"] = unanswered
    last_done = max((s.done for s in ok), default=measure_start)
    return {
        "rate": args.rate,
        "duration_s": args.duration,
        "warmup_s": args.warmup,
        "scheduled": total - first_measured,
        "ok": len(ok),
        "errors": errors,
        "window_s": last_done - measure_start,
        "sending_s": sending_ended - measure_start,
        "peak_connections": client.peak_connections,
        "loadgen_cpu_s": cpu_used,
        # Seconds, per successful request, in the order they were scheduled.
        "latency": [round(s.done - s.scheduled, 7) for s in ok],
        "service": [round(s.done - s.sent, 7) for s in ok],
        "send_lag": [round(s.sent - s.scheduled, 7) for s in ok],
        "ttft": [round(s.first - s.scheduled, 7) for s in ok] if stream else [],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", default="/v1/chat/completions")
    parser.add_argument("--key", default="", help="bearer key (sent on both paths; the upstream ignores it)")
    parser.add_argument("--body", required=True, help="the JSON request body")
    parser.add_argument("--stream", action="store_true", help="the body asks for a stream: measure TTFT too")
    parser.add_argument("--expect-chunks", type=int, default=0, help="content chunks a complete stream carries")
    parser.add_argument("--rate", type=float, required=True, help="requests per second")
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds at the same rate, not measured")
    parser.add_argument("--timeout", type=float, default=10.0, help="wait this long for stragglers at the end")
    parser.add_argument("--max-connections", type=int, default=512)
    args = parser.parse_args()
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop comes with litestar[standard]
        result = asyncio.run(run(args))
    else:
        result = uvloop.run(run(args))
    json.dump(result, sys.stdout, separators=(",", ":"))


if __name__ == "__main__":
    main()
