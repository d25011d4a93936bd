"""Which request runs next, and on which backend, when a model's backends are saturated.

One :class:`~gateway.scheduler.FairQueue` per upstream model name. Its capacity is the model's
healthy backends, each with room as long as :meth:`BackendState.has_room` says so; a dispatched
request carries the backend it was given. Freeing a backend may let a request of another model
through (a server can serve several models), so every release looks at all queues.
"""

from __future__ import annotations

from collections.abc import Callable
from uuid import UUID

from gateway.routing import BackendMonitor, BackendState
from gateway.scheduler import FairQueue, QueuedRequest
from hub.errors import HubError


class BackendPool:
    """The backends serving one upstream model, as the fair queue's capacity."""

    def __init__(self, monitor: BackendMonitor, upstream_name: str, burst: int = 0) -> None:
        self._monitor = monitor
        self._upstream_name = upstream_name
        self._burst = burst

    def claim(self) -> BackendState | None:
        """The least loaded backend with room, now counted as busy with one more request."""
        for state in self._monitor.candidates(self._upstream_name):
            if state.has_room():
                state.in_flight += 1
                return state
        return None

    def claim_burst(self) -> BackendState | None:
        """A burst slot (see :class:`~gateway.scheduler.FairQueue`) on the least loaded backend allowing one."""
        if self._burst <= 0:
            return None
        for state in self._monitor.candidates(self._upstream_name):
            if state.has_burst_room(self._burst):
                state.in_flight += 1
                return state
        return None

    def claim_any(self) -> BackendState | None:
        """The least loaded reachable backend, room or not (failover of a request already admitted)."""
        candidates = self._monitor.candidates(self._upstream_name)
        if not candidates:
            return None
        candidates[0].in_flight += 1
        return candidates[0]

    def free(self, state: BackendState) -> None:
        """One request less on ``state``."""
        state.in_flight -= 1
        if state.waiting > 0:
            # The scrape is up to a few seconds old; each of our requests that ends lets one of the
            # engine's waiting requests in, so the last reading overstates its queue by one.
            state.waiting -= 1


class Dispatcher:
    """Fair queues in front of every model's backends."""

    def __init__(
        self,
        monitor: BackendMonitor,
        *,
        weight_of: Callable[[UUID], float],
        fair: bool = True,
        queue_limit: int = 100,
        wait_timeout_s: float = 60.0,
        burst_slots: int = 1,
    ) -> None:
        self._monitor = monitor
        self._burst_slots = burst_slots
        self._weight_of = weight_of
        self._fair = fair
        self._queue_limit = queue_limit
        self._wait_timeout_s = wait_timeout_s
        self.queues: dict[str, FairQueue] = {}
        self._pools: dict[str, BackendPool] = {}

    def _queue(self, upstream_name: str) -> FairQueue:
        queue = self.queues.get(upstream_name)
        if queue is None:
            pool = self._pools[upstream_name] = BackendPool(self._monitor, upstream_name, self._burst_slots)
            queue = self.queues[upstream_name] = FairQueue(
                pool, queue_limit=self._queue_limit, wait_timeout_s=self._wait_timeout_s, fair=self._fair
            )
        return queue

    async def acquire(self, upstream_name: str, tenant_id: UUID, cost: float) -> QueuedRequest:
        """Wait (fairly) for room on a backend of the model; ``ticket.slot`` is the backend."""
        if not self._monitor.serves(upstream_name):
            raise HubError(
                "No backend for this model is reachable at the moment; try again later",
                status_code=503,
                code="backend_unavailable",
                error_type="server_error",
            )
        queue = self._queue(upstream_name)
        queue.order.ensure_weight(tenant_id, self._weight_of(tenant_id))
        return await queue.acquire(tenant_id, cost)

    def reroute(self, upstream_name: str, ticket: QueuedRequest) -> BackendState | None:
        """The ticket's backend failed to connect: move the ticket to the next backend, if any."""
        pool = self._pools[upstream_name]
        if ticket.slot is not None:
            pool.free(ticket.slot)
        ticket.slot = pool.claim_any()
        return ticket.slot

    def release(self, upstream_name: str, ticket: QueuedRequest, actual_cost: float) -> None:
        """The request ended: free its backend, correct the tenant's counter, let others in."""
        self.queues[upstream_name].release(ticket, actual_cost)
        self.kick()

    def kick(self) -> None:
        """Dispatch wherever room has come free (after releases and backend checks)."""
        for queue in self.queues.values():
            if queue.order.waiting():
                queue.dispatch()

    def waiting(self) -> dict[str, int]:
        """Requests waiting per upstream model."""
        return {name: queue.order.waiting() for name, queue in self.queues.items()}
