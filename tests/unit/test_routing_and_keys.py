"""Backend choice, metrics parsing, key format, and the ledger writer's retry."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from gateway.ledger import Ledger
from gateway.registry import BackendEntry, Registry
from gateway.routing import BackendMonitor, BackendState, parse_load
from hub.errors import HubError
from hub.tenants.keys import generate_key, hash_key
from hub.usage.services import UsageEntry

METRICS = """# HELP vllm:num_requests_running Number of requests in model execution batches.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{engine="0",model_name="a"} 3.0
vllm:num_requests_running{engine="1",model_name="a"} 2.0
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{engine="0",model_name="a"} 4.0
# TYPE vllm:num_requests_waiting_by_reason gauge
vllm:num_requests_waiting_by_reason{reason="capacity"} 9.0
"""


def test_parse_load_sums_engines_and_ignores_other_families() -> None:
    assert parse_load(METRICS) == (5.0, 4.0)


def _entry(name: str, served: str = "m") -> BackendEntry:
    return BackendEntry(uuid.uuid4(), name, f"http://{name}", "DE-MV", frozenset({served}), None, None)


def _monitor(*states: BackendState) -> BackendMonitor:
    registry = Registry(sessionmaker=None)  # type: ignore[arg-type]
    registry.backends = {s.entry.id: s.entry for s in states}
    monitor = BackendMonitor(registry, http=None, timeout_s=1)  # type: ignore[arg-type]
    monitor.states = {s.entry.id: s for s in states}
    return monitor


def test_candidates_prefer_least_loaded_and_skip_unhealthy() -> None:
    busy = BackendState(_entry("busy"), healthy=True, running=4)
    queued = BackendState(_entry("queued"), healthy=True, running=1, waiting=3)
    idle = BackendState(_entry("idle"), healthy=True)
    down = BackendState(_entry("down"), healthy=False)
    other = BackendState(_entry("other", served="x"), healthy=True)
    monitor = _monitor(busy, queued, idle, down, other)
    assert [s.entry.name for s in monitor.candidates("m")] == ["idle", "busy", "queued"]
    idle.in_flight = 10  # this replica's own, not yet scraped requests count
    assert monitor.candidates("m")[0].entry.name == "busy"


def test_ties_rotate() -> None:
    a, b = BackendState(_entry("a"), healthy=True), BackendState(_entry("b"), healthy=True)
    monitor = _monitor(a, b)
    firsts = {monitor.candidates("m")[0].entry.name for _ in range(4)}
    assert firsts == {"a", "b"}


def test_context_window_is_the_smallest_healthy_one() -> None:
    a = BackendState(_entry("a"), healthy=True, max_model_len={"m": 4096})
    b = BackendState(_entry("b"), healthy=True, max_model_len={"m": 2048})
    c = BackendState(_entry("c"), healthy=False, max_model_len={"m": 512})
    assert _monitor(a, b, c).context_window("m") == 2048


def test_keys_are_random_prefixed_and_hashed() -> None:
    first, second = generate_key(), generate_key()
    assert first.secret != second.secret
    assert first.secret.startswith(first.prefix + "_") and len(first.prefix) == 12
    assert first.key_hash == hash_key(first.secret) and len(first.key_hash) == 64
    assert first.secret not in first.key_hash


class _FlakySession:
    """A session factory whose first transaction fails, like a briefly unreachable database."""

    def __init__(self) -> None:
        self.calls = 0
        self.written: list[list[UsageEntry]] = []

    def __call__(self) -> _FlakySession:
        return self

    async def __aenter__(self) -> _FlakySession:
        self.calls += 1
        if self.calls == 1:
            raise ConnectionError("database down")
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    def begin(self) -> _FlakySession:
        return self


def _usage(n: int) -> UsageEntry:
    return UsageEntry(
        f"req_{n}",
        datetime.now(UTC),
        uuid.uuid4(),
        None,
        "chat.completions",
        "m",
        None,
        False,
        "ok",
        200,
        None,
        n,
        n,
        1.0,
        None,
    )


async def test_ledger_keeps_entries_when_a_write_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    session = _FlakySession()
    written: list[str] = []

    async def fake_write(_session: object, batch: list[UsageEntry]) -> None:
        written.extend(e.request_id for e in batch)

    monkeypatch.setattr("gateway.ledger.write_usage", fake_write)
    ledger = Ledger(session, flush_interval_s=1, batch_size=2, queue_limit=3)  # type: ignore[arg-type]
    for n in range(3):
        ledger.add(_usage(n))
    with pytest.raises(HubError) as caught:
        ledger.check_capacity()  # full: new requests are refused rather than served unrecorded
    assert caught.value.status_code == 503
    with pytest.raises(ConnectionError):
        await ledger.flush()
    assert ledger.pending == 3 and written == []
    await ledger.flush()
    assert written == ["req_0", "req_1", "req_2"] and ledger.pending == 0
    ledger.check_capacity()
