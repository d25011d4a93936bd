"""Setting, removing and reading quota policies; shared by the admin API and the CLI.

Every write is audited in the same transaction. The gateway enforces the policies from its registry
snapshot, which the API refreshes at once (``REGISTRY_CHANGED``) and the CLI within the registry's
refresh interval.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

from advanced_alchemy.repository import SQLAlchemyAsyncRepository
from advanced_alchemy.service import SQLAlchemyAsyncRepositoryService
from sqlalchemy import select

from hub.audit.services import Actor, record, snapshot
from hub.backends.models import Model
from hub.errors import HubError
from hub.quotas.models import QuotaPolicy, counter_name, scope_label
from hub.quotas.schemas import QuotaPolicyRead, QuotaPolicySet, QuotaRemaining, QuotaUsage, TenantQuotas
from hub.tenants.models import ApiKey, Tenant
from hub.usage.services import BERLIN

log = logging.getLogger("kiverbund.quotas")

LIMIT_FIELDS = ("requests_per_minute", "tokens_per_minute", "monthly_tokens", "max_concurrent")
QUOTA_AUDIT = ("tenant_id", "scope", "api_key_id", "model", *LIMIT_FIELDS)
"""A policy's fields in the audit trail's before/after snapshots."""
_INT32_MAX = 2**31 - 1
_LIMIT_MAX = {
    "requests_per_minute": _INT32_MAX,
    "tokens_per_minute": _INT32_MAX,
    "monthly_tokens": 2**63 - 1,
    "max_concurrent": _INT32_MAX,
}


class UsageCounters(Protocol):
    """The read side of the gateway's quota store (``gateway.quotas.QuotaStore``); ``hub`` never imports it."""

    async def usage(self, scope_name: str) -> dict[str, int]:
        """``requests_this_minute``, ``tokens_this_minute``, ``tokens_this_month``, ``concurrent``."""
        ...


def current_month() -> str:
    """The calendar month the monthly budgets count in (Europe/Berlin), ``YYYY-MM``."""
    return datetime.now(BERLIN).strftime("%Y-%m")


def check_limits(data: QuotaPolicySet) -> dict[str, int | None]:
    """The policy's limits, each a positive whole number or ``None``; at least one must be set."""
    limits: dict[str, int | None] = {}
    for name in LIMIT_FIELDS:
        value = getattr(data, name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise HubError(f"{name} must be a positive whole number or null (unlimited)", param=name)
        if value is not None and value > _LIMIT_MAX[name]:
            raise HubError(f"{name} must be at most {_LIMIT_MAX[name]}", param=name)
        limits[name] = value
    if all(v is None for v in limits.values()):
        raise HubError(
            "A policy needs at least one limit (requests_per_minute, tokens_per_minute, monthly_tokens or "
            "max_concurrent); to lift all limits of a scope, delete its policy"
        )
    return limits


def policy_limits(policy: QuotaPolicy) -> dict[str, int | None]:
    """The four limits of a policy (``None`` = unlimited)."""
    return {name: getattr(policy, name) for name in LIMIT_FIELDS}


def _remaining(limit: int | None, used: int) -> int | None:
    return None if limit is None else max(0, limit - used)


class QuotaPolicyService(SQLAlchemyAsyncRepositoryService[QuotaPolicy]):
    """Creates, replaces, removes and lists a tenant's quota policies."""

    class Repo(SQLAlchemyAsyncRepository[QuotaPolicy]):
        """Quota policy repository."""

        model_type = QuotaPolicy

    repository_type = Repo

    async def tenant(self, tenant_id: UUID) -> Tenant:
        """The tenant, or 404."""
        tenant = await self.repository.session.get(Tenant, tenant_id)
        if tenant is None:
            raise HubError("No such tenant", status_code=404, param="tenant_id")
        return tenant

    async def key_of_tenant(self, tenant_id: UUID, prefix: str) -> ApiKey:
        """A key of the tenant by its visible prefix (what operators see in ``key list``)."""
        key = (
            await self.repository.session.execute(
                select(ApiKey).where(ApiKey.tenant_id == tenant_id, ApiKey.prefix == prefix)
            )
        ).scalar_one_or_none()
        if key is None:
            raise HubError(f"The tenant has no key with prefix {prefix!r}", status_code=404, param="key_prefix")
        return key

    async def policies_of(self, tenant_id: UUID) -> list[QuotaPolicy]:
        """A tenant's policies, by scope."""
        return list(await self.get_many(QuotaPolicy.tenant_id == tenant_id, order_by=[QuotaPolicy.scope.asc()]))

    async def set_policy(self, tenant_id: UUID, data: QuotaPolicySet, actor: Actor) -> QuotaPolicy:
        """Create the policy of the scope ``data`` names, or replace its limits (all of them)."""
        session = self.repository.session
        await self.tenant(tenant_id)
        limits = check_limits(data)
        if data.api_key_id is not None:
            key = await session.get(ApiKey, data.api_key_id)
            if key is None or key.tenant_id != tenant_id:
                raise HubError("The API key does not belong to this tenant", param="api_key_id")
        if data.model is not None:
            found = await session.execute(select(Model.id).where(Model.name == data.model))
            if found.first() is None:
                raise HubError(f"No model named {data.model!r}", param="model", code="model_not_found")
        scope = scope_label(data.api_key_id, data.model)
        policy = await self.get_one_or_none(tenant_id=tenant_id, scope=scope)
        replaced = policy is not None
        before = snapshot(policy, QUOTA_AUDIT)
        if policy is None:
            policy = await self.create(
                QuotaPolicy(tenant_id=tenant_id, api_key_id=data.api_key_id, model=data.model, scope=scope, **limits)
            )
        else:
            for name, value in limits.items():
                setattr(policy, name, value)
            policy = await self.update(policy)
        record(
            session,
            actor,
            "quota.set",
            "quota_policy",
            policy.id,
            before=before,
            after=snapshot(policy, QUOTA_AUDIT),
            tenant_id=tenant_id,
            scope=scope,
            replaced=replaced,
            **limits,
        )
        return policy

    async def delete_policy(self, tenant_id: UUID, api_key_id: UUID | None, model: str | None, actor: Actor) -> None:
        """Remove the policy of one scope; the scope is then unlimited (other policies still apply)."""
        await self.tenant(tenant_id)
        scope = scope_label(api_key_id, model)
        policy = await self.get_one_or_none(tenant_id=tenant_id, scope=scope)
        if policy is None:
            raise HubError(f"The tenant has no quota policy for scope {scope!r}", status_code=404)
        limits = policy_limits(policy)
        before = snapshot(policy, QUOTA_AUDIT)
        await self.delete(policy.id)
        record(
            self.repository.session,
            actor,
            "quota.delete",
            "quota_policy",
            policy.id,
            before=before,
            tenant_id=tenant_id,
            scope=scope,
            **limits,
        )

    async def key_prefixes(self, tenant_id: UUID) -> dict[UUID, str]:
        """Visible prefixes of the tenant's keys, to show next to key-scoped policies."""
        rows = await self.repository.session.execute(
            select(ApiKey.id, ApiKey.prefix).where(ApiKey.tenant_id == tenant_id)
        )
        return dict(rows.tuples().all())

    async def policy_read(
        self, policy: QuotaPolicy, quotas: UsageCounters, prefixes: dict[UUID, str]
    ) -> QuotaPolicyRead:
        """A policy with the live counters of ``quotas`` and what remains."""
        try:
            used = await quotas.usage(counter_name(policy.tenant_id, policy.scope))
        except Exception:
            # The shared counters (Redis) are down: the policy is still worth showing, without figures.
            log.warning("quota counters unavailable for %s", policy.scope, exc_info=True)
            used = None
        if used is None:
            return self._read(policy, prefixes, None, None)
        usage = QuotaUsage(
            requests_this_minute=int(used.get("requests_this_minute", 0)),
            tokens_this_minute=int(used.get("tokens_this_minute", 0)),
            tokens_this_month=int(used.get("tokens_this_month", 0)),
            concurrent=int(used.get("concurrent", 0)),
        )
        remaining = QuotaRemaining(
            requests_this_minute=_remaining(policy.requests_per_minute, usage.requests_this_minute),
            tokens_this_minute=_remaining(policy.tokens_per_minute, usage.tokens_this_minute),
            tokens_this_month=_remaining(policy.monthly_tokens, usage.tokens_this_month),
            concurrent=_remaining(policy.max_concurrent, usage.concurrent),
        )
        return self._read(policy, prefixes, usage, remaining)

    @staticmethod
    def _read(
        policy: QuotaPolicy,
        prefixes: dict[UUID, str],
        usage: QuotaUsage | None,
        remaining: QuotaRemaining | None,
    ) -> QuotaPolicyRead:
        return QuotaPolicyRead(
            id=policy.id,
            tenant_id=policy.tenant_id,
            scope=policy.scope,
            api_key_id=policy.api_key_id,
            api_key_prefix=prefixes.get(policy.api_key_id) if policy.api_key_id else None,
            model=policy.model,
            requests_per_minute=policy.requests_per_minute,
            tokens_per_minute=policy.tokens_per_minute,
            monthly_tokens=policy.monthly_tokens,
            max_concurrent=policy.max_concurrent,
            usage=usage,
            remaining=remaining,
            updated_at=policy.updated_at,
        )

    async def overview(self, tenant_id: UUID, quotas: UsageCounters) -> TenantQuotas:
        """A tenant's policies with live usage, its weight and the current month."""
        tenant = await self.tenant(tenant_id)
        prefixes = await self.key_prefixes(tenant_id)
        return TenantQuotas(
            tenant_id=tenant.id,
            tenant_name=tenant.name,
            weight=tenant.weight,
            month=current_month(),
            policies=[await self.policy_read(p, quotas, prefixes) for p in await self.policies_of(tenant_id)],
        )


def policy_summary(policy: QuotaPolicy, prefixes: dict[UUID, str]) -> dict[str, Any]:
    """A policy's scope and limits as plain data (the CLI's view: live counters live in the server)."""
    return {
        "scope": policy.scope,
        "key_prefix": prefixes.get(policy.api_key_id) if policy.api_key_id else None,
        "model": policy.model,
        **policy_limits(policy),
    }
