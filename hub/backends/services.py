"""Managing the registry of backends and models. Every change writes an audit event."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import httpx
from advanced_alchemy.repository import SQLAlchemyAsyncRepository
from advanced_alchemy.service import SQLAlchemyAsyncRepositoryService
from sqlalchemy import delete, select

from hub.audit.services import Actor, record, snapshot
from hub.backends.models import Backend, Model, ModelGrant
from hub.backends.schemas import BackendCreate, BackendUpdate, ModelCreate, ModelUpdate
from hub.errors import HubError
from hub.structs import set_fields
from hub.tenants.models import Tenant

BACKEND_AUDIT = ("name", "base_url", "location", "operator", "served_models", "max_concurrency", "enabled")
"""A backend's fields in the audit trail's before/after snapshots (plus ``has_api_key``, never the key)."""
MODEL_AUDIT = (
    "name",
    "upstream_name",
    "kind",
    "max_model_len",
    "default_max_tokens",
    "visibility",
    "owned_by",
    "description",
    "enabled",
)
"""A model's fields in the snapshots."""


def backend_state(backend: Backend | None) -> dict[str, Any] | None:
    """A backend's audit snapshot: whether it has an upstream key, never the key itself."""
    state = snapshot(backend, BACKEND_AUDIT)
    if state is not None:
        state["has_api_key"] = bool(getattr(backend, "api_key", None))
    return state


def _grant_state(tenant_id: UUID, granted: bool) -> dict[str, Any]:
    return {"tenant_id": str(tenant_id), "granted": granted}


async def discover_served_models(base_url: str, api_key: str | None, http: httpx.AsyncClient) -> list[str]:
    """Ask a vLLM server which model names it serves (``GET /v1/models``)."""
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    try:
        response = await http.get(f"{base_url.rstrip('/')}/v1/models", headers=headers, timeout=5.0)
        response.raise_for_status()
        return [str(m["id"]) for m in response.json().get("data", [])]
    except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
        raise HubError(
            f"Could not read the served models from {base_url}/v1/models ({exc.__class__.__name__}); "
            "give served_models explicitly",
            param="served_models",
        ) from exc


class BackendService(SQLAlchemyAsyncRepositoryService[Backend]):
    """Registers and changes vLLM backends."""

    class Repo(SQLAlchemyAsyncRepository[Backend]):
        """Backend repository."""

        model_type = Backend

    repository_type = Repo

    async def register(self, data: BackendCreate, actor: Actor, http: httpx.AsyncClient) -> Backend:
        """Register a backend, discovering its served models when they are not given."""
        if await self.exists(name=data.name):
            raise HubError(f"A backend named {data.name!r} exists already", status_code=409, param="name")
        base_url = data.base_url.rstrip("/")
        served = data.served_models
        if served is None:
            served = await discover_served_models(base_url, data.api_key, http)
        backend = await self.create(
            Backend(
                name=data.name,
                base_url=base_url,
                location=data.location,
                operator=data.operator,
                served_models=list(dict.fromkeys(served)),
                api_key=data.api_key,
                max_concurrency=data.max_concurrency,
                enabled=data.enabled,
            )
        )
        record(
            self.repository.session,
            actor,
            "backend.register",
            "backend",
            backend.id,
            after=backend_state(backend),
            name=backend.name,
            base_url=base_url,
            location=backend.location,
            served_models=backend.served_models,
        )
        return backend

    async def update_backend(self, backend_id: UUID, data: BackendUpdate, actor: Actor) -> Backend:
        """Change a backend."""
        backend = await self.get(backend_id)
        before = backend_state(backend)
        changes = set_fields(data)
        if "base_url" in changes:
            changes["base_url"] = changes["base_url"].rstrip("/")
        for field, value in changes.items():
            setattr(backend, field, value)
        backend = await self.update(backend)
        if "api_key" in changes:
            changes["api_key"] = "<changed>"  # never write the upstream secret into the audit trail
        record(
            self.repository.session,
            actor,
            "backend.update",
            "backend",
            backend.id,
            before=before,
            after=backend_state(backend),
            **changes,
        )
        return backend

    async def remove(self, backend_id: UUID, actor: Actor) -> None:
        """Delete a backend from the registry."""
        backend = await self.get(backend_id)
        before = backend_state(backend)
        await self.delete(backend_id)
        record(
            self.repository.session, actor, "backend.delete", "backend", backend_id, before=before, name=backend.name
        )


def check_output_allowance(default_max_tokens: int | None, max_model_len: int | None) -> None:
    """A default output allowance must leave room for a prompt in the model's context window."""
    if default_max_tokens is None:
        return
    if isinstance(default_max_tokens, bool) or not isinstance(default_max_tokens, int) or default_max_tokens < 1:
        raise HubError("default_max_tokens must be a positive whole number or null", param="default_max_tokens")
    if max_model_len is not None and default_max_tokens >= max_model_len:
        raise HubError(
            f"default_max_tokens={default_max_tokens} leaves no room for a prompt in the context window "
            f"of {max_model_len} tokens",
            param="default_max_tokens",
        )


class ModelService(SQLAlchemyAsyncRepositoryService[Model]):
    """Publishes models under aliases and grants them to tenants."""

    class Repo(SQLAlchemyAsyncRepository[Model]):
        """Model repository."""

        model_type = Model

    repository_type = Repo

    async def publish(self, data: ModelCreate, actor: Actor) -> Model:
        """Create a model alias."""
        if await self.exists(name=data.name):
            raise HubError(f"A model named {data.name!r} exists already", status_code=409, param="name")
        check_output_allowance(data.default_max_tokens, data.max_model_len)
        model = await self.create(
            Model(
                name=data.name,
                upstream_name=data.upstream_name or data.name,
                kind=data.kind.value,
                max_model_len=data.max_model_len,
                default_max_tokens=data.default_max_tokens,
                visibility=data.visibility.value,
                owned_by=data.owned_by,
                description=data.description,
                enabled=data.enabled,
            )
        )
        record(
            self.repository.session,
            actor,
            "model.create",
            "model",
            model.id,
            after=snapshot(model, MODEL_AUDIT),
            name=model.name,
            upstream_name=model.upstream_name,
            kind=model.kind,
            visibility=model.visibility,
            default_max_tokens=model.default_max_tokens,
        )
        return model

    async def update_model(self, model_id: UUID, data: ModelUpdate, actor: Actor) -> Model:
        """Change a model."""
        model = await self.get(model_id)
        before = snapshot(model, MODEL_AUDIT)
        changes = set_fields(data)
        if "default_max_tokens" in changes or "max_model_len" in changes:
            check_output_allowance(
                changes.get("default_max_tokens", model.default_max_tokens),
                changes.get("max_model_len", model.max_model_len),
            )
        for field, value in changes.items():
            setattr(model, field, getattr(value, "value", value))
        model = await self.update(model)
        record(
            self.repository.session,
            actor,
            "model.update",
            "model",
            model.id,
            before=before,
            after=snapshot(model, MODEL_AUDIT),
            **changes,
        )
        return model

    async def remove(self, model_id: UUID, actor: Actor) -> None:
        """Delete a model alias and its grants."""
        model = await self.get(model_id)
        before = snapshot(model, MODEL_AUDIT)
        await self.delete(model_id)
        record(self.repository.session, actor, "model.delete", "model", model_id, before=before, name=model.name)

    async def get_by_name(self, name: str) -> Model:
        """Find a model by its alias."""
        model = await self.get_one_or_none(name=name)
        if model is None:
            raise HubError(f"No model named {name!r}", status_code=404, code="model_not_found")
        return model

    async def grant(self, model_id: UUID, tenant_id: UUID, actor: Actor) -> None:
        """Let a tenant use a model; granting twice changes nothing (and is audited, unchanged)."""
        session = self.repository.session
        model = await self.get(model_id)
        if await session.get(Tenant, tenant_id) is None:
            raise HubError("No such tenant", status_code=404, param="tenant_id")
        exists = await session.execute(
            select(ModelGrant.id).where(ModelGrant.model_id == model_id, ModelGrant.tenant_id == tenant_id)
        )
        granted = exists.first() is not None
        if not granted:
            session.add(ModelGrant(model_id=model_id, tenant_id=tenant_id))
            await session.flush()
        record(
            session,
            actor,
            "model.grant",
            "model",
            model.id,
            before=_grant_state(tenant_id, granted),
            after=_grant_state(tenant_id, True),
            tenant_id=tenant_id,
        )

    async def revoke_grant(self, model_id: UUID, tenant_id: UUID, actor: Actor) -> None:
        """Take a tenant's permission for a model away (taking a missing one is audited, unchanged)."""
        session = self.repository.session
        await self.get(model_id)
        result = await session.execute(
            delete(ModelGrant).where(ModelGrant.model_id == model_id, ModelGrant.tenant_id == tenant_id)
        )
        record(
            session,
            actor,
            "model.ungrant",
            "model",
            model_id,
            before=_grant_state(tenant_id, bool(result.rowcount)),
            after=_grant_state(tenant_id, False),
            tenant_id=tenant_id,
        )

    async def granted_tenants(self, model_ids: list[UUID]) -> dict[UUID, list[UUID]]:
        """Which tenants hold grants for each of ``model_ids``."""
        rows = await self.repository.session.execute(
            select(ModelGrant.model_id, ModelGrant.tenant_id).where(ModelGrant.model_id.in_(model_ids))
        )
        grants: dict[UUID, list[UUID]] = {mid: [] for mid in model_ids}
        for model_id, tenant_id in rows:
            grants[model_id].append(tenant_id)
        return grants
