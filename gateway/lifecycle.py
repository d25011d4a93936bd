"""Starting and stopping the gateway's long-lived parts with the app."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar
from litestar.events import listener

from gateway.ledger import Ledger
from gateway.proxy import Gateway
from gateway.registry import Registry
from gateway.routing import BackendMonitor
from gateway.upstream import UpstreamClient
from hub.events import REGISTRY_CHANGED
from hub.settings import Settings

log = logging.getLogger("kiverbund.gateway")


async def _refresh_registry(gateway: Gateway, interval_s: float) -> None:
    while True:
        await asyncio.sleep(interval_s)
        try:
            await gateway.registry.reload()
        except Exception:
            log.exception("registry reload failed")


@asynccontextmanager
async def gateway_lifespan(app: Litestar) -> AsyncIterator[None]:
    """Create the gateway on ``app.state.gateway``, run its background tasks, drain the ledger on exit."""
    settings: Settings = app.state.settings
    http = UpstreamClient(settings)
    registry = Registry(app.state.sessionmaker)
    monitor = BackendMonitor(registry, http, settings.health_timeout_s)
    ledger = Ledger(
        app.state.sessionmaker,
        flush_interval_s=settings.ledger_flush_interval_s,
        batch_size=settings.ledger_batch_size,
        queue_limit=settings.ledger_queue_limit,
    )
    gateway = Gateway(registry=registry, monitor=monitor, ledger=ledger, http=http)
    app.state.gateway = gateway
    app.state.ledger = ledger  # the hub's chargeback export flushes it without knowing the gateway
    await registry.reload()
    await monitor.check_all()
    tasks = [
        asyncio.create_task(ledger.run(), name="ledger"),
        asyncio.create_task(monitor.run(settings.health_interval_s), name="backend-monitor"),
        asyncio.create_task(_refresh_registry(gateway, settings.registry_refresh_s), name="registry-refresh"),
    ]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await ledger.close()
        await http.close()


@listener(REGISTRY_CHANGED)
async def on_registry_changed(app: Litestar) -> None:
    """Reload the registry and re-check backends right after this replica's admin API changed them."""
    gateway: Gateway | None = getattr(app.state, "gateway", None)
    if gateway is not None:
        await gateway.registry.reload()
        await gateway.monitor.check_all()
