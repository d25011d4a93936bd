"""The audit trail of administrative actions: an append-only, hash-chained table.

Appending (:func:`queue_event`, used by :func:`hub.audit.services.record`): an event waits in its
session until the session commits; just before the commit the session's own transaction locks the
one row of ``audit_chain_head`` (``UPDATE ... RETURNING``), numbers the waiting events after the head,
chains their hashes and moves the head. The lock is a row lock on PostgreSQL and the database write
lock on SQLite, held until the commit, so appends from several replicas, workers and concurrent
requests are serialised, and the action and its audit rows commit or roll back together. The head
is locked last in a transaction, so an append cannot deadlock with the action's own row locks.

Changing or deleting rows is refused twice: by the ORM (below) and by database triggers (the
migration ``audit_trail_hash_chain``); what an attacker with database rights changes anyway is
found by :func:`hub.audit.chain.verify_chain`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from advanced_alchemy.base import UUIDv7AuditBase, orm_registry
from advanced_alchemy.types import JsonB
from sqlalchemy import BigInteger, CheckConstraint, Integer, String, event, inspect, update
from sqlalchemy.orm import Mapped, ORMExecuteState, Session, SessionTransaction, UOWTransaction, mapped_column

from hub.audit.hashing import event_hash, to_json_value


class AuditTrailError(RuntimeError):
    """Something tried to change or delete an audit event, or the chain cannot be appended to."""


class AuditEvent(UUIDv7AuditBase):
    """Who did what to which object, and when (``created_at``). Never holds secrets."""

    __tablename__ = "audit_event"

    seq: Mapped[int] = mapped_column(BigInteger, unique=True)
    """Position in the chain: 1, 2, 3, ... without gaps."""
    actor: Mapped[str] = mapped_column(String(200))
    """``key:<prefix>`` for API keys, ``user:<name>`` for people, ``cli:<os user>`` for the command line."""
    actor_tenant_id: Mapped[UUID | None] = mapped_column(default=None)
    action: Mapped[str] = mapped_column(String(100), index=True)
    target_type: Mapped[str] = mapped_column(String(50))
    target_id: Mapped[str] = mapped_column(String(100), default="")
    before: Mapped[dict[str, Any] | None] = mapped_column(JsonB, nullable=True, default=None)
    """The changed object's relevant fields before the action (``None`` for a creation)."""
    after: Mapped[dict[str, Any] | None] = mapped_column(JsonB, nullable=True, default=None)
    """... and after it (``None`` for a deletion)."""
    details: Mapped[dict[str, Any]] = mapped_column(JsonB, default=dict)
    """What the request asked for, and context (e.g. the fields it changed)."""
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
    """SHA-256 over the event and ``prev_hash`` (:func:`hub.audit.hashing.event_hash`)."""

    def hashed_fields(self) -> dict[str, Any]:
        """The fields the hash covers, as stored."""
        return {
            "seq": self.seq,
            "created_at": self.created_at,
            "actor": self.actor,
            "actor_tenant_id": self.actor_tenant_id,
            "action": self.action,
            "target_type": self.target_type,
            "target_id": self.target_id,
            "before": self.before,
            "after": self.after,
            "details": self.details,
            "prev_hash": self.prev_hash,
        }


class AuditChainHead(orm_registry.generate_base()):  # type: ignore[misc]
    """The newest event's position and hash: one row, locked by every append (see the module doc)."""

    __tablename__ = "audit_chain_head"
    __table_args__ = (CheckConstraint("id = 1", name="one_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))


_QUEUE = "kiverbund.audit.queue"
_HEAD = AuditChainHead.__table__


def queue_event(session: Any, audit_event: AuditEvent) -> None:
    """Let ``audit_event`` join the chain when ``session`` (sync or async) commits its transaction."""
    session.info.setdefault(_QUEUE, []).append(audit_event)


def _append(session: Session, events: list[AuditEvent]) -> None:
    """Number and chain ``events`` after the head, in the session's transaction (locks the head)."""
    connection = session.connection()
    claimed = connection.execute(
        update(_HEAD).where(_HEAD.c.id == 1).values(seq=_HEAD.c.seq + len(events)).returning(_HEAD.c.seq, _HEAD.c.hash)
    ).one_or_none()
    if claimed is None:
        raise AuditTrailError("The audit chain has no head row (audit_chain_head); run the migrations")
    seq, prev_hash = claimed.seq - len(events), claimed.hash
    for item in events:
        seq += 1
        if item.created_at is None:
            item.created_at = datetime.now(UTC)
        item.target_id = item.target_id or ""
        item.before, item.after = to_json_value(item.before), to_json_value(item.after)
        item.details = to_json_value(item.details or {})
        item.seq, item.prev_hash = seq, prev_hash
        item.hash = prev_hash = event_hash(item.hashed_fields())
    connection.execute(update(_HEAD).where(_HEAD.c.id == 1).values(hash=prev_hash))


@event.listens_for(Session, "before_commit")
def _append_queued(session: Session) -> None:
    queued: list[AuditEvent] | None = session.info.pop(_QUEUE, None)
    if queued:
        _append(session, queued)
        session.add_all(queued)


@event.listens_for(Session, "before_flush")
def _append_added(session: Session, _flush: UOWTransaction, _instances: Any) -> None:
    # Events added to a session directly (not through record()) are chained when they are flushed.
    added = [obj for obj in session.new if isinstance(obj, AuditEvent) and obj.seq is None]
    if added:
        _append(session, added)


@event.listens_for(Session, "after_transaction_end")
def _forget_queued(session: Session, transaction: SessionTransaction) -> None:
    # A rolled-back (or closed) transaction takes its queued events with it.
    if transaction.parent is None:
        session.info.pop(_QUEUE, None)


@event.listens_for(AuditEvent, "before_update")
def _refuse_update(_mapper: Any, _connection: Any, target: AuditEvent) -> None:
    if any(attr.history.has_changes() for attr in inspect(target).attrs):
        raise AuditTrailError(f"Audit events are append-only: refusing to change event {target.seq}")


@event.listens_for(AuditEvent, "before_delete")
def _refuse_delete(_mapper: Any, _connection: Any, target: AuditEvent) -> None:
    raise AuditTrailError(f"Audit events are append-only: refusing to delete event {target.seq}")


@event.listens_for(Session, "do_orm_execute")
def _refuse_bulk_changes(state: ORMExecuteState) -> None:
    mapper = state.bind_mapper
    if (state.is_update or state.is_delete) and mapper is not None and mapper.class_ is AuditEvent:
        raise AuditTrailError("Audit events are append-only: refusing a bulk UPDATE or DELETE")
