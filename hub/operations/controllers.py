"""The operations API: usage against quota this month, backend health, recent errors (operators and
tenant admins; a tenant admin sees only the own tenant)."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get
from litestar.di import NamedDependency
from litestar.params import Parameter
from litestar.types import ControllerRouterHandler
from sqlalchemy.ext.asyncio import AsyncSession

from hub.auth.guards import tenant_admin_or_operator
from hub.auth.principal import Principal
from hub.operations.schemas import OperationsOverview
from hub.operations.services import (
    ERROR_LIMIT_DEFAULT,
    ERROR_LIMIT_MAX,
    flush_ledger,
    live_backend_states,
    live_quota_counters,
    operations_overview,
    visible_tenant,
)

ErrorLimit = Annotated[
    int,
    Parameter(
        ge=1, le=ERROR_LIMIT_MAX, description="How many of the most recent failed requests to list (last 7 days)"
    ),
]


async def overview_for(
    request: Request[Principal, Any, Any], session: AsyncSession, error_limit: int
) -> OperationsOverview:
    """The operations view as the caller may see it (shared by the API and the ``/betrieb`` page)."""
    state = request.app.state
    await flush_ledger(state)  # requests that just finished belong in the figures
    return await operations_overview(
        session,
        tenant_id=visible_tenant(request.user),
        states=live_backend_states(state),
        counters=live_quota_counters(state),
        error_limit=error_limit,
    )


class OperationsController(Controller):
    """State IT's view of all tenants and backends; a tenant admin's view of the own tenant."""

    path = "/api/operations"
    guards = [tenant_admin_or_operator]
    tags = ["Operations"]

    @get("/", operation_id="GetOperationsOverview")
    async def overview(
        self,
        request: Request[Principal, Any, Any],
        db_session: NamedDependency[AsyncSession],
        errors: ErrorLimit = ERROR_LIMIT_DEFAULT,
    ) -> OperationsOverview:
        """Usage and quota use this month per tenant, model availability, backend health (operators
        only) and the most recent failed requests. Tenant admins get their own tenant only."""
        return await overview_for(request, db_session, errors)


def operations_handlers() -> list[ControllerRouterHandler]:
    """The operations API and its web page, for the composition root."""
    from hub.operations.pages import OperationsPage

    return [OperationsController, OperationsPage]
