"""Monthly budgets survive restarts: a scope's month counter starts from what the ledger booked.

The in-process store forgets everything on restart, and a fresh Redis knows nothing either, so each
scope with a monthly budget is seeded once per month and process; the store ignores the seed if it
already counts that month (Redis: ``SET NX``), so replicas starting at the same time agree.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import async_sessionmaker

from gateway.quotas import QuotaStore, month_key, utc_now
from gateway.registry import Registry
from hub.usage.services import month_tokens


class MonthlySeeder:
    """Seeds the monthly counters of new scopes (and of every scope when a month begins)."""

    def __init__(self, sessionmaker: async_sessionmaker, registry: Registry, quotas: QuotaStore) -> None:
        self._sessionmaker = sessionmaker
        self._registry = registry
        self._quotas = quotas
        self._seeded: set[tuple[str, str]] = set()

    async def run_once(self) -> None:
        """Seed every scope with a monthly budget that was not seeded for the current month yet."""
        month = month_key(utc_now())
        wanted = {
            (tenant_id, entry)
            for tenant_id, entries in self._registry.policies.items()
            for entry in entries
            if entry.scope.limits.monthly_tokens is not None
        }
        current = {(entry.scope.name, month) for _, entry in wanted}
        # A removed policy that comes back must be seeded again (its counter stood still meanwhile).
        self._seeded &= current
        todo = [(t, e) for t, e in wanted if (e.scope.name, month) not in self._seeded]
        if not todo:
            return
        async with self._sessionmaker() as session:
            for tenant_id, entry in todo:
                tokens = await month_tokens(session, tenant_id, month, api_key_id=entry.api_key_id, model=entry.model)
                await self._quotas.seed_month(entry.scope.name, month, tokens)
                self._seeded.add((entry.scope.name, month))
