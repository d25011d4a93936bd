"""Starting and stopping the gateway's long-lived parts with the app."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar
from litestar.events import listener

from gateway.admission import AdmissionControl
from gateway.dispatch import Dispatcher
from gateway.ledger import Ledger
from gateway.metrics import BackendReading, GatewayMetrics
from gateway.proxy import Gateway
from gateway.quota_seed import MonthlySeeder
from gateway.quotas import InProcessQuotaCounters, QuotaStore
from gateway.registry import Registry
from gateway.routing import BackendMonitor
from gateway.tokens import TokenCounter
from gateway.tracing import GatewayTracer
from gateway.upstream import UpstreamClient
from hub.events import REGISTRY_CHANGED
from hub.settings import Settings
from hub.telemetry.providers import Telemetry

log = logging.getLogger("kiverbund.gateway")


def _quota_store(settings: Settings) -> QuotaStore:
    if settings.quota_store == "redis":
        try:
            from gateway.quota_redis import RedisQuotaCounters
        except ImportError as exc:  # the optional dependency
            raise RuntimeError(
                "KIVERBUND_QUOTA_STORE=redis needs the redis extra: pip install 'kiverbund[redis]'"
            ) from exc

        return RedisQuotaCounters(settings.redis_url, ttl_s=settings.quota_reservation_ttl_s)
    return InProcessQuotaCounters(ttl_s=max(settings.quota_reservation_ttl_s, settings.upstream_read_timeout_s))


async def _reload(gateway: Gateway, seeder: MonthlySeeder) -> None:
    await gateway.registry.reload()
    try:
        await seeder.run_once()
    except Exception:
        # The quota store may be down; seeding is retried with the next reload.
        log.exception("seeding monthly quota counters failed")


async def _refresh_registry(gateway: Gateway, seeder: MonthlySeeder, interval_s: float) -> None:
    while True:
        await asyncio.sleep(interval_s)
        try:
            await _reload(gateway, seeder)
        except Exception:
            log.exception("registry reload failed")


@asynccontextmanager
async def gateway_lifespan(app: Litestar) -> AsyncIterator[None]:
    """Create the gateway on ``app.state.gateway``, run its background tasks, drain the ledger on exit."""
    settings: Settings = app.state.settings
    http = UpstreamClient(settings)
    registry = Registry(app.state.sessionmaker, evidence=app.state.get("release_evidence"))
    telemetry: Telemetry = app.state.telemetry
    metrics = GatewayMetrics(telemetry.meter)
    tracer = GatewayTracer(telemetry.tracer, enabled=telemetry.tracing)
    dispatcher: Dispatcher | None = None

    def capacity_checked() -> None:
        if dispatcher is not None:
            dispatcher.kick()

    monitor = BackendMonitor(registry, http, settings.health_timeout_s, on_checked=capacity_checked)
    dispatcher = Dispatcher(
        monitor,
        weight_of=registry.weight,
        fair=settings.scheduler == "fair",
        queue_limit=settings.queue_limit_per_tenant,
        wait_timeout_s=settings.queue_timeout_s,
        burst_slots=settings.fair_burst_slots,
    )
    metrics.watch_queues(dispatcher.waiting)
    metrics.watch_backends(
        lambda: [
            BackendReading(s.entry.name, bool(s.healthy), s.in_flight, s.running, s.waiting)
            for s in monitor.states.values()
        ]
    )
    quotas = _quota_store(settings)
    admission = AdmissionControl(
        registry=registry,
        monitor=monitor,
        quotas=quotas,
        dispatcher=dispatcher,
        tokens=TokenCounter(http, monitor),
        metrics=metrics,
        tracer=tracer,
    )
    ledger = Ledger(
        app.state.sessionmaker,
        flush_interval_s=settings.ledger_flush_interval_s,
        batch_size=settings.ledger_batch_size,
        queue_limit=settings.ledger_queue_limit,
    )
    metrics.watch_ledger(lambda: ledger.pending)
    gateway = Gateway(
        registry=registry,
        monitor=monitor,
        ledger=ledger,
        http=http,
        admission=admission,
        tracer=tracer,
        metrics=metrics,
    )
    seeder = MonthlySeeder(app.state.sessionmaker, registry, quotas)
    app.state.gateway = gateway
    app.state.gateway_metrics = metrics
    app.state.ledger = ledger  # the hub's chargeback export flushes it without knowing the gateway
    app.state.quota_seeder = seeder
    await _reload(gateway, seeder)
    await monitor.check_all()
    tasks = [
        asyncio.create_task(ledger.run(), name="ledger"),
        asyncio.create_task(monitor.run(settings.health_interval_s), name="backend-monitor"),
        asyncio.create_task(_refresh_registry(gateway, seeder, settings.registry_refresh_s), name="registry-refresh"),
    ]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await gateway.drain()
        await ledger.close()
        await quotas.close()
        await http.close()


@listener(REGISTRY_CHANGED)
async def on_registry_changed(app: Litestar) -> None:
    """Reload the registry and re-check backends right after this replica's admin API changed them."""
    gateway: Gateway | None = getattr(app.state, "gateway", None)
    if gateway is not None:
        await _reload(gateway, app.state.quota_seeder)
        await gateway.monitor.check_all()
