"""Quota policies as operators set them; the gateway keeps the live counters (gateway.quotas)."""

from __future__ import annotations

from uuid import UUID

from advanced_alchemy.base import UUIDv7AuditBase
from sqlalchemy import BigInteger, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column


def scope_label(api_key_id: UUID | None, model: str | None) -> str:
    """What a policy is narrowed to: ``tenant``, ``key:<id>``, ``model:<alias>`` or ``key:<id>/model:<alias>``."""
    parts = []
    if api_key_id is not None:
        parts.append(f"key:{api_key_id}")
    if model is not None:
        parts.append(f"model:{model}")
    return "/".join(parts) or "tenant"


class QuotaPolicy(UUIDv7AuditBase):
    """Limits for a tenant, or for one of its keys, or for either on one model. ``None`` = unlimited.

    Every policy that matches a request applies; the request needs room in all of them.
    """

    __tablename__ = "quota_policy"
    __table_args__ = (UniqueConstraint("tenant_id", "scope", name="uq_quota_policy_tenant_scope"),)

    tenant_id: Mapped[UUID] = mapped_column(ForeignKey("tenant.id", ondelete="CASCADE"), index=True)
    api_key_id: Mapped[UUID | None] = mapped_column(ForeignKey("api_key.id", ondelete="CASCADE"), default=None)
    model: Mapped[str | None] = mapped_column(String(200), default=None)
    """Model alias the policy is narrowed to."""
    scope: Mapped[str] = mapped_column(String(300))
    """:func:`scope_label` of key and model; unique per tenant (NULLs would not be, in a unique index)."""
    requests_per_minute: Mapped[int | None] = mapped_column(Integer, default=None)
    tokens_per_minute: Mapped[int | None] = mapped_column(Integer, default=None)
    monthly_tokens: Mapped[int | None] = mapped_column(BigInteger, default=None)
    """Prompt plus completion tokens per calendar month (Europe/Berlin)."""
    max_concurrent: Mapped[int | None] = mapped_column(Integer, default=None)


def counter_name(tenant_id: UUID, scope: str) -> str:
    """The name of a policy's live counters in the quota store, e.g. ``tenant:<id>/model:llama``."""
    return f"tenant:{tenant_id}" if scope == "tenant" else f"tenant:{tenant_id}/{scope}"
