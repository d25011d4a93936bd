"""Backend health and load, and the choice of backend for a request.

Each backend's ``/health`` and ``/metrics`` are scraped in the background; the request path only reads
the last result plus this replica's own in-flight counts, which are more current than any scrape.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from uuid import UUID

import aiohttp
import msgspec
from prometheus_client.parser import text_string_to_metric_families

from gateway.registry import BackendEntry, Registry
from gateway.upstream import UpstreamClient

log = logging.getLogger("kiverbund.gateway.routing")

RUNNING = "vllm:num_requests_running"
WAITING = "vllm:num_requests_waiting"


@dataclass(slots=True)
class BackendState:
    """What the gateway currently knows about one backend."""

    entry: BackendEntry
    healthy: bool | None = None
    """None until the first check: an unchecked backend is tried rather than refused."""
    running: float = 0.0
    waiting: float = 0.0
    in_flight: int = 0
    checked_at: datetime | None = None
    error: str | None = None
    max_model_len: dict[str, int] = field(default_factory=dict)

    def has_room(self) -> bool:
        """May one more request be sent now?

        Not beyond the configured ``max_concurrency``, and not while vLLM reports requests waiting in
        its own queue and this replica has requests running there: more would only wait inside the
        engine, in first-come order, where the fair scheduler cannot reorder them.
        """
        limit = self.entry.max_concurrency
        if limit is not None and self.in_flight >= limit:
            return False
        return not (self.waiting > 0 and self.in_flight > 0)

    def has_burst_room(self, burst: int) -> bool:
        """May a tenant with nothing running start one more request beyond ``max_concurrency``?

        Only while the engine has no queue of its own (``num_requests_waiting`` is 0).
        """
        limit = self.entry.max_concurrency
        return limit is not None and self.in_flight < limit + burst and self.waiting <= 0

    def score(self) -> float:
        """Lower is better: requests the engine is busy with, plus a penalty for its queue.

        ``max(running, in_flight)`` covers requests from other replicas (seen in the scrape) and this
        replica's newest ones (not yet scraped).
        """
        return max(self.running, self.in_flight) + 2.0 * self.waiting


def parse_load(metrics_text: str) -> tuple[float, float]:
    """Sum ``vllm:num_requests_running`` and ``vllm:num_requests_waiting`` over all model labels."""
    running = waiting = 0.0
    for family in text_string_to_metric_families(metrics_text):
        if family.name not in (RUNNING, WAITING):
            continue
        total = sum(sample.value for sample in family.samples)
        if family.name == RUNNING:
            running = total
        else:
            waiting = total
    return running, waiting


class BackendMonitor:
    """Keeps :class:`BackendState` for every registered backend and picks the least loaded one."""

    def __init__(
        self,
        registry: Registry,
        http: UpstreamClient,
        timeout_s: float,
        on_checked: Callable[[], None] | None = None,
    ) -> None:
        self._registry = registry
        self._on_checked = on_checked
        """Called after every round of checks (capacity may have come free, backends may be back)."""
        self._http = http
        self._timeout_s = timeout_s
        self.states: dict[UUID, BackendState] = {}
        self._turn = 0
        self._synced_version = -1

    def _sync_states(self) -> None:
        if self._synced_version == self._registry.version:
            return
        self._synced_version = self._registry.version
        backends = self._registry.backends
        for backend_id in list(self.states):
            if backend_id not in backends:
                del self.states[backend_id]
        for backend_id, entry in backends.items():
            state = self.states.get(backend_id)
            if state is None:
                self.states[backend_id] = BackendState(entry=entry)
            elif state.entry != entry:
                state.entry = entry

    async def check_all(self) -> None:
        """Check every backend once, concurrently."""
        self._sync_states()
        await asyncio.gather(*(self._check(state) for state in list(self.states.values())))
        if self._on_checked is not None:
            self._on_checked()

    async def _check(self, state: BackendState) -> None:
        entry = state.entry
        headers = {"Authorization": f"Bearer {entry.api_key}"} if entry.api_key else {}
        try:
            status, _ = await self._http.get(f"{entry.base_url}/health", headers, self._timeout_s)
            if status != 200:
                raise RuntimeError(f"/health answered {status}")
            status, metrics = await self._http.get(f"{entry.base_url}/metrics", headers, self._timeout_s)
            if status == 200:
                state.running, state.waiting = parse_load(metrics.decode(errors="replace"))
            if not state.max_model_len:
                status, models = await self._http.get(f"{entry.base_url}/v1/models", headers, self._timeout_s)
                if status == 200:
                    state.max_model_len = {
                        str(m["id"]): int(m["max_model_len"])
                        for m in msgspec.json.decode(models).get("data", [])
                        if m.get("max_model_len")
                    }
            if state.healthy is not True:
                log.info("backend %s is healthy", entry.name)
            state.healthy, state.error = True, None
        except (aiohttp.ClientError, TimeoutError, RuntimeError, ValueError, KeyError, msgspec.DecodeError) as exc:
            if state.healthy is not False:
                log.warning("backend %s is unhealthy: %s", entry.name, exc)
            state.healthy, state.error = False, f"{exc.__class__.__name__}: {exc}"
        state.checked_at = datetime.now(UTC)

    async def run(self, interval_s: float) -> None:
        """Check all backends every ``interval_s`` seconds until cancelled."""
        while True:
            started = time.monotonic()
            try:
                await self.check_all()
            except Exception:
                log.exception("backend check failed")
            await asyncio.sleep(max(0.05, interval_s - (time.monotonic() - started)))

    def candidates(self, upstream_name: str) -> list[BackendState]:
        """Backends that may serve ``upstream_name`` now, best first.

        Unhealthy ones are skipped. Among equally loaded backends the order rotates, so ties spread.
        """
        self._sync_states()
        states = [s for s in self.states.values() if s.healthy is not False and upstream_name in s.entry.served_models]
        if len(states) > 1:
            self._turn += 1
            shift = self._turn % len(states)
            states = states[shift:] + states[:shift]
            states.sort(key=BackendState.score)
        return states

    def serves(self, upstream_name: str) -> bool:
        """Is any backend that is not known to be down serving ``upstream_name``? (No sorting: hot path.)"""
        self._sync_states()
        return any(s.healthy is not False and upstream_name in s.entry.served_models for s in self.states.values())

    def context_window(self, upstream_name: str) -> int | None:
        """The smallest ``max_model_len`` any healthy backend reports for the model."""
        windows = [
            s.max_model_len[upstream_name]
            for s in self.states.values()
            if s.healthy and upstream_name in s.max_model_len
        ]
        return min(windows) if windows else None

    def mark_down(self, state: BackendState, error: str) -> None:
        """Take a backend out of rotation until its next successful check."""
        log.warning("backend %s failed: %s", state.entry.name, error)
        state.healthy, state.error = False, error
