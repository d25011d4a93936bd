"""Token-weighted fair queuing of requests between tenants when a model's backends are saturated.

The order is the Virtual Token Counter (VTC) of Sheng et al., "Fairness in Serving Large Language
Models" (OSDI 2024): every tenant has a counter of the weighted tokens it was served, divided by its
weight; the backlogged tenant with the smallest counter goes next. A tenant whose queue was empty is
lifted to the smallest counter of the backlogged tenants (or to the last served one's), so idle time
banks no credit. The gateway cannot watch tokens being generated inside vLLM, so a request is charged
its prompt tokens plus its output allowance when dispatched and corrected with the real output when it
finishes.

:class:`VirtualTokenCounter` is the pure ordering state (deterministic, no I/O); :class:`FairQueue`
puts it in front of a fixed number of concurrent slots on the event loop. Both are work-conserving:
a slot is never left idle while anybody waits.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, Protocol

from hub.errors import HubError


def weighted_tokens(
    prompt_tokens: int, output_tokens: int, *, input_weight: float = 1.0, output_weight: float = 2.0
) -> float:
    """Service in VTC's unit: output tokens cost more than prompt tokens (decode is the scarce part)."""
    return input_weight * prompt_tokens + output_weight * output_tokens


@dataclass(eq=False)
class QueuedRequest:
    """A request waiting for (or holding) a slot."""

    tenant: Hashable
    cost: float
    """Weighted tokens charged at dispatch (the estimate)."""
    seq: int
    enqueued_at: float
    item: Any = None
    dispatched_at: float | None = None
    slot: Any = None
    """What the request was dispatched to (a backend), until released."""
    released: bool = False

    @property
    def wait_s(self) -> float:
        """Time spent queued (0 until dispatched)."""
        return 0.0 if self.dispatched_at is None else self.dispatched_at - self.enqueued_at


@dataclass
class _Tenant:
    weight: float
    counter: float = 0.0
    waiting: deque[QueuedRequest] = field(default_factory=deque)


class VirtualTokenCounter:
    """Which waiting request goes next: VTC across tenants (``fair=True``) or first come, first served."""

    def __init__(self, *, fair: bool = True) -> None:
        self.fair = fair
        self._tenants: dict[Hashable, _Tenant] = {}
        self._weights: dict[Hashable, float] = {}
        self._seq = itertools.count()
        self._last_served_counter = 0.0

    def set_weight(self, tenant: Hashable, weight: float) -> None:
        """A tenant's share relative to others (e.g. from its contract or population); default 1."""
        if weight <= 0:
            raise ValueError("weight must be positive")
        self._weights[tenant] = weight
        if tenant in self._tenants:
            self._tenants[tenant].weight = weight

    def ensure_weight(self, tenant: Hashable, weight: float) -> None:
        """Set the weight if it changed (cheap enough to call for every request)."""
        if self._weights.get(tenant, 1.0) != weight:
            self.set_weight(tenant, weight)

    def counter(self, tenant: Hashable) -> float:
        """The tenant's virtual counter (weighted tokens served / weight)."""
        state = self._tenants.get(tenant)
        return state.counter if state else 0.0

    def backlogged_tenants(self) -> list[Hashable]:
        """Tenants with requests waiting."""
        return [key for key, t in self._tenants.items() if t.waiting]

    def waiting(self, tenant: Hashable | None = None) -> int:
        """Requests waiting, of one tenant or of all."""
        if tenant is not None:
            state = self._tenants.get(tenant)
            return len(state.waiting) if state else 0
        return sum(len(t.waiting) for t in self._tenants.values())

    def push(self, tenant: Hashable, cost: float, item: Any = None, *, now: float | None = None) -> QueuedRequest:
        """Queue a request of ``tenant`` costing ``cost`` weighted tokens."""
        state = self._tenants.get(tenant)
        if state is None:
            state = self._tenants[tenant] = _Tenant(weight=self._weights.get(tenant, 1.0))
        if not state.waiting:
            # Becoming backlogged: no credit for the time the tenant was idle.
            others = [t.counter for key, t in self._tenants.items() if t.waiting and key != tenant]
            state.counter = max(state.counter, min(others) if others else self._last_served_counter)
        request = QueuedRequest(
            tenant=tenant,
            cost=cost,
            seq=next(self._seq),
            enqueued_at=time.monotonic() if now is None else now,
            item=item,
        )
        state.waiting.append(request)
        return request

    def pop(
        self, *, now: float | None = None, eligible: Callable[[Hashable], bool] | None = None
    ) -> QueuedRequest | None:
        """Take the next request to dispatch and charge its tenant, or ``None`` when nobody waits.

        ``eligible`` narrows the choice to some tenants (the others keep their place).
        """
        backlogged = [t for key, t in self._tenants.items() if t.waiting and (eligible is None or eligible(key))]
        if not backlogged:
            return None
        if self.fair:
            state = min(backlogged, key=lambda t: (t.counter, t.waiting[0].seq))
        else:
            state = min(backlogged, key=lambda t: t.waiting[0].seq)
        request = state.waiting.popleft()
        state.counter += request.cost / state.weight
        self._last_served_counter = state.counter
        request.dispatched_at = time.monotonic() if now is None else now
        return request

    def remove(self, request: QueuedRequest) -> bool:
        """Withdraw a waiting request (timed out or cancelled); False if it was no longer waiting."""
        state = self._tenants.get(request.tenant)
        if state is None:
            return False
        try:
            state.waiting.remove(request)
        except ValueError:
            return False
        return True

    def correct(self, request: QueuedRequest, actual_cost: float) -> None:
        """Replace the estimate charged at dispatch by the real service once the request finished."""
        state = self._tenants.get(request.tenant)
        if state is not None:
            state.counter += (actual_cost - request.cost) / state.weight
            request.cost = actual_cost


class Capacity(Protocol):
    """Where dispatched requests run: hands out slots while there is room."""

    def claim(self) -> Any | None:
        """Take a slot (e.g. the backend chosen to run the request), or ``None`` when saturated."""
        ...

    def free(self, slot: Any) -> None:
        """Give a slot back."""
        ...

    def claim_burst(self) -> Any | None:
        """A slot beyond the regular capacity, for a tenant with nothing running, or ``None``."""
        ...


class FixedCapacity:
    """``size`` interchangeable slots."""

    def __init__(self, size: int, burst: int = 0) -> None:
        if size < 1:
            raise ValueError("capacity must be at least 1")
        self.size = size
        self.burst = burst
        self.in_use = 0

    def claim(self) -> bool | None:
        """A slot if one is free."""
        if self.in_use >= self.size:
            return None
        self.in_use += 1
        return True

    def free(self, slot: Any) -> None:
        """Return a slot."""
        self.in_use -= 1

    def claim_burst(self) -> bool | None:
        """One of the ``burst`` extra slots, if free."""
        if self.in_use >= self.size + self.burst:
            return None
        self.in_use += 1
        return True


class FairQueue:
    """Requests for one pool of capacity; while it is saturated they wait and leave in VTC order.

    Each tenant's queue has a length limit and a wait timeout; only the tenant that overflows or
    waits too long gets a 429, the others are not affected.

    Slots are not preempted, so a tenant arriving while a flood holds every slot would wait until one
    of the flood's requests ends, however fair the order. Therefore a waiting tenant with nothing
    running may take one of the capacity's *burst* slots (if it has any): a light tenant starts at
    once, and the flood gets the slot back when that request ends. The capacity decides whether a
    burst is safe (the gateway's backends refuse it while vLLM itself queues requests).
    """

    def __init__(
        self,
        capacity: Capacity | int,
        *,
        queue_limit: int = 64,
        wait_timeout_s: float = 30.0,
        fair: bool = True,
    ) -> None:
        self.capacity: Capacity = FixedCapacity(capacity) if isinstance(capacity, int) else capacity
        self.queue_limit = queue_limit
        self.wait_timeout_s = wait_timeout_s
        self.order = VirtualTokenCounter(fair=fair)
        self.running: dict[Hashable, int] = {}
        """Dispatched and not yet released requests per tenant."""

    async def acquire(self, tenant: Hashable, cost: float) -> QueuedRequest:
        """Wait for a slot; the dispatched request carries it as ``slot`` (``wait_s``: time queued)."""
        if self.order.waiting(tenant) >= self.queue_limit:
            raise HubError(
                "Too many of your requests are waiting for this model; retry shortly",
                status_code=429,
                code="queue_full",
                headers={"Retry-After": "1"},
            )
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        request = self.order.push(tenant, cost, future)
        self.dispatch()
        if future.done():  # the common case: there was room, no waiting at all
            return request
        try:
            await asyncio.wait_for(asyncio.shield(future), timeout=self.wait_timeout_s)
        except TimeoutError:
            if self.order.remove(request):
                raise HubError(
                    f"Waited {self.wait_timeout_s:g} s for capacity on this model; retry later",
                    status_code=429,
                    code="queue_timeout",
                    headers={"Retry-After": str(max(1, int(self.wait_timeout_s)))},
                ) from None
            # Dispatched in the very moment the wait ran out: the slot is ours.
        except asyncio.CancelledError:
            if not self.order.remove(request):
                self.release(request, request.cost)  # dispatched, but the caller is gone
            raise
        return request

    def release(self, request: QueuedRequest, actual_cost: float) -> None:
        """Give the slot back and correct the tenant's counter with the real cost (once)."""
        if request.released:
            return
        request.released = True
        if request.slot is not None:  # None if its backend failed and no other could take it
            slot, request.slot = request.slot, None
            self.capacity.free(slot)
        left = self.running.get(request.tenant, 1) - 1
        if left:
            self.running[request.tenant] = left
        else:
            self.running.pop(request.tenant, None)
        self.order.correct(request, actual_cost)
        self.dispatch()

    def dispatch(self) -> None:
        """Hand free slots to waiting requests in scheduler order (also call when capacity grew)."""
        while self.order.waiting():
            slot = self.capacity.claim()
            request = None
            if slot is not None:
                request = self.order.pop()
            elif self.order.fair and any(self._idle(t) for t in self.order.backlogged_tenants()):
                # No regular slot: a tenant with nothing running may start on a burst slot.
                slot = self.capacity.claim_burst()
                if slot is not None:
                    request = self.order.pop(eligible=self._idle)
            if slot is None:
                return
            if request is None:  # cannot happen while someone waits; keep the slot balance right anyway
                self.capacity.free(slot)
                return
            request.slot = slot
            self.running[request.tenant] = self.running.get(request.tenant, 0) + 1
            future: asyncio.Future[None] = request.item
            if not future.done():
                future.set_result(None)

    def _idle(self, tenant: Hashable) -> bool:
        return tenant not in self.running
