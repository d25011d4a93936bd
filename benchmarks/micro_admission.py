"""Micro benchmarks of admission: what a quota check and a scheduler dispatch cost in process.

Run with pytest-benchmark (not part of the test suite)::

    .venv/bin/pytest benchmarks/micro_admission.py -p no:cacheprovider --benchmark-columns=min,median,mean,ops

The baseline in the same run is ``test_baseline_coroutine``: driving one empty coroutine, the least
any async step on the request path costs. The targets of issue 3: each in-process step well under
100 microseconds.
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

import pytest

from gateway.quotas import InProcessQuotaCounters, QuotaLimits, QuotaScope
from gateway.scheduler import FairQueue, VirtualTokenCounter, weighted_tokens

T = TypeVar("T")

LIMITS = QuotaLimits(requests_per_minute=10**9, tokens_per_minute=10**12, monthly_tokens=10**15, max_concurrent=10**6)
SCOPES = [QuotaScope("tenant:schwerin", LIMITS), QuotaScope("tenant:schwerin/key:abc/model:llama", LIMITS)]


def drive(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine that never suspends, without an event loop (the in-process store never does)."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value
    raise RuntimeError("the coroutine suspended")


async def _noop() -> None:
    return None


def test_baseline_coroutine(benchmark: Any) -> None:
    benchmark(lambda: drive(_noop()))


def test_quota_reserve_and_settle_two_scopes(benchmark: Any) -> None:
    counters = InProcessQuotaCounters()

    def check() -> None:
        reservation = drive(counters.reserve(SCOPES, 600))
        drive(counters.settle(reservation, 420))

    benchmark(check)


def test_quota_reserve_with_many_open_reservations(benchmark: Any) -> None:
    """The expiry sweep looks at open reservations: cost with 500 requests in flight."""
    counters = InProcessQuotaCounters()
    for _ in range(500):
        drive(counters.reserve(SCOPES, 100))

    def check() -> None:
        drive(counters.settle(drive(counters.reserve(SCOPES, 600)), 420))

    benchmark(check)


def _backlogged(tenants: int, per_tenant: int) -> Iterator[VirtualTokenCounter]:
    order = VirtualTokenCounter()
    names = [uuid.uuid4() for _ in range(tenants)]
    for name, _ in itertools.product(names, range(per_tenant)):
        order.push(name, weighted_tokens(200, 0), now=0.0)
    while True:
        yield order


@pytest.mark.parametrize("tenants", [2, 50])
def test_scheduler_dispatch(benchmark: Any, tenants: int) -> None:
    """Pop the next request in VTC order and queue a new one for the same tenant (steady backlog)."""
    order = next(_backlogged(tenants, 20))

    def dispatch() -> None:
        request = order.pop(now=1.0)
        order.correct(request, weighted_tokens(200, 150))
        order.push(request.tenant, weighted_tokens(200, 0), now=1.0)

    benchmark(dispatch)


BATCH = 100


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


def test_baseline_loop_batch(benchmark: Any, loop: asyncio.AbstractEventLoop) -> None:
    """Baseline for the next test: one run of the event loop over a batch of empty awaits."""

    async def batch() -> None:
        for _ in range(BATCH):
            await _noop()

    benchmark(lambda: loop.run_until_complete(batch()))


def test_fair_queue_acquire_and_release_with_room_batch(benchmark: Any, loop: asyncio.AbstractEventLoop) -> None:
    """The common case on the request path, ``BATCH`` times: capacity is free, nobody waits.

    Subtract the baseline and divide by ``BATCH`` for the cost of one acquire + release.
    """
    queue = FairQueue(capacity=1_000_000)
    tenant = uuid.uuid4()

    async def batch() -> None:
        for _ in range(BATCH):
            ticket = await queue.acquire(tenant, 200.0)
            queue.release(ticket, 350.0)

    benchmark(lambda: loop.run_until_complete(batch()))


def test_redis_reserve_and_settle_two_scopes(benchmark: Any, loop: asyncio.AbstractEventLoop) -> None:
    """For comparison: the same quota check against a real local Redis (two Lua calls, loopback)."""
    from gateway.quota_redis import RedisQuotaCounters
    from tests.support.redis import RedisServer

    with RedisServer.start() as server:
        counters = RedisQuotaCounters(server.url)

        async def check() -> None:
            await counters.settle(await counters.reserve(SCOPES, 600), 420)

        loop.run_until_complete(check())  # load the scripts
        benchmark(lambda: loop.run_until_complete(check()))
        loop.run_until_complete(counters.close())
