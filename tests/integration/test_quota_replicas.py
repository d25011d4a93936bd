"""Quotas shared by three gateway replicas: one PostgreSQL, one Redis, a real vLLM engine.

Each test uses its own tenant, so the counters of one test cannot help or hurt another.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.engines import Engine
from tests.support.hub import HubProcess
from tests.support.postgres import PostgresServer
from tests.support.redis import RedisServer

pytestmark = pytest.mark.integration

LEASE_TTL_S = 3.0
QUESTION = [{"role": "user", "content": "Wann wird der Biomüll abgeholt?"}]


@dataclass
class Cluster:
    """Three hub replicas sharing a database and a Redis."""

    replicas: list[HubProcess]

    @property
    def admin(self) -> HubProcess:
        return self.replicas[0]

    def tenant_with_policy(self, name: str, ags: str, **limits: int) -> tuple[str, str]:
        """A new municipality with a client key and a tenant-wide quota policy: (tenant id, key)."""
        tenant = self.admin.create_tenant(name, ags)
        key = self.admin.issue_key(tenant["id"])["secret"]
        response = self.admin.admin("PUT", f"/api/admin/tenants/{tenant['id']}/quotas", json=limits)
        assert response.status_code == 200, response.text
        # Every replica reloads the policies from the database within its refresh interval.
        for replica in self.replicas:
            replica.wait_model_ready(key, "tiny")
        time.sleep(1.0)
        return tenant["id"], key

    def quota_view(self, tenant_id: str) -> dict[str, Any]:
        response = self.admin.admin("GET", f"/api/admin/tenants/{tenant_id}/quotas")
        assert response.status_code == 200, response.text
        return response.json()["policies"][0]


@pytest.fixture(scope="module")
def cluster(engines: dict[str, Engine], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """Three replicas on PostgreSQL and Redis, serving the tiny model."""
    with PostgresServer.start() as postgres, RedisServer.start() as redis:
        env = {
            "KIVERBUND_DATABASE_URL": postgres.create_database("replicas"),
            "KIVERBUND_QUOTA_STORE": "redis",
            "KIVERBUND_REDIS_URL": redis.url,
            "KIVERBUND_QUOTA_RESERVATION_TTL_S": str(LEASE_TTL_S),
            "KIVERBUND_REGISTRY_REFRESH_S": "0.5",
        }
        replicas = [
            HubProcess(data_dir=Path(tmp_path_factory.mktemp(f"replica{i}")), env_overrides=env) for i in range(3)
        ]
        try:
            replicas[0].start()
            for replica in replicas[1:]:
                replica.operator_key = replicas[0].operator_key
                replica.start(bootstrap=False)
            # tiny: fast, for bursts of short requests; SmolLM2: slow enough (tens of tokens per
            # second) that long streams are still running when a burst ends.
            for alias, engine in (("tiny", engines["tiny"]), ("smol", engines["smollm2"])):
                backend = {"name": alias, "base_url": engine.base_url, "location": "DE-NI-Northeim"}
                response = replicas[0].admin("POST", "/api/admin/backends", json=backend)
                assert response.status_code == 201, response.text
                model = {"name": alias, "upstream_name": engine.served_name}
                response = replicas[0].admin("POST", "/api/admin/models", json=model)
                assert response.status_code == 201, response.text
            for replica in replicas:  # ready includes the shared quota store
                assert httpx.get(f"{replica.url}/ready", timeout=10).status_code == 200
            yield Cluster(replicas)
        finally:
            for replica in replicas:
                replica.stop()


def chat(
    hub: HubProcess,
    key: str,
    *,
    max_tokens: int,
    stream: bool = False,
    read_chunks: int | None = None,
    model: str = "tiny",
) -> int:
    """One chat request; with ``read_chunks`` the client hangs up after that many stream events."""
    body = {
        "model": model,
        "messages": QUESTION,
        "max_tokens": max_tokens,
        "ignore_eos": True,  # the models must not stop early: requests last as long as asked
        "stream": stream,
    }
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=hub.url, timeout=120) as client:
        if not stream:
            response = client.post("/v1/chat/completions", json=body, headers=headers)
            assert response.status_code in (200, 429), response.text
            return response.status_code
        with client.stream("POST", "/v1/chat/completions", json=body, headers=headers) as response:
            if response.status_code != 200:
                response.read()
                assert response.status_code == 429, response.text
                return response.status_code
            for seen, _ in enumerate(response.iter_lines()):
                if read_chunks is not None and seen >= read_chunks:
                    break  # leaving the block closes the connection: a client disconnect
            return 200


def ledger_total(hub: HubProcess, key: str, expected_rows: int) -> tuple[int, list[dict[str, Any]]]:
    """Tokens booked for the tenant, once all its rows are written by the three replicas' ledgers."""
    deadline = time.monotonic() + 15
    while True:
        response = httpx.get(
            f"{hub.url}/v1/usage/requests", params={"limit": 500}, headers={"Authorization": f"Bearer {key}"}
        )
        rows = response.json()["data"]
        if len(rows) >= expected_rows or time.monotonic() > deadline:
            return sum(r["prompt_tokens"] + r["completion_tokens"] for r in rows), rows
        time.sleep(0.2)


def away_from_minute_boundary() -> None:
    """Minute windows are fixed: start a burst early in a minute so it ends within the same one."""
    second = datetime.now().second
    if second > 40:
        time.sleep(61 - second)


def burst(cluster: Cluster, count: int, call: Any) -> list[int]:
    """``count`` calls at once, spread round-robin over the replicas; their statuses."""
    start = threading.Barrier(count)

    def one(i: int) -> int:
        start.wait()
        return call(cluster.replicas[i % len(cluster.replicas)], i)

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(one, range(count)))


def test_requests_per_minute_admit_exactly_k_across_replicas(cluster: Cluster) -> None:
    tenant_id, key = cluster.tenant_with_policy("Northeim", "03155009", requests_per_minute=10)
    away_from_minute_boundary()
    statuses = burst(cluster, 45, lambda hub, _i: chat(hub, key, max_tokens=2))
    assert statuses.count(200) == 10 and statuses.count(429) == 35
    assert cluster.quota_view(tenant_id)["usage"]["requests_this_minute"] == 10


def test_concurrency_limit_admits_exactly_k_across_replicas(cluster: Cluster) -> None:
    _, key = cluster.tenant_with_policy("Lübeck", "01003000", max_concurrent=4)
    # Long streams: the first four are still running when the last of the burst arrives.
    statuses = burst(cluster, 24, lambda hub, _i: chat(hub, key, max_tokens=300, stream=True, model="smol"))
    assert statuses.count(200) == 4 and statuses.count(429) == 20


def test_monthly_budget_holds_with_streams_and_disconnects_across_replicas(cluster: Cluster) -> None:
    budget = 900
    tenant_id, key = cluster.tenant_with_policy("Schwerin", "13004000", monthly_tokens=budget)

    def call(hub: HubProcess, i: int) -> int:
        if i % 3 == 0:
            return chat(hub, key, max_tokens=40)
        if i % 3 == 1:
            return chat(hub, key, max_tokens=40, stream=True)
        # Hangs up early; on the slower model, so the stream is surely still running by then.
        return chat(hub, key, max_tokens=40, stream=True, read_chunks=5, model="smol")

    statuses = burst(cluster, 45, call)
    admitted = statuses.count(200)
    total, rows = ledger_total(cluster.admin, key, expected_rows=45)
    refused = [r for r in rows if r["http_status"] == 429]
    assert 0 < admitted < 45 and len(refused) == 45 - admitted
    assert {r["error_code"] for r in refused} == {"insufficient_quota"}
    assert total <= budget
    assert any(r["status"] == "client_disconnected" for r in rows)
    # The shared counter books exactly what the ledger booked: reservations were settled with the
    # real usage (delivered tokens for the streams that were cut off), on whichever replica ran them.
    time.sleep(0.5)
    assert cluster.quota_view(tenant_id)["usage"]["tokens_this_month"] == total


def test_killed_replica_leaks_no_reservations(cluster: Cluster) -> None:
    tenant_id, key = cluster.tenant_with_policy("Mainz", "07315000", max_concurrent=3)
    victim, survivor = cluster.replicas[2], cluster.replicas[0]
    holders = ThreadPoolExecutor(max_workers=3)
    futures = [holders.submit(chat, victim, key, max_tokens=600, stream=True, model="smol") for _ in range(3)]
    deadline = time.monotonic() + 20
    while cluster.quota_view(tenant_id)["usage"]["concurrent"] < 3:
        assert time.monotonic() < deadline, "the three streams never held their slots"
        time.sleep(0.1)
    assert chat(survivor, key, max_tokens=2) == 429  # all three slots are held on the victim
    victim.process.kill()  # SIGKILL: no settling, no draining
    killed_at = time.monotonic()
    for future in futures:
        future.exception(timeout=30)  # the streams break off
    holders.shutdown()
    while chat(survivor, key, max_tokens=2) == 429:
        assert time.monotonic() - killed_at < LEASE_TTL_S + 5, "the dead replica's reservations never expired"
        time.sleep(0.2)
    freed_after = time.monotonic() - killed_at
    assert freed_after <= LEASE_TTL_S + 5
    # The survivors go on: the full concurrency is available again on the other two replicas.
    statuses = [chat(cluster.replicas[i % 2], key, max_tokens=2) for i in range(4)]
    assert statuses == [200, 200, 200, 200]
    print(json.dumps({"slots_free_after_kill_s": round(freed_after, 2)}))
