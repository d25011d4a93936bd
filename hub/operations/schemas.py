"""Response shapes of the operations view (``GET /api/operations`` and the ``/betrieb`` page)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

import msgspec
from msgspec import Meta


class LimitUse(msgspec.Struct):
    """One limit of a quota policy and how much of it is used."""

    limit: int | None
    """``None``: the policy sets no such limit."""
    used: int | None
    """``None`` when it cannot be known (the live counters are unreachable)."""
    percent: float | None
    """``used`` as a share of ``limit`` in percent, one decimal; ``None`` without a limit or a figure."""


class PolicyUse(msgspec.Struct):
    """A quota policy of the tenant with each of its limits and the use against it."""

    scope: Annotated[str, Meta(description="tenant, key:<id>, model:<alias> or key:<id>/model:<alias>")]
    api_key_prefix: str | None
    model: str | None
    monthly_tokens: Annotated[LimitUse, Meta(description="Tokens this month, from the usage ledger")]
    requests_per_minute: Annotated[LimitUse, Meta(description="Requests in the current minute (live counters)")]
    tokens_per_minute: Annotated[LimitUse, Meta(description="Tokens in the current minute (live counters)")]
    max_concurrent: Annotated[LimitUse, Meta(description="Requests running now (live counters)")]


class ModelUse(msgspec.Struct):
    """A tenant's use of one model this month."""

    model: str
    requests: int
    errors: int
    prompt_tokens: int
    completion_tokens: int


class TenantUsage(msgspec.Struct):
    """A tenant's usage this month (Europe/Berlin) against its quota policies."""

    tenant_id: UUID
    tenant_name: str
    kind: str
    enabled: bool
    requests: int
    errors: Annotated[int, Meta(description="Requests whose ledger status is not ok")]
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    monthly_tokens_limit: Annotated[int | None, Meta(description="Monthly tokens of the tenant-wide policy")]
    monthly_tokens_percent: float | None
    policies: list[PolicyUse]
    by_model: list[ModelUse]


class BackendHealth(msgspec.Struct):
    """A backend as this gateway replica sees it now (operators only)."""

    id: UUID
    name: str
    base_url: str
    location: str
    models: list[str]
    state: Literal["healthy", "unhealthy", "unchecked"]
    error: str | None
    """Why the last check failed."""
    running: float
    """Requests the engine reports running (all replicas)."""
    waiting: float
    """Requests waiting in the engine's own queue."""
    in_flight: int
    """Requests this replica has sent and not finished."""
    max_concurrency: int | None
    checked_at: datetime | None


class ModelAvailability(msgspec.Struct):
    """Whether a model the viewer may use has a backend that takes requests now."""

    model: str
    kind: str
    available: bool


class ErrorEntry(msgspec.Struct):
    """A failed request from the usage ledger (there is no prompt or completion text in it)."""

    created_at: datetime
    tenant_id: UUID
    tenant_name: str | None
    model: str | None
    endpoint: str
    status: Annotated[str, Meta(description="client_error, upstream_error, unavailable or client_disconnected")]
    http_status: int
    error_code: str | None
    request_id: str


class OperationsOverview(msgspec.Struct):
    """Everything the operations page shows, scoped to what the caller may see."""

    scope: Annotated[Literal["all", "tenant"], Meta(description="all tenants (operators) or the caller's own")]
    month: Annotated[str, Meta(description="Calendar month of the figures (Europe/Berlin), YYYY-MM")]
    generated_at: datetime
    tenants: list[TenantUsage]
    models: list[ModelAvailability]
    backends: Annotated[
        list[BackendHealth] | None, Meta(description="Operators only; null for tenant admins (see models)")
    ]
    errors_since: datetime
    errors: Annotated[list[ErrorEntry], Meta(description="Newest first")]
