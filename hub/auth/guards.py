"""Route guards: every route declares which roles may call it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from hub.auth.principal import Principal
from hub.errors import HubError
from hub.tenants.models import KeyRole

Guard = Callable[[ASGIConnection, BaseRouteHandler], Awaitable[None]]


def requires_role(*roles: KeyRole) -> Guard:
    """A guard that admits only principals holding one of ``roles``."""
    allowed = frozenset(r.value for r in roles)

    # Async on purpose: Litestar runs synchronous guards in a worker thread, which costs a thread hop
    # on every gateway request.
    async def guard(connection: ASGIConnection, _handler: BaseRouteHandler) -> None:
        user = connection.scope.get("user")
        if not isinstance(user, Principal) or user.role not in allowed:
            raise HubError("This API key may not call this endpoint", status_code=403, code="permission_denied")

    guard.__name__ = f"requires_role({','.join(sorted(allowed))})"
    return guard


operator_only = requires_role(KeyRole.OPERATOR)
"""State IT: manages tenants, keys, backends and models."""

any_tenant_key = requires_role(KeyRole.CLIENT, KeyRole.TENANT_ADMIN, KeyRole.OPERATOR)
"""Any valid key of any tenant: model calls and reading the tenant's own usage."""
