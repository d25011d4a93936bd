"""Admin API for the backend and model registry (operators only)."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

import httpx
from litestar import Controller, Request, delete, get, patch, post
from litestar.di import NamedDependency, Provide
from litestar.params import JSONBody, Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from hub.audit.services import Actor
from hub.auth.guards import operator_only
from hub.backends.models import Backend, Model
from hub.backends.schemas import (
    BackendCreate,
    BackendRead,
    BackendStatus,
    BackendUpdate,
    GrantCreate,
    ModelCreate,
    ModelRead,
    ModelUpdate,
)
from hub.backends.services import BackendService, ModelService
from hub.deps import provide_actor, provide_backend_service, provide_model_service
from hub.events import REGISTRY_CHANGED

BackendId = Annotated[UUID, Parameter(title="Backend id")]
ModelId = Annotated[UUID, Parameter(title="Model id")]
TenantId = Annotated[UUID, Parameter(title="Tenant id")]


def backend_read(backend: Backend) -> BackendRead:
    """Schema view of a backend (without its upstream key)."""
    return BackendRead(
        id=backend.id,
        name=backend.name,
        base_url=backend.base_url,
        location=backend.location,
        operator=backend.operator,
        served_models=list(backend.served_models),
        has_api_key=bool(backend.api_key),
        max_concurrency=backend.max_concurrency,
        enabled=backend.enabled,
        created_at=backend.created_at,
    )


def model_read(model: Model, granted: list[UUID]) -> ModelRead:
    """Schema view of a model with the tenants it is granted to."""
    return ModelRead(
        id=model.id,
        name=model.name,
        upstream_name=model.upstream_name,
        kind=model.kind,
        max_model_len=model.max_model_len,
        default_max_tokens=model.default_max_tokens,
        visibility=model.visibility,
        owned_by=model.owned_by,
        description=model.description,
        enabled=model.enabled,
        granted_tenants=granted,
        created_at=model.created_at,
    )


class RegistryChange:
    """Commits the request's registry change, then tells listeners (the gateway) to reload.

    Committing first matters: a listener reloading before the commit would read the old state.
    """

    def __init__(self, request: Request[Any, Any, Any], db_session: AsyncSession) -> None:
        self._request = request
        self._session = db_session

    async def publish(self) -> None:
        """Commit and announce."""
        await self._session.commit()
        self._request.app.emit(REGISTRY_CHANGED, self._request.app)


async def provide_registry_change(
    request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession]
) -> RegistryChange:
    """The registry change of this request."""
    return RegistryChange(request, db_session)


class BackendController(Controller):
    """vLLM servers the gateway forwards to."""

    path = "/api/admin/backends"
    guards = [operator_only]
    dependencies = {
        "backends": Provide(provide_backend_service),
        "actor": Provide(provide_actor, sync_to_thread=False),
        "change": Provide(provide_registry_change),
    }
    tags = ["Admin: backends and models"]

    @get("/", operation_id="ListBackends")
    async def list_backends(self, backends: NamedDependency[BackendService]) -> list[BackendRead]:
        """All registered backends."""
        return [backend_read(b) for b in await backends.get_many(order_by=[Backend.name.asc()])]

    @post("/", operation_id="RegisterBackend")
    async def register_backend(
        self,
        change: NamedDependency[RegistryChange],
        backends: NamedDependency[BackendService],
        actor: NamedDependency[Actor],
        data: JSONBody[BackendCreate],
    ) -> BackendRead:
        """Register a vLLM server; its served models are discovered when not given."""
        async with httpx.AsyncClient(trust_env=False) as http:  # only to discover the served models
            backend = await backends.register(data, actor, http)
        view = backend_read(backend)
        await change.publish()
        return view

    @get("/status", operation_id="ListBackendStatus")
    async def backend_status(self, request: Request) -> list[BackendStatus]:
        """Health and load of each backend as this gateway replica sees them."""
        states = request.app.state.gateway.monitor.states.values()
        return [
            BackendStatus(
                id=s.entry.id,
                name=s.entry.name,
                healthy=bool(s.healthy),
                running=s.running,
                waiting=s.waiting,
                in_flight=s.in_flight,
                checked_at=s.checked_at,
                error=s.error,
            )
            for s in sorted(states, key=lambda s: s.entry.name)
        ]

    @get("/{backend_id:uuid}", operation_id="GetBackend")
    async def get_backend(self, backends: NamedDependency[BackendService], backend_id: BackendId) -> BackendRead:
        """One backend."""
        return backend_read(await backends.get(backend_id))

    @patch("/{backend_id:uuid}", operation_id="UpdateBackend")
    async def update_backend(
        self,
        change: NamedDependency[RegistryChange],
        backends: NamedDependency[BackendService],
        actor: NamedDependency[Actor],
        backend_id: BackendId,
        data: JSONBody[BackendUpdate],
    ) -> BackendRead:
        """Change a backend (e.g. disable it for maintenance)."""
        view = backend_read(await backends.update_backend(backend_id, data, actor))
        await change.publish()
        return view

    @delete("/{backend_id:uuid}", operation_id="DeleteBackend")
    async def delete_backend(
        self,
        change: NamedDependency[RegistryChange],
        backends: NamedDependency[BackendService],
        actor: NamedDependency[Actor],
        backend_id: BackendId,
    ) -> None:
        """Remove a backend from the registry."""
        await backends.remove(backend_id, actor)
        await change.publish()


class ModelController(Controller):
    """Models as tenants see them, and who may use them."""

    path = "/api/admin/models"
    guards = [operator_only]
    dependencies = {
        "models": Provide(provide_model_service),
        "actor": Provide(provide_actor, sync_to_thread=False),
        "change": Provide(provide_registry_change),
    }
    tags = ["Admin: backends and models"]

    @get("/", operation_id="ListAdminModels")
    async def list_models(self, models: NamedDependency[ModelService]) -> list[ModelRead]:
        """All models with their grants."""
        rows = await models.get_many(order_by=[Model.name.asc()])
        grants = await models.granted_tenants([m.id for m in rows])
        return [model_read(m, grants[m.id]) for m in rows]

    @post("/", operation_id="CreateModel")
    async def create_model(
        self,
        change: NamedDependency[RegistryChange],
        models: NamedDependency[ModelService],
        actor: NamedDependency[Actor],
        data: JSONBody[ModelCreate],
    ) -> ModelRead:
        """Publish a model alias."""
        view = model_read(await models.publish(data, actor), [])
        await change.publish()
        return view

    @get("/{model_id:uuid}", operation_id="GetAdminModel")
    async def get_model(self, models: NamedDependency[ModelService], model_id: ModelId) -> ModelRead:
        """One model."""
        model = await models.get(model_id)
        return model_read(model, (await models.granted_tenants([model.id]))[model.id])

    @patch("/{model_id:uuid}", operation_id="UpdateModel")
    async def update_model(
        self,
        change: NamedDependency[RegistryChange],
        models: NamedDependency[ModelService],
        actor: NamedDependency[Actor],
        model_id: ModelId,
        data: JSONBody[ModelUpdate],
    ) -> ModelRead:
        """Change a model."""
        model = await models.update_model(model_id, data, actor)
        view = model_read(model, (await models.granted_tenants([model.id]))[model.id])
        await change.publish()
        return view

    @delete("/{model_id:uuid}", operation_id="DeleteModel")
    async def delete_model(
        self,
        change: NamedDependency[RegistryChange],
        models: NamedDependency[ModelService],
        actor: NamedDependency[Actor],
        model_id: ModelId,
    ) -> None:
        """Withdraw a model alias."""
        await models.remove(model_id, actor)
        await change.publish()

    @post("/{model_id:uuid}/grants", status_code=204, operation_id="GrantModel")
    async def grant(
        self,
        change: NamedDependency[RegistryChange],
        models: NamedDependency[ModelService],
        actor: NamedDependency[Actor],
        model_id: ModelId,
        data: JSONBody[GrantCreate],
    ) -> None:
        """Let a tenant use the model."""
        await models.grant(model_id, data.tenant_id, actor)
        await change.publish()

    @delete("/{model_id:uuid}/grants/{tenant_id:uuid}", operation_id="RevokeModelGrant")
    async def revoke_grant(
        self,
        change: NamedDependency[RegistryChange],
        models: NamedDependency[ModelService],
        actor: NamedDependency[Actor],
        model_id: ModelId,
        tenant_id: TenantId,
    ) -> None:
        """Take the model away from a tenant."""
        await models.revoke_grant(model_id, tenant_id, actor)
        await change.publish()
