"""Tenant and API key management. Every change writes an audit event in the same transaction."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from advanced_alchemy.exceptions import NotFoundError
from advanced_alchemy.repository import SQLAlchemyAsyncRepository
from advanced_alchemy.service import SQLAlchemyAsyncRepositoryService
from sqlalchemy import select

from hub.audit.services import Actor, record, snapshot
from hub.errors import HubError
from hub.structs import set_fields
from hub.tenants.keys import NewKeySecret, generate_key
from hub.tenants.models import ApiKey, KeyRole, Tenant, TenantKind
from hub.tenants.schemas import KeyCreate, TenantCreate, TenantUpdate

TENANT_AUDIT = ("name", "kind", "ags", "state", "enabled", "weight", "org_alias")
"""A tenant's fields in the audit trail's before/after snapshots."""
KEY_AUDIT = ("tenant_id", "label", "prefix", "role", "use_case", "expires_at", "revoked_at")
"""An API key's fields in the snapshots: never its secret or hash."""


class TenantService(SQLAlchemyAsyncRepositoryService[Tenant]):
    """Creates, changes and lists tenants."""

    class Repo(SQLAlchemyAsyncRepository[Tenant]):
        """Tenant repository."""

        model_type = Tenant

    repository_type = Repo

    async def create_tenant(self, data: TenantCreate, actor: Actor) -> Tenant:
        """Create a tenant; a municipality must have an AGS, the state must not."""
        if data.kind is TenantKind.MUNICIPALITY and data.ags is None:
            raise HubError("A municipality needs its 8-digit Amtlicher Gemeindeschlüssel", param="ags")
        if data.kind is TenantKind.STATE and data.ags is not None:
            raise HubError("The state tenant has no Gemeindeschlüssel", param="ags")
        if await self.exists(name=data.name):
            raise HubError(f"A tenant named {data.name!r} exists already", status_code=409, param="name")
        if data.ags is not None and await self.exists(ags=data.ags):
            raise HubError(f"A tenant with AGS {data.ags} exists already", status_code=409, param="ags")
        await self._check_alias_free(data.org_alias)
        tenant = await self.create(
            Tenant(
                name=data.name,
                kind=data.kind.value,
                ags=data.ags,
                state=data.state,
                enabled=True,
                org_alias=data.org_alias,
            )
        )
        record(
            self.repository.session,
            actor,
            "tenant.create",
            "tenant",
            tenant.id,
            after=snapshot(tenant, TENANT_AUDIT),
            name=tenant.name,
        )
        return tenant

    async def update_tenant(self, tenant_id: UUID, data: TenantUpdate, actor: Actor) -> Tenant:
        """Change a tenant's name, state or enabled flag."""
        tenant = await self.get(tenant_id)
        changes = set_fields(data)
        if "name" in changes and changes["name"] != tenant.name and await self.exists(name=changes["name"]):
            raise HubError(f"A tenant named {changes['name']!r} exists already", status_code=409, param="name")
        if changes.get("org_alias") not in (None, tenant.org_alias):
            await self._check_alias_free(changes["org_alias"])
        before = snapshot(tenant, TENANT_AUDIT)
        for field, value in changes.items():
            setattr(tenant, field, value)
        tenant = await self.update(tenant)
        record(
            self.repository.session,
            actor,
            "tenant.update",
            "tenant",
            tenant.id,
            before=before,
            after=snapshot(tenant, TENANT_AUDIT),
            **changes,
        )
        return tenant

    async def _check_alias_free(self, alias: str | None) -> None:
        if alias is not None and await self.exists(org_alias=alias):
            raise HubError(f"Another tenant has the organization alias {alias!r}", status_code=409, param="org_alias")

    async def get_by_name(self, name: str) -> Tenant:
        """Find a tenant by its unique name."""
        tenant = await self.get_one_or_none(name=name)
        if tenant is None:
            raise NotFoundError(f"No tenant named {name!r}")
        return tenant


class ApiKeyService(SQLAlchemyAsyncRepositoryService[ApiKey]):
    """Issues, lists and revokes API keys."""

    class Repo(SQLAlchemyAsyncRepository[ApiKey]):
        """API key repository."""

        model_type = ApiKey

    repository_type = Repo

    async def issue(self, tenant: Tenant, data: KeyCreate, actor: Actor) -> tuple[ApiKey, NewKeySecret]:
        """Issue a key; the returned secret must be shown to the caller once and then forgotten."""
        if data.role is KeyRole.OPERATOR and tenant.kind != TenantKind.STATE.value:
            raise HubError("Operator keys can only belong to the state tenant", param="role")
        if data.expires_at is not None:
            expires_at = data.expires_at if data.expires_at.tzinfo else data.expires_at.replace(tzinfo=UTC)
            if expires_at <= datetime.now(UTC):
                raise HubError("expires_at lies in the past", param="expires_at")
        else:
            expires_at = None
        new = generate_key()
        key = await self.create(
            ApiKey(
                tenant_id=tenant.id,
                label=data.label,
                prefix=new.prefix,
                key_hash=new.key_hash,
                role=data.role.value,
                use_case=data.use_case,
                expires_at=expires_at,
            )
        )
        record(
            self.repository.session,
            actor,
            "key.issue",
            "api_key",
            key.id,
            after=snapshot(key, KEY_AUDIT),
            tenant_id=tenant.id,
            prefix=key.prefix,
            role=key.role,
            label=key.label,
            use_case=key.use_case,
            expires_at=expires_at,
        )
        return key, new

    async def revoke(self, key_id: UUID, actor: Actor) -> ApiKey:
        """Revoke a key; revoking twice keeps the first revocation time (and is audited, unchanged)."""
        key = await self.get(key_id)
        before = snapshot(key, KEY_AUDIT)
        if key.revoked_at is None:
            key.revoked_at = datetime.now(UTC)
            key = await self.update(key)
        record(
            self.repository.session,
            actor,
            "key.revoke",
            "api_key",
            key.id,
            before=before,
            after=snapshot(key, KEY_AUDIT),
            tenant_id=key.tenant_id,
            prefix=key.prefix,
        )
        return key

    async def get_by_prefix(self, prefix: str) -> ApiKey:
        """Find a key by its visible prefix."""
        key = (
            await self.repository.session.execute(select(ApiKey).where(ApiKey.prefix == prefix))
        ).scalar_one_or_none()
        if key is None:
            raise NotFoundError(f"No key with prefix {prefix!r}")
        return key
