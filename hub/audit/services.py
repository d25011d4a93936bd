"""Writing and reading the audit trail."""

from __future__ import annotations

import getpass
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.audit.models import AuditEvent
from hub.auth.principal import Principal


@dataclass(frozen=True, slots=True)
class Actor:
    """Who performs an administrative action."""

    name: str
    tenant_id: UUID | None = None

    @classmethod
    def of(cls, principal: Principal) -> Actor:
        """The actor behind an authenticated request."""
        return cls(name=principal.actor, tenant_id=principal.tenant_id)

    @classmethod
    def cli(cls) -> Actor:
        """The operating-system user running the ``kiverbund`` command."""
        try:
            user = getpass.getuser()
        except (KeyError, OSError):
            user = "unknown"
        return cls(name=f"cli:{user}")


def record(
    session: AsyncSession,
    actor: Actor,
    action: str,
    target_type: str,
    target_id: object = "",
    **details: Any,
) -> AuditEvent:
    """Add an audit event to the session, so it commits (or rolls back) with the action itself."""
    event = AuditEvent(
        actor=actor.name,
        actor_tenant_id=actor.tenant_id,
        action=action,
        target_type=target_type,
        target_id=str(target_id),
        details={k: _jsonable(v) for k, v in details.items()},
    )
    session.add(event)
    return event


async def list_events(
    session: AsyncSession, *, limit: int = 100, action: str | None = None, target_id: str | None = None
) -> list[AuditEvent]:
    """The newest audit events first, optionally filtered."""
    stmt = select(AuditEvent).order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc()).limit(limit)
    if action:
        stmt = stmt.where(AuditEvent.action == action)
    if target_id:
        stmt = stmt.where(AuditEvent.target_id == target_id)
    return list((await session.execute(stmt)).scalars())


def _jsonable(value: Any) -> Any:
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return str(value)
