"""Quota stores, in process and in a real Redis: exact admission under concurrency, budgets never exceeded,
windows and months roll, unsettled reservations expire.

Every scenario runs on both stores (``make_counters`` is parametrized), with an injected clock; the
Redis-only tests of several replicas sharing one Redis are in ``test_quota_redis.py``.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

import pytest

from gateway.quota_redis import RedisQuotaCounters
from gateway.quotas import (
    Clock,
    InProcessQuotaCounters,
    QuotaExceeded,
    QuotaLimits,
    QuotaScope,
    QuotaStore,
    month_key,
    utc_now,
)
from hub.errors import HubError

STORES = ["memory", "redis"]
START = datetime(2026, 11, 22, 10, 0, 5, tzinfo=UTC)

MakeCounters = Callable[..., QuotaStore]
"""``make_counters(clock=..., ttl_s=...)``: a fresh store of the test's kind."""


class FakeClock:
    """An injectable clock."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def scope(name: str = "tenant:schwerin", **limits: int) -> QuotaScope:
    return QuotaScope(name, QuotaLimits(**limits))


# --- fixtures -------------------------------------------------------------------------------------


@pytest.fixture(params=STORES)
async def make_counters(request: pytest.FixtureRequest) -> AsyncIterator[MakeCounters]:
    """A factory of fresh stores of one kind (closed after the test)."""
    created: list[QuotaStore] = []
    url: str | None = request.getfixturevalue("redis_url") if request.param == "redis" else None

    def make(*, clock: Clock = utc_now, ttl_s: float | None = None) -> QuotaStore:
        store: QuotaStore
        if url is None:
            store = InProcessQuotaCounters(clock=clock, **({} if ttl_s is None else {"ttl_s": ttl_s}))
        else:
            # The scenarios model a hung task with the injected clock, so leases are not renewed here
            # (renewal has its own tests).
            store = RedisQuotaCounters(url, clock=clock, ttl_s=ttl_s or 30.0, renew_interval_s=3600)
        created.append(store)
        return store

    yield make
    for store in created:
        await store.close()


# --- scenarios, on both stores --------------------------------------------------------------------


async def test_concurrent_requests_against_a_limit_admit_exactly_k(make_counters: MakeCounters) -> None:
    counters = make_counters(clock=FakeClock(START))
    limited = scope(requests_per_minute=7)

    async def attempt() -> bool:
        await asyncio.sleep(random.random() / 1000)  # interleave like real requests
        try:
            await counters.reserve([limited], 10)
        except QuotaExceeded:
            return False
        return True

    results = await asyncio.gather(*(attempt() for _ in range(50)))
    assert sum(results) == 7


async def test_concurrency_limit_frees_a_slot_on_settle(make_counters: MakeCounters) -> None:
    counters = make_counters(clock=FakeClock(START))
    limited = scope(max_concurrent=3)
    held = [await counters.reserve([limited], 1) for _ in range(3)]
    with pytest.raises(QuotaExceeded) as caught:
        await counters.reserve([limited], 1)
    assert caught.value.status_code == 429 and caught.value.headers["Retry-After"] == "1"
    assert caught.value.code == "rate_limit_exceeded"
    await counters.settle(held[0], 1)
    await counters.settle(held[0], 1)  # settling twice frees only one slot
    await counters.reserve([limited], 1)
    with pytest.raises(QuotaExceeded):
        await counters.reserve([limited], 1)
    assert (await counters.usage("tenant:schwerin"))["concurrent"] == 3


async def test_token_budget_is_never_exceeded(make_counters: MakeCounters) -> None:
    rng = random.Random(7)
    counters = make_counters(clock=FakeClock(START))
    budget = scope(monthly_tokens=10_000)
    open_reservations = []
    served = refusals = 0
    for _ in range(2000):
        if open_reservations and rng.random() < 0.5:
            reservation = open_reservations.pop(rng.randrange(len(open_reservations)))
            used = rng.randint(0, reservation.tokens)  # streams end early, clients disconnect
            if rng.random() < 0.2:
                await counters.release(reservation, used)
            else:
                await counters.settle(reservation, used)
            served += used
        else:
            try:
                open_reservations.append(await counters.reserve([budget], rng.randint(50, 800)))
            except QuotaExceeded as exc:
                refusals += exc.code == "insufficient_quota"
        reserved = sum(r.tokens for r in open_reservations)
        assert served + reserved <= 10_000
        assert (await counters.usage("tenant:schwerin"))["tokens_this_month"] == served + reserved
    assert refusals > 0  # the budget really was the limit
    assert served > 9000  # and it is used, not wasted


async def test_monthly_budget_answers_insufficient_quota_and_rolls_over_in_berlin_time(
    make_counters: MakeCounters,
) -> None:
    clock = FakeClock(datetime(2026, 11, 30, 22, 59, 0, tzinfo=UTC))  # 23:59 in Berlin
    counters = make_counters(clock=clock)
    budget = scope(monthly_tokens=100)
    await counters.settle(await counters.reserve([budget], 100), 100)
    with pytest.raises(QuotaExceeded) as caught:
        await counters.reserve([budget], 1)
    assert caught.value.code == "insufficient_quota" and caught.value.status_code == 429
    assert caught.value.error_type == "insufficient_quota"
    clock.advance(60)  # 2026-12-01 00:00 in Berlin, 23:00 UTC: a new month, no job needed
    assert month_key(clock()) == "2026-12"
    await counters.reserve([budget], 100)


async def test_minute_window_resets_and_headers_tell_when(make_counters: MakeCounters) -> None:
    clock = FakeClock(START)  # 5 s into the minute
    counters = make_counters(clock=clock)
    limited = scope(requests_per_minute=2, tokens_per_minute=1000)
    await counters.reserve([limited], 300)
    await counters.reserve([limited], 300)
    with pytest.raises(QuotaExceeded) as caught:
        await counters.reserve([limited], 300)
    headers = caught.value.headers
    assert headers["Retry-After"] == "55"
    assert headers["x-ratelimit-limit-requests"] == "2" and headers["x-ratelimit-remaining-requests"] == "0"
    assert headers["x-ratelimit-limit-tokens"] == "1000" and headers["x-ratelimit-remaining-tokens"] == "400"
    assert headers["x-ratelimit-reset-requests"] == "55s"
    clock.advance(55)
    await counters.reserve([limited], 300)


async def test_tokens_per_minute_counts_estimates_then_real_usage(make_counters: MakeCounters) -> None:
    counters = make_counters(clock=FakeClock(START))
    limited = scope(tokens_per_minute=1000)
    first = await counters.reserve([limited], 900)
    with pytest.raises(QuotaExceeded) as caught:
        await counters.reserve([limited], 200)
    assert "tokens per minute" in caught.value.message
    await counters.settle(first, 150)  # the answer was short: 750 tokens come back
    await counters.reserve([limited], 800)
    with pytest.raises(HubError) as too_big:
        await counters.reserve([limited], 1500)  # can never fit: a client error, not a rate limit
    assert too_big.value.status_code == 400 and too_big.value.param == "max_tokens"
    assert too_big.value.code == "tokens_per_minute_too_small"


async def test_failed_request_refunds_the_request_but_not_used_tokens(make_counters: MakeCounters) -> None:
    counters = make_counters(clock=FakeClock(START))
    limited = scope(requests_per_minute=1, monthly_tokens=1000)
    await counters.release(await counters.reserve([limited], 500))  # the backend was down: nothing served
    assert await counters.usage("tenant:schwerin") == {
        "requests_this_minute": 0,
        "tokens_this_minute": 0,
        "tokens_this_month": 0,
        "concurrent": 0,
    }
    await counters.release(await counters.reserve([limited], 500), used_tokens=120)  # broke off after 120 tokens
    assert await counters.usage("tenant:schwerin") == {
        "requests_this_minute": 1,
        "tokens_this_minute": 120,
        "tokens_this_month": 120,
        "concurrent": 0,
    }


async def test_every_scope_must_admit_and_all_are_charged(make_counters: MakeCounters) -> None:
    counters = make_counters(clock=FakeClock(START))
    tenant = scope("tenant:t", requests_per_minute=100)
    key_on_model = scope("key:k/model:llama", requests_per_minute=1)
    await counters.reserve([tenant, key_on_model], 10)
    with pytest.raises(QuotaExceeded) as caught:
        await counters.reserve([tenant, key_on_model], 10)
    assert "key:k/model:llama" in caught.value.message
    assert (await counters.usage("tenant:t"))["requests_this_minute"] == 1  # the refused request charged nothing
    assert (await counters.usage("tenant:t"))["tokens_this_month"] == 10


async def test_unsettled_reservations_expire(make_counters: MakeCounters) -> None:
    clock = FakeClock(START)
    counters = make_counters(clock=clock, ttl_s=30)
    limited = scope(max_concurrent=1, monthly_tokens=1000)
    await counters.reserve([limited], 200)  # never settled (a crashed task)
    with pytest.raises(QuotaExceeded):
        await counters.reserve([limited], 1)
    clock.advance(31)
    await counters.reserve([limited], 1)
    assert (await counters.usage("tenant:schwerin"))["tokens_this_month"] == 201  # expired tokens stay charged


async def test_month_can_be_seeded_from_the_ledger(make_counters: MakeCounters) -> None:
    counters = make_counters(clock=FakeClock(START))
    await counters.seed_month("tenant:schwerin", "2026-11", 990)
    await counters.seed_month("tenant:schwerin", "2026-11", 5)  # a running counter is not overwritten
    assert (await counters.usage("tenant:schwerin"))["tokens_this_month"] == 990
    with pytest.raises(QuotaExceeded):
        await counters.reserve([scope(monthly_tokens=1000)], 20)
    await counters.reserve([scope(monthly_tokens=1000)], 10)
