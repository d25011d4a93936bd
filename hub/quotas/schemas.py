"""Request and response shapes of the quota API (operators set policies, tenant admins read them)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

import msgspec
from msgspec import Meta

# The limits are checked in hub.quotas.services.check_limits rather than with Meta constraints, so a
# bad value is answered with the field's name in the error's ``param`` (API and CLI alike).
Limit = Annotated[int, Meta(description="A positive whole number; null or absent means unlimited")]
ModelAlias = Annotated[str, Meta(min_length=1, max_length=200)]


class QuotaPolicySet(msgspec.Struct, forbid_unknown_fields=True):
    """Create or replace the policy of one scope: the tenant, one of its keys, either narrowed to a model.

    Limits left out are unlimited: the body replaces the whole policy of its scope.
    """

    api_key_id: UUID | None = None
    model: ModelAlias | None = None
    requests_per_minute: Limit | None = None
    tokens_per_minute: Limit | None = None
    monthly_tokens: Annotated[Limit | None, Meta(description="Prompt plus completion tokens per month")] = None
    max_concurrent: Limit | None = None


class QuotaUsage(msgspec.Struct):
    """Live counters of a policy on this gateway replica."""

    requests_this_minute: int
    tokens_this_minute: int
    tokens_this_month: int
    concurrent: int


class QuotaRemaining(msgspec.Struct):
    """What a policy still admits; ``None`` where it sets no limit."""

    requests_this_minute: int | None
    tokens_this_minute: int | None
    tokens_this_month: int | None
    concurrent: int | None


class QuotaPolicyRead(msgspec.Struct):
    """A policy with its limits, the live usage and what remains."""

    id: UUID
    tenant_id: UUID
    scope: str
    api_key_id: UUID | None
    api_key_prefix: str | None
    model: str | None
    requests_per_minute: int | None
    tokens_per_minute: int | None
    monthly_tokens: int | None
    max_concurrent: int | None
    usage: QuotaUsage | None
    """``None`` when the quota counters (Redis) cannot be reached."""
    remaining: QuotaRemaining | None
    updated_at: datetime


class TenantQuotas(msgspec.Struct):
    """A tenant's policies, its fair-share weight and the month the monthly budgets count in."""

    tenant_id: UUID
    tenant_name: str
    weight: float
    month: Annotated[str, Meta(description="Calendar month of the monthly budgets (Europe/Berlin), YYYY-MM")]
    policies: list[QuotaPolicyRead]
