"""Public liveness and readiness probes and the Prometheus metrics."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency
from litestar.exceptions import ServiceUnavailableException
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession


class HealthController(Controller):
    """Probes for load balancers and orchestrators; public, no data."""

    path = ""
    tags = ["Health"]

    @get("/health", exclude_from_auth=True, operation_id="Health", security=[])
    async def health(self) -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    @get("/ready", exclude_from_auth=True, operation_id="Ready", security=[])
    async def ready(self, request: Request, db_session: NamedDependency[AsyncSession]) -> dict[str, Any]:
        """The database answers; lists how many backends are healthy."""
        try:
            await db_session.execute(text("SELECT 1"))
        except Exception as exc:
            raise ServiceUnavailableException("database not reachable") from exc
        gateway = getattr(request.app.state, "gateway", None)
        ping = getattr(gateway.quotas, "ping", None) if gateway else None
        if ping is not None and not await ping():
            raise ServiceUnavailableException("quota store not reachable")
        healthy = sum(1 for s in gateway.monitor.states.values() if s.healthy) if gateway else 0
        return {"status": "ready", "healthy_backends": healthy}

    @get("/metrics", exclude_from_auth=True, operation_id="Metrics", security=[], media_type="text/plain")
    async def metrics(self, request: Request) -> Response[bytes]:
        """Prometheus metrics of this replica's gateway (queue wait, queue length, refusals); no tenant data."""
        metrics = request.app.state.gateway_metrics
        return Response(metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")
