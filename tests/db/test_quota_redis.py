"""The Redis quota store with several replicas sharing one real Redis: exact admission across replicas,
budgets never exceeded, slots of a dead replica freed after the lease, live replicas renewing theirs.

Every replica is its own :class:`RedisQuotaCounters` with its own connections; one of them is even a
separate process, killed with SIGKILL.
"""

from __future__ import annotations

import asyncio
import os
import random
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from gateway.quota_redis import MINUTE_TTL_S, MONTH_TTL_S, RedisQuotaCounters
from gateway.quotas import QuotaExceeded, QuotaScope, Reservation
from tests.db.test_quota_stores import START, FakeClock, scope
from tests.support.ports import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]

Replicas = Callable[..., list[RedisQuotaCounters]]
"""``replicas(n, **options)``: ``n`` fresh stores on the test Redis, closed after the test."""


@pytest.fixture
async def replicas(redis_url: str) -> AsyncIterator[Replicas]:
    """A factory of replicas (stores with separate connections) on one emptied Redis."""
    created: list[RedisQuotaCounters] = []

    def make(n: int = 1, **options: Any) -> list[RedisQuotaCounters]:
        stores = [RedisQuotaCounters(redis_url, **options) for _ in range(n)]
        created.extend(stores)
        return stores

    yield make
    for store in created:
        await store.close()


async def admitted(counters: RedisQuotaCounters, limited: QuotaScope, tokens: int = 1) -> Reservation | None:
    """The reservation, or ``None`` when refused with a 429."""
    try:
        return await counters.reserve([limited], tokens)
    except QuotaExceeded:
        return None


# --- several replicas at once ---------------------------------------------------------------------


async def test_three_replicas_admit_exactly_k_requests_per_minute(replicas: Replicas) -> None:
    group = replicas(3, clock=FakeClock(START))
    limited = scope(requests_per_minute=37)

    async def attempt(i: int) -> bool:
        await asyncio.sleep(random.random() / 100)
        return await admitted(group[i % 3], limited, 10) is not None

    results = await asyncio.gather(*(attempt(i) for i in range(300)))
    assert sum(results) == 37
    assert (await group[0].usage("tenant:schwerin"))["requests_this_minute"] == 37
    assert (await group[1].usage("tenant:schwerin"))["tokens_this_minute"] == 370


async def test_three_replicas_admit_exactly_k_concurrent_requests(replicas: Replicas) -> None:
    group = replicas(3, clock=FakeClock(START))
    limited = scope(max_concurrent=11)

    async def attempt(i: int) -> tuple[int, Reservation | None]:
        await asyncio.sleep(random.random() / 100)
        return i % 3, await admitted(group[i % 3], limited)

    results = await asyncio.gather(*(attempt(i) for i in range(300)))
    held = [(i, r) for i, r in results if r is not None]
    assert len(held) == 11
    assert (await group[2].usage("tenant:schwerin"))["concurrent"] == 11
    await asyncio.gather(*(group[i].settle(r, 1) for i, r in held))
    assert (await group[0].usage("tenant:schwerin"))["concurrent"] == 0
    assert await admitted(group[1], limited) is not None


async def test_three_replicas_never_exceed_a_monthly_budget(replicas: Replicas) -> None:
    group = replicas(3, clock=FakeClock(START))
    budget = scope(monthly_tokens=20_000)
    rng = random.Random(11)
    plans = [(rng.randrange(3), rng.randint(50, 800), rng.random(), rng.random(), rng.random()) for _ in range(300)]
    charged: list[int] = []
    refusals: list[str] = []

    async def request(replica: int, tokens: int, hold: float, usage: float, how: float) -> None:
        counters = group[replica]
        await asyncio.sleep(hold / 50)
        try:
            reservation = await counters.reserve([budget], tokens)
        except QuotaExceeded as exc:
            refusals.append(exc.code)
            return
        assert (await counters.usage("tenant:schwerin"))["tokens_this_month"] <= 20_000
        await asyncio.sleep(hold / 50)
        used = int(usage * tokens)  # streams end early, clients disconnect
        if how < 0.2:
            await counters.release(reservation, used)
        else:
            await counters.settle(reservation, used)
        charged.append(used)

    await asyncio.gather(*(request(*plan) for plan in plans))
    usage = await group[0].usage("tenant:schwerin")
    assert usage["tokens_this_month"] == sum(charged) <= 20_000
    assert usage["concurrent"] == 0
    assert refusals and set(refusals) == {"insufficient_quota"}  # the budget really was the limit


# --- leases: crashed and live replicas ------------------------------------------------------------

_HOLDER = """
import asyncio, sys
from gateway.quota_redis import RedisQuotaCounters
from gateway.quotas import QuotaLimits, QuotaScope

async def main() -> None:
    counters = RedisQuotaCounters(sys.argv[1], ttl_s=float(sys.argv[2]), renew_interval_s=float(sys.argv[3]))
    limited = QuotaScope("tenant:schwerin", QuotaLimits(max_concurrent=2))
    for _ in range(2):
        await counters.reserve([limited], 10)
    print("held", flush=True)
    await asyncio.sleep(3600)

asyncio.run(main())
"""


async def test_slots_of_a_killed_replica_come_free_after_the_lease(redis_url: str, replicas: Replicas) -> None:
    ttl, renew_every = 1.5, 0.25
    (survivor,) = replicas(1, ttl_s=ttl)
    limited = scope(max_concurrent=2)
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    holder = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _HOLDER, redis_url, str(ttl), str(renew_every),
        cwd=REPO_ROOT, env=env, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert holder.stdout is not None
        assert await asyncio.wait_for(holder.stdout.readline(), timeout=60) == b"held\n"
        assert await admitted(survivor, limited) is None
        await asyncio.sleep(ttl + 0.5)  # longer than the lease: the live holder renews it
        assert await admitted(survivor, limited) is None
        holder.kill()  # SIGKILL: nothing is settled, nothing released
        await holder.wait()
        killed_at = time.monotonic()
        assert await admitted(survivor, limited) is None  # the slots are still held ...
        while (reservation := await admitted(survivor, limited)) is None:
            assert time.monotonic() - killed_at < ttl + 1.0, "the dead replica's slots were never freed"
            await asyncio.sleep(0.05)
        freed_after = time.monotonic() - killed_at
    finally:
        if holder.returncode is None:
            holder.kill()
            await holder.wait()
    assert ttl - renew_every - 0.5 < freed_after < ttl + 1.0  # ... until the last renewed lease ran out
    assert await admitted(survivor, limited) is not None  # both slots are free
    await survivor.settle(reservation, 10)
    assert (await survivor.usage("tenant:schwerin"))["tokens_this_month"] == 2 * 10 + 10 + 1  # expired stay charged


async def test_a_closed_replica_frees_its_slots_after_ttl_on_the_clock(replicas: Replicas) -> None:
    clock = FakeClock(START)
    crashed, survivor = replicas(2, clock=clock, ttl_s=30)
    limited = scope(max_concurrent=1, monthly_tokens=1000)
    await crashed.reserve([limited], 200)
    await crashed.close()  # renewal stops, connections close, nothing is settled
    assert await admitted(survivor, limited) is None
    clock.advance(29)
    assert await admitted(survivor, limited) is None
    clock.advance(1)  # the lease ends at exactly 30 s, as in process
    assert await admitted(survivor, limited) is not None
    assert (await survivor.usage("tenant:schwerin"))["tokens_this_month"] == 201


async def test_a_live_replica_keeps_a_long_stream_alive(replicas: Replicas) -> None:
    ttl = 1.0
    holder, other = replicas(2, ttl_s=ttl)  # renews every ttl / 3 in the background
    limited = scope(max_concurrent=1)
    stream = await holder.reserve([limited], 100)
    started = time.monotonic()
    while time.monotonic() - started < 3 * ttl:
        assert await admitted(other, limited) is None
        await asyncio.sleep(0.1)
    await holder.settle(stream, 100)
    assert await admitted(other, limited) is not None


async def test_renewal_on_the_clock_and_a_hung_task_expiring_after_max_hold(replicas: Replicas) -> None:
    clock = FakeClock(START)
    holder, other = replicas(2, clock=clock, ttl_s=30, renew_interval_s=3600, max_hold_s=60)
    limited = scope(max_concurrent=1)
    stream = await holder.reserve([limited], 1)
    for _ in range(2):  # held 40 s, more than the lease: renewed
        clock.advance(20)
        await holder.renew()
        assert await admitted(other, limited) is None
    clock.advance(20)  # held 60 s: a hung task, no longer renewed
    await holder.renew()
    assert stream.expires_at == START.timestamp() + 40 + 30
    assert await admitted(other, limited) is None  # until its last lease runs out
    clock.advance(10)
    assert await admitted(other, limited) is not None


async def test_a_late_settle_of_an_expired_reservation_charges_usage_but_frees_no_other_slot(
    replicas: Replicas,
) -> None:
    clock = FakeClock(START)
    slow, other = replicas(2, clock=clock, ttl_s=30, renew_interval_s=3600)
    limited = scope(max_concurrent=1, monthly_tokens=1000)
    late = await slow.reserve([limited], 200)
    clock.advance(31)  # slow's lease ran out (its renewer lagged) ...
    current = await other.reserve([limited], 1)  # ... so its slot went to another request
    await slow.settle(late, 50)  # the real usage still counts
    usage = await other.usage("tenant:schwerin")
    assert usage["tokens_this_month"] == 51 and usage["concurrent"] == 1  # the other request keeps its slot
    assert await admitted(other, limited) is None
    await other.settle(current, 1)


# --- Redis housekeeping ---------------------------------------------------------------------------


async def test_every_key_expires(redis_url: str, replicas: Replicas) -> None:
    (counters,) = replicas(1, clock=FakeClock(START), ttl_s=30)
    limited = scope("key:k/model:llama", requests_per_minute=5, max_concurrent=2)
    await counters.settle(await counters.reserve([limited], 10), 5)
    await counters.reserve([limited], 10)
    await counters.seed_month("tenant:t", "2026-10", 7)
    client = Redis.from_url(redis_url, decode_responses=True)
    try:
        ttls = {key: await client.ttl(key) for key in await client.keys("*")}
    finally:
        await client.aclose()
    minute = int(START.timestamp() // 60)
    prefix = "kvb:quota:key:k/model:llama"
    assert set(ttls) == {
        f"{prefix}:rpm:{minute}",
        f"{prefix}:tpm:{minute}",
        f"{prefix}:month:2026-11",
        f"{prefix}:open",
        "kvb:quota:tenant:t:month:2026-10",
    }
    assert 0 < ttls[f"{prefix}:rpm:{minute}"] <= MINUTE_TTL_S
    assert MONTH_TTL_S - 60 < ttls[f"{prefix}:month:2026-11"] <= MONTH_TTL_S
    assert MONTH_TTL_S - 60 < ttls["kvb:quota:tenant:t:month:2026-10"] <= MONTH_TTL_S
    assert 30 < ttls[f"{prefix}:open"] <= 30 + MINUTE_TTL_S


async def test_ping_tells_whether_redis_answers(replicas: Replicas) -> None:
    (counters,) = replicas(1)
    assert await counters.ping() is True
    nowhere = RedisQuotaCounters(f"redis://127.0.0.1:{free_port()}/0")
    try:
        assert await nowhere.ping() is False
    finally:
        await nowhere.close()
