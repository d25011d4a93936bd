"""The register's editorial workflow: draft -> submitted -> approved (public) or rejected; retraction.

Four eyes: a version is approved by a tenant admin of the same municipality who did not write it.
Only approved versions are ever public; every step is audited and the versions are the history.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import msgspec
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from catalog.models import RegisterEntry, RegisterVersion
from catalog.schemas import RegisterFields
from catalog.vocab import ReviewState
from hub.audit.services import Actor, record, snapshot
from hub.errors import HubError

EDITABLE = (ReviewState.DRAFT.value, ReviewState.REJECTED.value)
ENTRY_AUDIT = ("tenant_id", "slug", "public_version", "retracted_at")
"""A register entry's fields in the audit trail's before/after snapshots (see :func:`entry_state`)."""
VERSION_AUDIT = ("number", "state", "edited_by", "decided_by", "decided_at", "decision_note", "content")
"""... and its newest version's."""


def latest(entry: RegisterEntry) -> RegisterVersion:
    """The newest version of an entry (every entry has at least one)."""
    return entry.versions[-1]


def public_version(entry: RegisterEntry) -> RegisterVersion | None:
    """The version the public sees, if any."""
    if entry.public_version is None:
        return None
    return next((v for v in entry.versions if v.number == entry.public_version), None)


def entry_state(entry: RegisterEntry) -> dict[str, Any] | None:
    """An entry's audit snapshot: where it stands, and its newest version (the register texts are public)."""
    state = snapshot(entry, ENTRY_AUDIT)
    if state is not None:
        state["latest"] = snapshot(latest(entry), VERSION_AUDIT)
    return state


def _audit_step(
    session: AsyncSession, actor: Actor, action: str, entry: RegisterEntry, before: Any, **details: Any
) -> None:
    """One workflow step in the audit trail, with the entry as it was before and is after it."""
    record(session, actor, action, "register_entry", entry.id, before=before, after=entry_state(entry), **details)


async def own_entry(session: AsyncSession, tenant_id: UUID, entry_id: UUID) -> RegisterEntry:
    """An entry of ``tenant_id``; another municipality's entry is "not found"."""
    entry = (
        await session.execute(
            select(RegisterEntry).where(RegisterEntry.id == entry_id, RegisterEntry.tenant_id == tenant_id)
        )
    ).scalar_one_or_none()
    if entry is None:
        raise HubError(f"No register entry {entry_id}", status_code=404, code="not_found")
    return entry


async def create_entry(
    session: AsyncSession, tenant_id: UUID, slug: str, fields: RegisterFields, actor: Actor
) -> RegisterEntry:
    """A new entry with its first draft."""
    taken = await session.execute(
        select(RegisterEntry.id).where(RegisterEntry.tenant_id == tenant_id, RegisterEntry.slug == slug)
    )
    if taken.first():
        raise HubError(f"Your municipality has an entry {slug!r} already", status_code=409, param="slug")
    entry = RegisterEntry(tenant_id=tenant_id, slug=slug)
    entry.versions = [
        RegisterVersion(number=1, state=ReviewState.DRAFT.value, content=_content(fields), edited_by=actor.name)
    ]
    session.add(entry)
    await session.flush()
    record(session, actor, "register.create", "register_entry", entry.id, after=entry_state(entry), slug=slug)
    return entry


def _content(fields: RegisterFields) -> dict:
    _check_dates(fields)
    return msgspec.to_builtins(fields)


def _check_dates(fields: RegisterFields) -> None:
    if fields.begin_date and fields.end_date and fields.end_date < fields.begin_date:
        raise HubError("end_date lies before begin_date", status_code=422, param="end_date")


async def save_draft(
    session: AsyncSession, entry: RegisterEntry, fields: RegisterFields, actor: Actor
) -> RegisterVersion:
    """Write the entry's draft: the open draft is changed, otherwise a new version starts."""
    current = latest(entry)
    if current.state == ReviewState.SUBMITTED.value:
        raise HubError("The newest version is waiting for approval; reject it first to change it", status_code=409)
    before = entry_state(entry)
    if current.state in EDITABLE:
        current.content = _content(fields)
        current.state = ReviewState.DRAFT.value
        current.edited_by = actor.name
        current.decided_by = current.decided_at = None
        version = current
    else:
        version = RegisterVersion(
            number=current.number + 1, state=ReviewState.DRAFT.value, content=_content(fields), edited_by=actor.name
        )
        entry.versions.append(version)
    await session.flush()
    _audit_step(session, actor, "register.draft", entry, before, version=version.number)
    return version


async def submit(session: AsyncSession, entry: RegisterEntry, actor: Actor) -> RegisterVersion:
    """Hand the draft in for approval."""
    version = latest(entry)
    if version.state != ReviewState.DRAFT.value:
        raise HubError(f"Only a draft can be submitted (the newest version is {version.state})", status_code=409)
    before = entry_state(entry)
    version.state = ReviewState.SUBMITTED.value
    await session.flush()
    _audit_step(session, actor, "register.submit", entry, before, version=version.number)
    return version


async def decide(
    session: AsyncSession, entry: RegisterEntry, actor: Actor, *, approve: bool, note: str
) -> RegisterVersion:
    """Approve (publish) or reject the submitted version; the editor may not decide on their own work."""
    version = latest(entry)
    if version.state != ReviewState.SUBMITTED.value:
        raise HubError("There is no submitted version to decide on", status_code=409)
    if version.edited_by == actor.name:
        raise HubError(
            "A second person must approve: you wrote this version (four-eyes principle)",
            status_code=403,
            code="four_eyes_required",
        )
    before = entry_state(entry)
    now = datetime.now(UTC)
    version.decided_by, version.decided_at, version.decision_note = actor.name, now, note
    if approve:
        previous = public_version(entry)
        if previous is not None:
            previous.state = ReviewState.SUPERSEDED.value
        version.state = ReviewState.APPROVED.value
        entry.public_version = version.number
        entry.retracted_at = None
    else:
        version.state = ReviewState.REJECTED.value
    await session.flush()
    action = "register.approve" if approve else "register.reject"
    _audit_step(session, actor, action, entry, before, version=version.number, note=note)
    return version


async def retract(session: AsyncSession, entry: RegisterEntry, actor: Actor, note: str) -> RegisterEntry:
    """Take the entry off the public register (e.g. the system is withdrawn or the entry was wrong)."""
    shown = public_version(entry)
    if shown is None:
        raise HubError("The entry is not public", status_code=409)
    before = entry_state(entry)
    shown.state = ReviewState.RETRACTED.value
    entry.public_version = None
    entry.retracted_at = datetime.now(UTC)
    await session.flush()
    _audit_step(session, actor, "register.retract", entry, before, version=shown.number, note=note)
    return entry


async def public_entries(session: AsyncSession, tenant_id: UUID | None = None) -> list[RegisterEntry]:
    """Entries with an approved version, optionally of one municipality."""
    query = select(RegisterEntry).where(RegisterEntry.public_version.is_not(None)).order_by(RegisterEntry.slug)
    if tenant_id is not None:
        query = query.where(RegisterEntry.tenant_id == tenant_id)
    return list((await session.execute(query)).scalars())


async def entries_of(session: AsyncSession, tenant_id: UUID) -> list[RegisterEntry]:
    """Every entry of one municipality, public or not (for its editors)."""
    query = select(RegisterEntry).where(RegisterEntry.tenant_id == tenant_id).order_by(RegisterEntry.slug)
    return list((await session.execute(query)).scalars())
