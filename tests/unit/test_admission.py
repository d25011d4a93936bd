"""Quotas and the fair queue on the request path, against fake vLLM upstreams (in process)."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from gateway.registry import BackendEntry
from gateway.routing import BackendState
from hub.app import create_app
from tests.support.fake_vllm import FakeVLLM
from tests.support.ports import free_port
from tests.support.servers import ThreadedServer
from tests.unit.conftest import Hub, migrated_settings, seed_keys
from tests.unit.test_gateway_relay import ledger_rows, register, sse_chunks

MESSAGES = [{"role": "user", "content": "eins zwei drei"}]  # 3 tokens for the fake tokenizer


@pytest.fixture
def slow_upstream() -> Iterator[FakeVLLM]:
    """A fake vLLM answering 4 tokens in 0.2 s, so requests overlap."""
    app = FakeVLLM("fake", tokens=4, pace_s=0.05)
    server = ThreadedServer(app).start()
    app.base_url = server.url  # type: ignore[attr-defined]
    yield app
    server.stop()


@pytest.fixture
async def hub_factory(tmp_path: Path) -> AsyncIterator[Any]:
    """Start the hub with settings overrides in a real server on its own loop, so requests overlap."""
    servers: list[ThreadedServer] = []
    clients: list[httpx.AsyncClient] = []

    async def make(**overrides: Any) -> Hub:
        settings = dataclasses.replace(migrated_settings(tmp_path), **overrides)
        keys = await seed_keys(settings)
        server = ThreadedServer(create_app(settings), lifespan="on").start()
        servers.append(server)
        client = httpx.AsyncClient(base_url=server.url, timeout=30)
        clients.append(client)
        return Hub(client=client, keys=keys)  # type: ignore[arg-type]

    yield make
    for client in clients:
        await client.aclose()
    for server in servers:
        server.stop()


async def operator(hub: Hub, method: str, path: str, **kwargs: Any) -> Any:
    response = await hub.client.request(method, path, headers=hub.auth(hub.keys.operator), **kwargs)
    assert response.status_code < 300, response.text
    return response.json() if response.content else None


async def settled() -> None:
    """Give the gateway time to reload its snapshot after an admin change (an event, then a reload)."""
    await asyncio.sleep(0.6)


async def set_policy(hub: Hub, tenant: str, *, model: str | None = None, **limits: int) -> None:
    """Set a quota policy for ``tenant`` through the admin API."""
    tenants = await operator(hub, "GET", "/api/admin/tenants")
    tenant_id = next(t["id"] for t in tenants if t["name"] == tenant)
    body = {"model": model, **limits} if model else limits
    await operator(hub, "PUT", f"/api/admin/tenants/{tenant_id}/quotas", json=body)
    await settled()


async def configure(hub: Hub, *, max_concurrency: int | None = None, default_max_tokens: int | None = None) -> None:
    """Set the fake backend's capacity and the chat model's default output allowance."""
    backend = (await operator(hub, "GET", "/api/admin/backends"))[0]
    await operator(hub, "PATCH", f"/api/admin/backends/{backend['id']}", json={"max_concurrency": max_concurrency})
    model = next(m for m in await operator(hub, "GET", "/api/admin/models") if m["name"] == "chat")
    await operator(hub, "PATCH", f"/api/admin/models/{model['id']}", json={"default_max_tokens": default_max_tokens})
    await settled()


async def all_ledger_rows(hub: Hub, key: str, count: int) -> list[dict]:
    """The tenant's ledger rows once ``count`` of them are written (the ledger writes in batches)."""
    for _ in range(100):
        rows = await ledger_rows(hub, key)
        if len(rows) >= count:
            return rows
        await asyncio.sleep(0.05)
    raise AssertionError(f"expected {count} ledger rows, found {len(rows)}")


async def chat(hub: Hub, key: str, **extra: Any) -> Any:
    return await hub.client.post(
        "/v1/chat/completions", json={"model": "chat", "messages": MESSAGES, **extra}, headers=hub.auth(key)
    )


async def test_requests_per_minute_admit_exactly_k_and_say_when_to_retry(
    hub_factory: Any, slow_upstream: FakeVLLM
) -> None:
    hub = await hub_factory()
    await register(hub, "fake", slow_upstream.base_url)
    await set_policy(hub, "Schwerin", requests_per_minute=5)
    responses = await asyncio.gather(*(chat(hub, hub.keys.schwerin, max_tokens=2) for _ in range(20)))
    statuses = [r.status_code for r in responses]
    assert statuses.count(200) == 5 and statuses.count(429) == 15
    refused = next(r for r in responses if r.status_code == 429)
    assert refused.json()["error"]["code"] == "rate_limit_exceeded"
    assert refused.headers["x-ratelimit-limit-requests"] == "5"
    assert refused.headers["x-ratelimit-remaining-requests"] == "0"
    assert int(refused.headers["retry-after"]) >= 1 and refused.headers["x-ratelimit-reset-requests"].endswith("s")
    # Another town is not limited by Schwerin's policy.
    assert (await chat(hub, hub.keys.luebeck, max_tokens=2)).status_code == 200
    rows = await all_ledger_rows(hub, hub.keys.schwerin, 20)
    assert sum(r["http_status"] == 429 and r["error_code"] == "rate_limit_exceeded" for r in rows) == 15


async def test_concurrency_limit_admits_exactly_k_at_once(hub_factory: Any, slow_upstream: FakeVLLM) -> None:
    hub = await hub_factory()
    await register(hub, "fake", slow_upstream.base_url)
    await set_policy(hub, "Schwerin", max_concurrent=3)
    responses = await asyncio.gather(*(chat(hub, hub.keys.schwerin) for _ in range(10)))
    statuses = [r.status_code for r in responses]
    assert statuses.count(200) == 3
    assert {r.json()["error"]["code"] for r in responses if r.status_code == 429} == {"rate_limit_exceeded"}
    # The slots are free again once the requests ended.
    assert (await chat(hub, hub.keys.schwerin)).status_code == 200


async def test_monthly_budget_is_never_exceeded_with_streams_and_answers_insufficient_quota(
    hub_factory: Any, slow_upstream: FakeVLLM
) -> None:
    hub = await hub_factory()
    await register(hub, "fake", slow_upstream.base_url)
    await set_policy(hub, "Schwerin", monthly_tokens=100)

    async def call(i: int) -> int:
        if i % 2:
            response = await chat(hub, hub.keys.schwerin, max_tokens=4, stream=True)
            if response.status_code == 200:
                assert sse_chunks(response.text)[-1] == "[DONE]"
            return response.status_code
        return (await chat(hub, hub.keys.schwerin, max_tokens=4)).status_code

    statuses = await asyncio.gather(*(call(i) for i in range(30)))
    rows = await all_ledger_rows(hub, hub.keys.schwerin, 30)
    used = sum(r["prompt_tokens"] + r["completion_tokens"] for r in rows)
    # Each request reserves 3 prompt tokens (counted by the engine's /tokenize) + 4 allowed output.
    assert statuses.count(200) == 100 // 7 and used == 7 * (100 // 7) <= 100
    refused = [r for r in rows if r["http_status"] == 429]
    assert refused and {r["error_code"] for r in refused} == {"insufficient_quota"}
    # 2 tokens are left: even the smallest chat request (3 prompt + 1 output) does not fit.
    response = await chat(hub, hub.keys.schwerin, max_tokens=1)
    assert response.status_code == 429 and response.json()["error"]["type"] == "insufficient_quota"
    tenants = await operator(hub, "GET", "/api/admin/tenants")
    schwerin = next(t["id"] for t in tenants if t["name"] == "Schwerin")
    [policy] = (await operator(hub, "GET", f"/api/admin/tenants/{schwerin}/quotas"))["policies"]
    assert policy["usage"]["tokens_this_month"] == used and policy["remaining"]["tokens_this_month"] == 100 - used


async def test_token_limits_cap_the_output_the_engine_may_produce(hub_factory: Any, slow_upstream: FakeVLLM) -> None:
    hub = await hub_factory()
    await register(hub, "fake", slow_upstream.base_url)
    await set_policy(hub, "Schwerin", tokens_per_minute=100)
    await configure(hub, default_max_tokens=6)
    assert (await chat(hub, hub.keys.schwerin)).json()["usage"]["completion_tokens"] == 6
    assert slow_upstream.seen[-1]["max_completion_tokens"] == 6  # sent upstream, so no more can come back
    assert (await chat(hub, hub.keys.schwerin, max_tokens=2)).json()["usage"]["completion_tokens"] == 2
    assert "max_completion_tokens" not in slow_upstream.seen[-1]
    # A request that alone exceeds the per-minute limit can never pass: 400, not 429.
    response = await chat(hub, hub.keys.schwerin, max_tokens=200)
    assert response.status_code == 400 and response.json()["error"]["code"] == "tokens_per_minute_too_small"


@pytest.mark.parametrize(("scheduler", "expected_position"), [("fair", 2), ("fcfs", 7)])
async def test_saturated_backend_queues_a_flood_fairly(
    hub_factory: Any, slow_upstream: FakeVLLM, scheduler: str, expected_position: int
) -> None:
    hub = await hub_factory(scheduler=scheduler)
    await register(hub, "fake", slow_upstream.base_url)
    await configure(hub, max_concurrency=1)
    finished: list[str] = []

    async def request(town: str, key: str, delay: float) -> None:
        await asyncio.sleep(delay)
        response = await chat(hub, key, max_tokens=4)
        assert response.status_code == 200, response.text
        finished.append(town)

    flood = [request("A", hub.keys.schwerin, i * 0.005) for i in range(6)]
    await asyncio.gather(*flood, request("B", hub.keys.luebeck, 0.1))
    # Fair: B waits only for the request running when it came. First come, first served: B waits
    # for the whole flood.
    assert finished.index("B") + 1 == expected_position
    rows = await all_ledger_rows(hub, hub.keys.schwerin, 6)
    waits = sorted(r["queue_wait_ms"] for r in rows)
    assert waits[0] < 50 and waits[-1] > 500  # the first went straight through, the last waited for five
    metrics = await hub.client.get("/metrics")
    families = {f.name: f for f in text_string_to_metric_families(metrics.text)}
    counts = [s.value for s in families["kiverbund_gateway_queue_wait_seconds"].samples if s.name.endswith("_count")]
    assert counts == [7.0]


async def test_tenant_weights_share_a_saturated_backend_in_proportion(
    hub_factory: Any, slow_upstream: FakeVLLM
) -> None:
    hub = await hub_factory(fair_burst_slots=0)
    await register(hub, "fake", slow_upstream.base_url)
    tenants = await operator(hub, "GET", "/api/admin/tenants")
    schwerin = next(t["id"] for t in tenants if t["name"] == "Schwerin")
    await operator(hub, "PATCH", f"/api/admin/tenants/{schwerin}", json={"weight": 2.0})
    await configure(hub, max_concurrency=1)
    finished: list[str] = []

    async def request(town: str, key: str) -> None:
        response = await chat(hub, key, max_tokens=2)
        assert response.status_code == 200, response.text
        finished.append(town)

    await asyncio.gather(
        *(request("S", hub.keys.schwerin) for _ in range(12)), *(request("L", hub.keys.luebeck) for _ in range(12))
    )
    # While both are backlogged (the first 15 answers), Schwerin gets twice Lübeck's service.
    share = finished[:15].count("S")
    assert 9 <= share <= 11, finished


async def test_only_the_tenant_that_overflows_its_queue_is_refused(hub_factory: Any, slow_upstream: FakeVLLM) -> None:
    hub = await hub_factory(queue_limit_per_tenant=2)
    await register(hub, "fake", slow_upstream.base_url)
    await configure(hub, max_concurrency=1)

    async def b_later() -> int:
        await asyncio.sleep(0.05)
        return (await chat(hub, hub.keys.luebeck, max_tokens=1)).status_code

    results = await asyncio.gather(*(chat(hub, hub.keys.schwerin, max_tokens=4) for _ in range(5)), b_later())
    a_statuses = [r.status_code for r in results[:5]]
    assert a_statuses.count(200) == 3 and a_statuses.count(429) == 2  # 1 running + 2 queued
    assert {r.json()["error"]["code"] for r in results[:5] if r.status_code == 429} == {"queue_full"}
    assert results[5] == 200


async def test_queue_wait_times_out_with_429(hub_factory: Any, slow_upstream: FakeVLLM) -> None:
    hub = await hub_factory(queue_timeout_s=0.3)
    await register(hub, "fake", slow_upstream.base_url)
    await configure(hub, max_concurrency=1)
    slow = asyncio.create_task(chat(hub, hub.keys.schwerin, max_tokens=20))  # holds the slot for 1 s
    await asyncio.sleep(0.05)
    started = time.monotonic()
    response = await chat(hub, hub.keys.schwerin, max_tokens=1)
    assert response.status_code == 429 and response.json()["error"]["code"] == "queue_timeout"
    assert 0.25 < time.monotonic() - started < 0.9
    assert (await slow).status_code == 200


async def test_requests_under_a_policy_fail_closed_when_the_quota_store_is_down(
    hub_factory: Any, slow_upstream: FakeVLLM
) -> None:
    hub = await hub_factory(quota_store="redis", redis_url=f"redis://127.0.0.1:{free_port()}/0")
    await register(hub, "fake", slow_upstream.base_url)
    await set_policy(hub, "Schwerin", requests_per_minute=100)
    response = await chat(hub, hub.keys.schwerin, max_tokens=2)
    assert response.status_code == 503 and response.json()["error"]["code"] == "quota_store_unavailable"
    assert (await chat(hub, hub.keys.luebeck, max_tokens=2)).status_code == 200  # no policy, no counters needed
    assert (await hub.client.get("/ready")).status_code == 503


def test_engine_queue_stops_dispatch_only_while_this_replica_has_work_there() -> None:
    entry = BackendEntry(
        id=None,  # type: ignore[arg-type]
        name="b",
        base_url="http://x",
        location="DE",
        served_models=frozenset({"m"}),
        api_key=None,
        max_concurrency=4,
    )
    state = BackendState(entry=entry, healthy=True)
    assert state.has_room()
    state.in_flight = 4
    assert not state.has_room()  # the configured capacity
    state.in_flight, state.waiting = 1, 3
    assert not state.has_room()  # vLLM queues already: more would wait there in arrival order
    state.in_flight = 0
    assert state.has_room()  # but never starve: with nothing of ours there, one may go
    state.in_flight, state.waiting = 4, 0
    assert state.has_burst_room(1) and not state.has_burst_room(0)
    state.in_flight = 5
    assert not state.has_burst_room(1)  # one burst slot, taken
    state.in_flight, state.waiting = 4, 1
    assert not state.has_burst_room(1)  # never while the engine queues
