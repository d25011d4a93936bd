"""Figures of the operations view: usage against quota this month, backend health, recent errors.

Usage and monthly token budgets come from the usage ledger (its daily aggregates), so every replica
shows the same numbers. Per-minute and concurrency figures exist only in the gateway's live quota
counters, and backend health only in the gateway's monitor; both are read duck-typed from
``app.state.gateway`` because ``hub`` never imports ``gateway`` (see ARCHITECTURE.md, "Boundaries").
"""

from __future__ import annotations

import logging
from collections.abc import Sequence, Set
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from uuid import UUID

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.auth.principal import Principal
from hub.auth.roles import Role
from hub.backends.models import Model, ModelGrant, ModelVisibility
from hub.operations.schemas import (
    BackendHealth,
    ErrorEntry,
    LimitUse,
    ModelAvailability,
    ModelUse,
    OperationsOverview,
    PolicyUse,
    TenantUsage,
)
from hub.quotas.models import QuotaPolicy, counter_name
from hub.quotas.services import UsageCounters
from hub.tenants.models import ApiKey, Tenant
from hub.usage.models import UsageDaily, UsageRecord
from hub.usage.services import BERLIN, month_bounds, month_tokens

log = logging.getLogger("kiverbund.operations")

ERROR_WINDOW = timedelta(days=7)
"""How far back the list of recent errors looks. Bounded, because the ledger has no index on the
time alone: the operators' list across all tenants would otherwise sort the whole ledger."""
ERROR_LIMIT_DEFAULT = 50
ERROR_LIMIT_MAX = 200


# --- what the hub reads from the running gateway ------------------------------------------------


class BackendEntryView(Protocol):
    """The registry's view of a backend (``gateway.registry.BackendEntry``), as far as the hub reads it."""

    @property
    def id(self) -> UUID: ...
    @property
    def name(self) -> str: ...
    @property
    def base_url(self) -> str: ...
    @property
    def location(self) -> str: ...
    @property
    def served_models(self) -> Set[str]: ...
    @property
    def max_concurrency(self) -> int | None: ...


class BackendStateView(Protocol):
    """The live state of a backend (``gateway.routing.BackendState``), as far as the hub reads it."""

    @property
    def entry(self) -> BackendEntryView: ...
    @property
    def healthy(self) -> bool | None: ...
    @property
    def running(self) -> float: ...
    @property
    def waiting(self) -> float: ...
    @property
    def in_flight(self) -> int: ...
    @property
    def checked_at(self) -> datetime | None: ...
    @property
    def error(self) -> str | None: ...


def live_backend_states(app_state: Any) -> list[BackendStateView]:
    """The backends the gateway of this replica monitors, by name; empty when no gateway runs."""
    gateway = getattr(app_state, "gateway", None)
    monitor = getattr(gateway, "monitor", None)
    states = getattr(monitor, "states", None)
    if not states:
        return []
    return sorted(states.values(), key=lambda s: s.entry.name)


def live_quota_counters(app_state: Any) -> UsageCounters | None:
    """The gateway's live quota counters (in-process or Redis); ``None`` when no gateway runs."""
    return getattr(getattr(app_state, "gateway", None), "quotas", None)


async def flush_ledger(app_state: Any) -> None:
    """Write the gateway's queued ledger rows, so the figures include the requests that just finished."""
    ledger = getattr(app_state, "ledger", None)
    if ledger is not None:
        await ledger.flush()


# --- who sees what ----------------------------------------------------------------------------


def visible_tenant(principal: Principal) -> UUID | None:
    """``None`` for operators (every tenant), otherwise the caller's own tenant."""
    return None if Role.OPERATOR in principal.roles else principal.tenant_id


# --- figures ----------------------------------------------------------------------------------


def share(used: int | None, limit: int | None) -> float | None:
    """``used`` as a percentage of ``limit`` with one decimal; ``None`` without a limit or a figure."""
    if used is None or limit is None or limit <= 0:
        return None
    return round(100.0 * used / limit, 1)


def _limit(limit: int | None, used: int | None) -> LimitUse:
    return LimitUse(limit=limit, used=used, percent=share(used, limit))


@dataclass(slots=True)
class _Totals:
    requests: int = 0
    errors: int = 0
    prompt: int = 0
    completion: int = 0
    by_model: dict[str, list[int]] = field(default_factory=dict)


async def _month_totals(session: AsyncSession, month: str, tenant_id: UUID | None) -> dict[UUID, _Totals]:
    first, last = month_bounds(month)
    stmt = (
        select(
            UsageDaily.tenant_id,
            UsageDaily.model,
            func.sum(UsageDaily.requests),
            func.sum(UsageDaily.errors),
            func.sum(UsageDaily.prompt_tokens),
            func.sum(UsageDaily.completion_tokens),
        )
        .where(UsageDaily.day >= first, UsageDaily.day <= last)
        .group_by(UsageDaily.tenant_id, UsageDaily.model)
    )
    if tenant_id is not None:
        stmt = stmt.where(UsageDaily.tenant_id == tenant_id)
    totals: dict[UUID, _Totals] = {}
    for tenant, model, requests, errors, prompt, completion in await session.execute(stmt):
        t = totals.setdefault(tenant, _Totals())
        figures = [int(requests), int(errors), int(prompt), int(completion)]
        t.requests += figures[0]
        t.errors += figures[1]
        t.prompt += figures[2]
        t.completion += figures[3]
        t.by_model[model] = figures
    return totals


async def _live_usage(counters: UsageCounters | None, tenant_id: UUID, scope: str) -> dict[str, int] | None:
    if counters is None:
        return None
    try:
        return await counters.usage(counter_name(tenant_id, scope))
    except Exception:
        # The shared counters (Redis) are down: the ledger's figures are still worth showing.
        log.warning("quota counters unavailable for tenant %s scope %s", tenant_id, scope, exc_info=True)
        return None


async def _policy_use(
    session: AsyncSession,
    policy: QuotaPolicy,
    month: str,
    totals: _Totals,
    prefixes: dict[UUID, str],
    counters: UsageCounters | None,
) -> PolicyUse:
    if policy.api_key_id is not None:
        # Key-scoped budgets need the rows: the daily aggregates are per tenant and model only.
        month_used: int | None = await month_tokens(
            session, policy.tenant_id, month, api_key_id=policy.api_key_id, model=policy.model
        )
    elif policy.model is not None:
        figures = totals.by_model.get(policy.model)
        month_used = figures[2] + figures[3] if figures else 0
    else:
        month_used = totals.prompt + totals.completion
    live = await _live_usage(counters, policy.tenant_id, policy.scope)

    def live_value(name: str) -> int | None:
        return None if live is None else int(live.get(name, 0))

    return PolicyUse(
        scope=policy.scope,
        api_key_prefix=prefixes.get(policy.api_key_id) if policy.api_key_id else None,
        model=policy.model,
        monthly_tokens=_limit(policy.monthly_tokens, month_used),
        requests_per_minute=_limit(policy.requests_per_minute, live_value("requests_this_minute")),
        tokens_per_minute=_limit(policy.tokens_per_minute, live_value("tokens_this_minute")),
        max_concurrent=_limit(policy.max_concurrent, live_value("concurrent")),
    )


async def tenant_usage(
    session: AsyncSession, month: str, *, tenant_id: UUID | None = None, counters: UsageCounters | None = None
) -> list[TenantUsage]:
    """Each tenant's (or only ``tenant_id``'s) requests, errors and tokens in ``month`` (``YYYY-MM``,
    Europe/Berlin) with its quota policies and how much of each limit is used, by tenant name."""
    tenants_stmt = select(Tenant).order_by(Tenant.name)
    policies_stmt = select(QuotaPolicy).order_by(QuotaPolicy.scope)
    if tenant_id is not None:
        tenants_stmt = tenants_stmt.where(Tenant.id == tenant_id)
        policies_stmt = policies_stmt.where(QuotaPolicy.tenant_id == tenant_id)
    tenants = list((await session.execute(tenants_stmt)).scalars())
    policies: dict[UUID, list[QuotaPolicy]] = {}
    for policy in (await session.execute(policies_stmt)).scalars():
        policies.setdefault(policy.tenant_id, []).append(policy)
    key_ids = [p.api_key_id for ps in policies.values() for p in ps if p.api_key_id is not None]
    prefixes: dict[UUID, str] = {}
    if key_ids:
        rows = await session.execute(select(ApiKey.id, ApiKey.prefix).where(ApiKey.id.in_(key_ids)))
        prefixes = dict(rows.tuples().all())
    totals = await _month_totals(session, month, tenant_id)

    result = []
    for tenant in tenants:
        t = totals.get(tenant.id, _Totals())
        uses = [await _policy_use(session, p, month, t, prefixes, counters) for p in policies.get(tenant.id, [])]
        tenant_wide = next((u for u in uses if u.scope == "tenant"), None)
        monthly = tenant_wide.monthly_tokens if tenant_wide else _limit(None, None)
        result.append(
            TenantUsage(
                tenant_id=tenant.id,
                tenant_name=tenant.name,
                kind=tenant.kind,
                enabled=tenant.enabled,
                requests=t.requests,
                errors=t.errors,
                prompt_tokens=t.prompt,
                completion_tokens=t.completion,
                total_tokens=t.prompt + t.completion,
                monthly_tokens_limit=monthly.limit,
                monthly_tokens_percent=monthly.percent,
                policies=uses,
                by_model=[
                    ModelUse(model=m, requests=f[0], errors=f[1], prompt_tokens=f[2], completion_tokens=f[3])
                    for m, f in sorted(t.by_model.items())
                ],
            )
        )
    return result


async def recent_errors(
    session: AsyncSession, *, since: datetime, tenant_id: UUID | None = None, limit: int = ERROR_LIMIT_DEFAULT
) -> list[ErrorEntry]:
    """Ledger rows whose status is not ``ok`` since ``since`` (of ``tenant_id`` only, if given), newest first."""
    stmt = (
        select(
            UsageRecord.created_at,
            UsageRecord.tenant_id,
            Tenant.name,
            UsageRecord.model,
            UsageRecord.endpoint,
            UsageRecord.status,
            UsageRecord.http_status,
            UsageRecord.error_code,
            UsageRecord.request_id,
        )
        .outerjoin(Tenant, Tenant.id == UsageRecord.tenant_id)
        .where(UsageRecord.status != "ok", UsageRecord.created_at >= since)
        .order_by(UsageRecord.created_at.desc(), UsageRecord.id.desc())
        .limit(limit)
    )
    if tenant_id is not None:
        stmt = stmt.where(UsageRecord.tenant_id == tenant_id)
    return [
        ErrorEntry(
            created_at=created_at,
            tenant_id=tenant,
            tenant_name=name,
            model=model,
            endpoint=endpoint,
            status=status,
            http_status=http_status,
            error_code=error_code,
            request_id=request_id,
        )
        for created_at, tenant, name, model, endpoint, status, http_status, error_code, request_id in (
            await session.execute(stmt)
        )
    ]


def backend_health(states: Sequence[BackendStateView]) -> list[BackendHealth]:
    """A snapshot of the live backend states (for operators: it names internal URLs)."""
    return [
        BackendHealth(
            id=s.entry.id,
            name=s.entry.name,
            base_url=s.entry.base_url,
            location=s.entry.location,
            models=sorted(s.entry.served_models),
            state="unchecked" if s.healthy is None else "healthy" if s.healthy else "unhealthy",
            error=s.error,
            running=s.running,
            waiting=s.waiting,
            in_flight=s.in_flight,
            max_concurrency=s.entry.max_concurrency,
            checked_at=s.checked_at,
        )
        for s in states
    ]


async def model_availability(
    session: AsyncSession, states: Sequence[BackendStateView], *, tenant_id: UUID | None = None
) -> list[ModelAvailability]:
    """The enabled models (those ``tenant_id`` may use, if given) and whether a backend takes requests for them.

    A backend counts unless its last check failed: the gateway also tries a backend it has not checked
    yet, so "available" means the same here as on the request path.
    """
    stmt = select(Model.name, Model.kind, Model.upstream_name).where(Model.enabled.is_(True)).order_by(Model.name)
    if tenant_id is not None:
        granted = select(ModelGrant.model_id).where(ModelGrant.tenant_id == tenant_id)
        stmt = stmt.where(or_(Model.visibility == ModelVisibility.ALL.value, Model.id.in_(granted)))
    serving = {name for s in states if s.healthy is not False for name in s.entry.served_models}
    return [
        ModelAvailability(model=name, kind=kind, available=upstream in serving)
        for name, kind, upstream in await session.execute(stmt)
    ]


async def operations_overview(
    session: AsyncSession,
    *,
    tenant_id: UUID | None,
    states: Sequence[BackendStateView] = (),
    counters: UsageCounters | None = None,
    error_limit: int = ERROR_LIMIT_DEFAULT,
    now: datetime | None = None,
) -> OperationsOverview:
    """The operations view: every tenant (``tenant_id=None``, operators) or one tenant (its admins).

    A tenant's view leaves out the backends (names, URLs and load of shared infrastructure) and says
    only whether its models are available.
    """
    now = now or datetime.now(UTC)
    month = now.astimezone(BERLIN).strftime("%Y-%m")
    since = now - ERROR_WINDOW
    return OperationsOverview(
        scope="all" if tenant_id is None else "tenant",
        month=month,
        generated_at=now,
        tenants=await tenant_usage(session, month, tenant_id=tenant_id, counters=counters),
        models=await model_availability(session, states, tenant_id=tenant_id),
        backends=backend_health(states) if tenant_id is None else None,
        errors_since=since,
        errors=await recent_errors(session, since=since, tenant_id=tenant_id, limit=error_limit),
    )
