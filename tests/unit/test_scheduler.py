"""The fair scheduler's order on deterministic scenarios, and its slot accounting on the event loop."""

from __future__ import annotations

import asyncio

import pytest

from gateway.scheduler import FairQueue, FixedCapacity, VirtualTokenCounter, weighted_tokens
from hub.errors import HubError


def drain(order: VirtualTokenCounter, n: int | None = None) -> list[str]:
    """Pop up to ``n`` requests (all if None) and return their tenants in dispatch order."""
    served = []
    while n is None or len(served) < n:
        request = order.pop(now=0.0)
        if request is None:
            break
        served.append(request.tenant)
    return served


def test_flooding_tenant_does_not_starve_a_late_one() -> None:
    order = VirtualTokenCounter()
    for _ in range(10):
        order.push("A", 100, now=0.0)
    assert drain(order, 1) == ["A"]
    order.push("B", 100, now=1.0)
    order.push("B", 100, now=1.0)
    # B is lifted to A's counter (100) on arrival; ties go to the earlier request, so A, then they alternate.
    assert drain(order) == ["A", "B", "A", "B"] + ["A"] * 7


def test_fcfs_serves_strictly_in_arrival_order() -> None:
    order = VirtualTokenCounter(fair=False)
    for _ in range(5):
        order.push("A", 100, now=0.0)
    order.push("B", 100, now=1.0)
    assert drain(order) == ["A", "A", "A", "A", "A", "B"]


def test_weights_share_service_in_proportion() -> None:
    order = VirtualTokenCounter()
    order.set_weight("Land", 2.0)
    for _ in range(40):
        order.push("Land", 50, now=0.0)
        order.push("Dorf", 50, now=0.0)
    served = drain(order, 30)
    assert served.count("Land") == 20 and served.count("Dorf") == 10


def test_service_is_counted_in_tokens_not_requests() -> None:
    order = VirtualTokenCounter()
    for _ in range(6):
        order.push("big", weighted_tokens(100, 300), now=0.0)  # 700 weighted tokens each
        order.push("small", weighted_tokens(20, 30), now=0.0)  # 80 each
    served = drain(order, 9)
    # After one big request (700), "small" may catch up with eight of its 80-token requests.
    assert served[:2] == ["big", "small"] and served.count("small") == 6


def test_idle_time_banks_no_credit() -> None:
    order = VirtualTokenCounter()
    for _ in range(50):
        order.push("A", 10, now=0.0)
    assert drain(order) == ["A"] * 50  # work-conserving: alone, A gets everything
    for _ in range(3):
        order.push("A", 10, now=2.0)
        order.push("B", 10, now=2.0)
    # B arrives after A was served 500 tokens; it is lifted, so it does not get 50 requests in a row.
    assert drain(order) == ["A", "B", "A", "B", "A", "B"]


def test_correction_replaces_the_estimate() -> None:
    order = VirtualTokenCounter()
    request = order.push("A", weighted_tokens(10, 1000), now=0.0)
    order.pop(now=0.0)
    assert order.counter("A") == 2010
    order.correct(request, weighted_tokens(10, 5))
    assert order.counter("A") == 20


def test_removed_requests_are_not_dispatched() -> None:
    order = VirtualTokenCounter()
    first = order.push("A", 1, now=0.0)
    order.push("A", 1, now=0.0)
    assert order.remove(first) is True and order.remove(first) is False
    assert drain(order) == ["A"] and order.waiting() == 0


def test_weight_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        VirtualTokenCounter().set_weight("A", 0)


@pytest.mark.parametrize(("fair", "position_of_b"), [(True, 3), (False, 8)])
async def test_fair_queue_dispatches_a_late_tenant_before_the_flood(fair: bool, position_of_b: int) -> None:
    queue = FairQueue(capacity=2, queue_limit=100, wait_timeout_s=5, fair=fair)
    started: list[str] = []
    gate = asyncio.Event()

    async def request(tenant: str) -> None:
        slot = await queue.acquire(tenant, 100)
        started.append(tenant)
        await gate.wait()
        queue.release(slot, 100)

    flood = [asyncio.create_task(request("A")) for _ in range(8)]
    await asyncio.sleep(0.01)  # let the tasks reach their wait
    late = asyncio.create_task(request("B"))
    await asyncio.sleep(0.01)
    assert started == ["A", "A"] and queue.capacity.in_use == 2 and queue.order.waiting() == 7
    gate.set()
    await asyncio.gather(*flood, late)
    # Fair: B is lifted to A's counter and goes second once slots free up (A's older request wins
    # the tie); first come, first served makes it wait behind the whole flood.
    assert started.index("B") == position_of_b
    assert queue.capacity.in_use == 0


async def test_overflow_and_timeout_only_hit_the_tenant_concerned() -> None:
    queue = FairQueue(capacity=1, queue_limit=2, wait_timeout_s=0.2)
    holder = await queue.acquire("A", 1)
    waiting = [asyncio.create_task(queue.acquire("A", 1)) for _ in range(2)]
    await asyncio.sleep(0.01)  # let the tasks reach their wait
    with pytest.raises(HubError) as caught:
        await queue.acquire("A", 1)
    assert caught.value.status_code == 429 and caught.value.code == "queue_full"
    other = asyncio.create_task(queue.acquire("B", 1))  # B's own queue is empty: it may wait
    results = await asyncio.gather(*waiting, return_exceptions=True)
    assert all(isinstance(r, HubError) and r.code == "queue_timeout" for r in results)
    queue.release(holder, 1)
    slot = await asyncio.wait_for(other, timeout=1)
    assert slot.tenant == "B" and queue.capacity.in_use == 1 and queue.order.waiting() == 0


async def test_cancelled_waiter_leaves_the_queue() -> None:
    queue = FairQueue(capacity=1, wait_timeout_s=5)
    holder = await queue.acquire("A", 1)
    waiter = asyncio.create_task(queue.acquire("A", 1))
    await asyncio.sleep(0.01)  # let the tasks reach their wait
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert queue.order.waiting() == 0
    queue.release(holder, 1)
    assert queue.capacity.in_use == 0


@pytest.mark.parametrize(("fair", "b_started_at_once"), [(True, True), (False, False)])
async def test_a_tenant_with_nothing_running_starts_on_a_burst_slot(fair: bool, b_started_at_once: bool) -> None:
    queue = FairQueue(FixedCapacity(2, burst=1), queue_limit=100, wait_timeout_s=5, fair=fair)
    held = [await queue.acquire("A", 100) for _ in range(2)]
    flood = [asyncio.create_task(queue.acquire("A", 100)) for _ in range(3)]
    await asyncio.sleep(0.01)
    assert queue.capacity.in_use == 2  # the flood does not get the burst slot: A has requests running
    late = asyncio.create_task(queue.acquire("B", 100))
    await asyncio.sleep(0.01)
    assert late.done() is b_started_at_once
    if not fair:
        queue.release(held.pop(0), 100)
        await asyncio.sleep(0.01)
        assert not late.done()  # first come, first served: the flood's next request goes first
        return
    assert queue.capacity.in_use == 3 and queue.running == {"A": 2, "B": 1}
    b_ticket = late.result()
    # A second request of B waits: B has one running now, so it gets no further burst slot.
    second = asyncio.create_task(queue.acquire("B", 100))
    await asyncio.sleep(0.01)
    assert not second.done()
    # When one of A's requests ends, the pool is still over its regular size: nobody new starts.
    queue.release(held.pop(0), 100)
    await asyncio.sleep(0.01)
    assert queue.capacity.in_use == 2 and not any(f.done() for f in flood) and not second.done()
    # B's request ends: its regular slot goes to A (the lower counter), and B, idle again, starts
    # its second request on the burst slot.
    queue.release(b_ticket, 100)
    await asyncio.sleep(0.01)
    assert queue.capacity.in_use == 3 and second.done() and sum(f.done() for f in flood) == 1
    for task in [*flood, second]:
        task.cancel()
