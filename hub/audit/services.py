"""Writing, querying and exporting the audit trail."""

from __future__ import annotations

import csv
import getpass
import io
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal
from uuid import UUID

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.audit.hashing import HASHED_FIELDS, canonical_json, digest, format_time, to_json_value
from hub.audit.models import AuditEvent, queue_event
from hub.auth.principal import Principal
from hub.errors import HubError

ExportFormat = Literal["jsonl", "csv"]

EXPORT_COLUMNS = (*HASHED_FIELDS, "hash", "id")
"""The fields of an exported event, in CSV column order."""


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
    *,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
    **details: Any,
) -> AuditEvent:
    """Append an audit event to the chain when ``session`` commits, so it commits (or rolls back) with the action.

    ``before`` and ``after`` are snapshots of the changed object (:func:`snapshot`; ``before=None`` for a
    creation, ``after=None`` for a deletion); ``details`` what the request asked for. Never pass secrets
    (keys, key hashes, client secrets) or prompt text.
    """
    event = AuditEvent(
        created_at=datetime.now(UTC),
        actor=actor.name,
        actor_tenant_id=actor.tenant_id,
        action=action,
        target_type=target_type,
        target_id=str(target_id),
        before=to_json_value(before),
        after=to_json_value(after),
        details=to_json_value(details),
    )
    queue_event(session, event)
    return event


def snapshot(obj: object | None, fields: Iterable[str], *, digests: Iterable[str] = ()) -> dict[str, Any] | None:
    """The ``fields`` of ``obj`` as JSON data for ``before``/``after`` (``None`` when there is no object).

    Each of ``digests`` is kept as ``<field>_sha256`` only: enough to tell whether a large document changed
    (and to match it against a stored copy) without copying it, or the prompt texts it may hold, into the trail.
    """
    if obj is None:
        return None
    state = {name: to_json_value(getattr(obj, name)) for name in fields}
    for name in digests:
        state[f"{name}_sha256"] = digest(getattr(obj, name))
    return state


# --- querying ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """Which events to show or export; every given criterion must match."""

    actor: str | None = None
    action: str | None = None
    target_type: str | None = None
    target_id: str | None = None
    tenant_id: UUID | None = None
    """The acting tenant (``actor_tenant_id``)."""
    since: datetime | None = None
    """Inclusive."""
    until: datetime | None = None
    """Exclusive."""

    def __post_init__(self) -> None:
        for name in ("actor", "action", "target_type", "target_id"):
            if "\x00" in (getattr(self, name) or ""):
                # PostgreSQL refuses NUL characters in text: a bad value, not a server error.
                raise HubError(f"{name} must not contain NUL characters", param=name)
        if self.since is not None and self.until is not None and _utc(self.since) >= _utc(self.until):
            raise HubError("since must lie before until", param="since")

    def apply(self, query: Select[Any]) -> Select[Any]:
        """``query`` restricted to the matching events."""
        for column, value in (
            (AuditEvent.actor, self.actor),
            (AuditEvent.action, self.action),
            (AuditEvent.target_type, self.target_type),
            (AuditEvent.target_id, self.target_id),
            (AuditEvent.actor_tenant_id, self.tenant_id),
        ):
            if value is not None:
                query = query.where(column == value)
        if self.since is not None:
            query = query.where(AuditEvent.created_at >= _utc(self.since))
        if self.until is not None:
            query = query.where(AuditEvent.created_at < _utc(self.until))
        return query


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


async def list_events(
    session: AsyncSession, filters: AuditFilter, *, limit: int = 100, before_seq: int | None = None
) -> list[AuditEvent]:
    """The newest matching events first; ``before_seq`` pages on (the last shown event's ``seq``)."""
    query = filters.apply(select(AuditEvent)).order_by(AuditEvent.seq.desc()).limit(limit)
    if before_seq is not None:
        query = query.where(AuditEvent.seq < before_seq)
    return list((await session.execute(query)).scalars())


async def iter_events(session: AsyncSession, filters: AuditFilter, *, batch: int = 500) -> AsyncIterator[AuditEvent]:
    """The matching events in chain order, read in batches (keyset on ``seq``, so memory stays flat)."""
    after_seq = 0
    while True:
        query = filters.apply(select(AuditEvent)).where(AuditEvent.seq > after_seq)
        rows = list((await session.execute(query.order_by(AuditEvent.seq).limit(batch))).scalars())
        for row in rows:
            yield row
        if len(rows) < batch:
            return
        after_seq = rows[-1].seq
        session.expunge_all()


def event_record(event: AuditEvent) -> dict[str, Any]:
    """One event as plain data (the export's and the API's fields)."""
    return {
        "seq": event.seq,
        "created_at": format_time(event.created_at),
        "actor": event.actor,
        "actor_tenant_id": str(event.actor_tenant_id) if event.actor_tenant_id else None,
        "action": event.action,
        "target_type": event.target_type,
        "target_id": event.target_id,
        "before": event.before,
        "after": event.after,
        "details": event.details,
        "prev_hash": event.prev_hash,
        "hash": event.hash,
        "id": str(event.id),
    }


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    text = value if isinstance(value, str) else canonical_json(value)
    # Spreadsheet programs run cells starting with these as formulas (CSV injection).
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


async def export_lines(session: AsyncSession, filters: AuditFilter, export_format: ExportFormat) -> AsyncIterator[str]:
    """The matching events in chain order, one line each.

    ``jsonl``: one canonical JSON object per line, the values exactly as hashed, so the chain can be
    re-checked from the file. ``csv``: a header and one row per event, JSON fields as JSON text.
    """
    if export_format == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(EXPORT_COLUMNS)
        yield buffer.getvalue()
    async for event in iter_events(session, filters):
        data = event_record(event)
        if export_format == "jsonl":
            yield canonical_json(data) + "\n"
            continue
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow([_csv_cell(data[name]) for name in EXPORT_COLUMNS])
        yield buffer.getvalue()
