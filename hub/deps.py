"""Dependency providers shared by the hub's controllers."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.di import NamedDependency
from sqlalchemy.ext.asyncio import AsyncSession

from hub.audit.services import Actor
from hub.auth.principal import Principal
from hub.backends.services import BackendService, ModelService
from hub.quotas.services import QuotaPolicyService
from hub.tenants.services import ApiKeyService, TenantService


def provide_actor(request: Request[Principal, Any, Any]) -> Actor:
    """The audit actor of the current request."""
    return Actor.of(request.user)


async def provide_tenant_service(db_session: NamedDependency[AsyncSession]) -> TenantService:
    """Tenant service on the request's session."""
    return TenantService(session=db_session)


async def provide_key_service(db_session: NamedDependency[AsyncSession]) -> ApiKeyService:
    """API key service on the request's session."""
    return ApiKeyService(session=db_session)


async def provide_backend_service(db_session: NamedDependency[AsyncSession]) -> BackendService:
    """Backend service on the request's session."""
    return BackendService(session=db_session)


async def provide_model_service(db_session: NamedDependency[AsyncSession]) -> ModelService:
    """Model service on the request's session."""
    return ModelService(session=db_session)


async def provide_quota_service(db_session: NamedDependency[AsyncSession]) -> QuotaPolicyService:
    """Quota policy service on the request's session."""
    return QuotaPolicyService(session=db_session)
