"""Quota counters: exact admission under concurrency, budgets never exceeded, windows and months roll."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta

import pytest

from gateway.quotas import InProcessQuotaCounters, QuotaExceeded, QuotaLimits, QuotaScope, month_key
from hub.errors import HubError


class FakeClock:
    """An injectable clock."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


START = datetime(2026, 11, 22, 10, 0, 5, tzinfo=UTC)


def scope(name: str = "tenant:schwerin", **limits: int) -> QuotaScope:
    return QuotaScope(name, QuotaLimits(**limits))


async def test_concurrent_requests_against_a_limit_admit_exactly_k() -> None:
    counters = InProcessQuotaCounters(clock=FakeClock(START))
    limited = scope(requests_per_minute=7)

    async def attempt() -> bool:
        await asyncio.sleep(random.random() / 1000)  # interleave like real requests
        try:
            counters.reserve([limited], 10)
        except QuotaExceeded:
            return False
        return True

    results = await asyncio.gather(*(attempt() for _ in range(50)))
    assert sum(results) == 7


def test_concurrency_limit_frees_a_slot_on_settle() -> None:
    counters = InProcessQuotaCounters(clock=FakeClock(START))
    limited = scope(max_concurrent=3)
    held = [counters.reserve([limited], 1) for _ in range(3)]
    with pytest.raises(QuotaExceeded) as caught:
        counters.reserve([limited], 1)
    assert caught.value.status_code == 429 and caught.value.headers["Retry-After"] == "1"
    counters.settle(held[0], 1)
    counters.settle(held[0], 1)  # settling twice frees only one slot
    counters.reserve([limited], 1)
    with pytest.raises(QuotaExceeded):
        counters.reserve([limited], 1)


def test_token_budget_is_never_exceeded() -> None:
    rng = random.Random(7)
    counters = InProcessQuotaCounters(clock=FakeClock(START))
    budget = scope(monthly_tokens=10_000)
    open_reservations = []
    served = refusals = 0
    for _ in range(2000):
        if open_reservations and rng.random() < 0.5:
            reservation = open_reservations.pop(rng.randrange(len(open_reservations)))
            used = rng.randint(0, reservation.tokens)  # streams end early, clients disconnect
            if rng.random() < 0.2:
                counters.release(reservation, used)
            else:
                counters.settle(reservation, used)
            served += used
        else:
            try:
                open_reservations.append(counters.reserve([budget], rng.randint(50, 800)))
            except QuotaExceeded as exc:
                refusals += exc.code == "insufficient_quota"
        reserved = sum(r.tokens for r in open_reservations)
        assert served + reserved <= 10_000
        assert counters.usage("tenant:schwerin")["tokens_this_month"] == served + reserved
    assert refusals > 0  # the budget really was the limit
    assert served > 9000  # and it is used, not wasted


def test_monthly_budget_answers_insufficient_quota_and_rolls_over_in_berlin_time() -> None:
    clock = FakeClock(datetime(2026, 11, 30, 22, 59, 0, tzinfo=UTC))  # 23:59 in Berlin
    counters = InProcessQuotaCounters(clock=clock)
    budget = scope(monthly_tokens=100)
    counters.settle(counters.reserve([budget], 100), 100)
    with pytest.raises(QuotaExceeded) as caught:
        counters.reserve([budget], 1)
    assert caught.value.code == "insufficient_quota" and caught.value.status_code == 429
    clock.advance(60)  # 2026-12-01 00:00 in Berlin, 23:00 UTC: a new month, no job needed
    assert month_key(clock()) == "2026-12"
    counters.reserve([budget], 100)


def test_minute_window_resets_and_headers_tell_when() -> None:
    clock = FakeClock(START)  # 5 s into the minute
    counters = InProcessQuotaCounters(clock=clock)
    limited = scope(requests_per_minute=2, tokens_per_minute=1000)
    counters.reserve([limited], 300)
    counters.reserve([limited], 300)
    with pytest.raises(QuotaExceeded) as caught:
        counters.reserve([limited], 300)
    headers = caught.value.headers
    assert headers["Retry-After"] == "55"
    assert headers["x-ratelimit-limit-requests"] == "2" and headers["x-ratelimit-remaining-requests"] == "0"
    assert headers["x-ratelimit-limit-tokens"] == "1000" and headers["x-ratelimit-remaining-tokens"] == "400"
    assert headers["x-ratelimit-reset-requests"] == "55s"
    clock.advance(55)
    counters.reserve([limited], 300)


def test_tokens_per_minute_counts_estimates_then_real_usage() -> None:
    counters = InProcessQuotaCounters(clock=FakeClock(START))
    limited = scope(tokens_per_minute=1000)
    first = counters.reserve([limited], 900)
    with pytest.raises(QuotaExceeded):
        counters.reserve([limited], 200)
    counters.settle(first, 150)  # the answer was short: 750 tokens come back
    counters.reserve([limited], 800)
    with pytest.raises(HubError) as caught:
        counters.reserve([limited], 1500)  # can never fit: a client error, not a rate limit
    assert caught.value.status_code == 400 and caught.value.param == "max_tokens"


def test_failed_request_refunds_the_request_but_not_used_tokens() -> None:
    counters = InProcessQuotaCounters(clock=FakeClock(START))
    limited = scope(requests_per_minute=1, monthly_tokens=1000)
    counters.release(counters.reserve([limited], 500))  # the backend was down: nothing served
    assert counters.usage("tenant:schwerin") == {
        "requests_this_minute": 0,
        "tokens_this_minute": 0,
        "tokens_this_month": 0,
        "concurrent": 0,
    }
    counters.release(counters.reserve([limited], 500), used_tokens=120)  # broke off after 120 tokens
    assert counters.usage("tenant:schwerin")["tokens_this_month"] == 120


def test_every_scope_must_admit_and_all_are_charged() -> None:
    counters = InProcessQuotaCounters(clock=FakeClock(START))
    tenant = scope("tenant:t", requests_per_minute=100)
    key_on_model = scope("key:k/model:llama", requests_per_minute=1)
    counters.reserve([tenant, key_on_model], 10)
    with pytest.raises(QuotaExceeded) as caught:
        counters.reserve([tenant, key_on_model], 10)
    assert "key:k/model:llama" in caught.value.message
    assert counters.usage("tenant:t")["requests_this_minute"] == 1  # the refused request charged nothing


def test_unsettled_reservations_expire() -> None:
    clock = FakeClock(START)
    counters = InProcessQuotaCounters(clock=clock, ttl_s=30)
    limited = scope(max_concurrent=1, monthly_tokens=1000)
    counters.reserve([limited], 200)  # never settled (a crashed task)
    with pytest.raises(QuotaExceeded):
        counters.reserve([limited], 1)
    clock.advance(31)
    counters.reserve([limited], 1)
    assert counters.usage("tenant:schwerin")["tokens_this_month"] == 201  # expired tokens stay charged


def test_month_can_be_seeded_from_the_ledger() -> None:
    counters = InProcessQuotaCounters(clock=FakeClock(START))
    counters.seed_month("tenant:schwerin", "2026-11", 990)
    with pytest.raises(QuotaExceeded):
        counters.reserve([scope(monthly_tokens=1000)], 20)
