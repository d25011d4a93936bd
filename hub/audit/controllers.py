"""Admin API: reading the audit trail (operators only)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

import msgspec
from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from hub.audit.services import list_events
from hub.auth.guards import operator_only


class AuditEventRead(msgspec.Struct):
    """One audit event."""

    id: UUID
    created_at: datetime
    actor: str
    actor_tenant_id: UUID | None
    action: str
    target_type: str
    target_id: str
    details: dict[str, Any]


class AuditController(Controller):
    """Who did what, when."""

    path = "/api/admin/audit"
    guards = [operator_only]
    tags = ["Admin: audit and chargeback"]

    @get("/", operation_id="ListAuditEvents")
    async def list_audit(
        self,
        db_session: NamedDependency[AsyncSession],
        limit: Annotated[int, Parameter(ge=1, le=1000)] = 100,
        action: Annotated[str | None, Parameter(max_length=100)] = None,
        target_id: Annotated[str | None, Parameter(max_length=100)] = None,
    ) -> list[AuditEventRead]:
        """The newest events first."""
        events = await list_events(db_session, limit=limit, action=action, target_id=target_id)
        return [msgspec.convert(e, AuditEventRead, from_attributes=True) for e in events]
