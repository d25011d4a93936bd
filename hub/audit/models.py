"""The audit trail of administrative actions."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from advanced_alchemy.base import UUIDv7AuditBase
from advanced_alchemy.types import JsonB
from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column


class AuditEvent(UUIDv7AuditBase):
    """Who did what to which object, and when (``created_at``). Never holds secrets."""

    __tablename__ = "audit_event"

    actor: Mapped[str] = mapped_column(String(200))
    """``key:<prefix>`` for API keys, ``cli:<os user>`` for the command line."""
    actor_tenant_id: Mapped[UUID | None] = mapped_column(default=None)
    action: Mapped[str] = mapped_column(String(100), index=True)
    target_type: Mapped[str] = mapped_column(String(50))
    target_id: Mapped[str] = mapped_column(String(100), default="")
    details: Mapped[dict[str, Any]] = mapped_column(JsonB, default=dict)
