"""Public liveness and readiness probes and the Prometheus metrics.

``/health/live`` says the process serves HTTP (restart it if not). ``/health/ready`` says this replica
should get traffic: its database answers, its quota counters answer, and every enabled model has at
least one backend that passed its last health check. ``/health`` and ``/ready`` are the older names.
"""

from __future__ import annotations

from typing import Any, Protocol

from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

PROBE = {"exclude_from_auth": True, "security": [], "tags": ["Health"]}


class _Gateway(Protocol):
    """What readiness needs from the gateway (the hub does not import it)."""

    def healthy_backends_by_model(self) -> dict[str, int]: ...


async def readiness(request: Request, db_session: AsyncSession) -> tuple[bool, dict[str, Any]]:
    """Check the database, the quota store and the backends; ``(ready, checks)``."""
    checks: dict[str, Any] = {}
    try:
        await db_session.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"unreachable ({exc.__class__.__name__})"
    gateway: _Gateway | None = getattr(request.app.state, "gateway", None)
    ping = getattr(getattr(gateway, "quotas", None), "ping", None)
    if ping is None:
        checks["quota_store"] = "ok (in-process)"
    else:
        try:
            checks["quota_store"] = "ok" if await ping() else "unreachable"
        except Exception as exc:
            checks["quota_store"] = f"unreachable ({exc.__class__.__name__})"
    healthy = gateway.healthy_backends_by_model() if gateway is not None else {}
    checks["models"] = {name: {"healthy_backends": n} for name, n in sorted(healthy.items())}
    ready = (
        checks["database"] == "ok"
        and checks["quota_store"].startswith("ok")
        and gateway is not None
        and all(n > 0 for n in healthy.values())
    )
    return ready, checks


async def _readiness_response(request: Request, db_session: AsyncSession) -> Response[dict[str, Any]]:
    ready, checks = await readiness(request, db_session)
    return Response({"status": "ready" if ready else "not_ready", "checks": checks}, status_code=200 if ready else 503)


class HealthController(Controller):
    """Probes for load balancers and orchestrators; public, no tenant data."""

    path = ""

    @get("/health/live", operation_id="Live", **PROBE)
    async def live(self) -> dict[str, str]:
        """The process is up and serving HTTP."""
        return {"status": "ok"}

    @get("/health", operation_id="Health", include_in_schema=False, **PROBE)
    async def health(self) -> dict[str, str]:
        """Older name of ``/health/live``."""
        return {"status": "ok"}

    @get("/health/ready", operation_id="Ready", **PROBE)
    async def ready(self, request: Request, db_session: NamedDependency[AsyncSession]) -> Response[dict[str, Any]]:
        """200 when this replica can serve: database, quota store, a healthy backend for every enabled model;
        otherwise 503 naming what is missing."""
        return await _readiness_response(request, db_session)

    @get("/ready", operation_id="ReadyLegacy", include_in_schema=False, **PROBE)
    async def ready_legacy(
        self, request: Request, db_session: NamedDependency[AsyncSession]
    ) -> Response[dict[str, Any]]:
        """Older name of ``/health/ready``."""
        return await _readiness_response(request, db_session)

    @get("/metrics", operation_id="Metrics", media_type="text/plain", **PROBE)
    async def metrics(self, request: Request) -> Response[bytes]:
        """Prometheus metrics of this replica: GenAI usage and latency, requests by tenant and model, queue,
        refusals, backends, HTTP durations by route. No ids of keys, users or requests."""
        return Response(
            request.app.state.telemetry.render_prometheus(), media_type="text/plain; version=0.0.4; charset=utf-8"
        )
