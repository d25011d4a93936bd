"""Reading and curating use cases and funding programmes."""

from __future__ import annotations

from typing import Any

import msgspec
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from catalog.models import FundingProgramme, UseCase
from catalog.schemas import FundingProgrammeFields, UseCaseCreate, UseCaseUpdate
from catalog.vocab import UseCaseStatus
from hub.audit.services import Actor, record, snapshot
from hub.errors import HubError

PUBLIC_STATUSES = (UseCaseStatus.PILOTED.value, UseCaseStatus.RELEASED.value)
USE_CASE_AUDIT = ("slug", "title", "status", "area", "ai_function", "risk_class", "edited_by")
"""A use case's fields in the audit trail's snapshots; its content only as a digest (recipes hold prompt texts)."""
FUNDING_AUDIT = ("slug", "name", "content")
"""A funding programme's fields in the snapshots."""


def _columns(data: UseCaseCreate | UseCaseUpdate) -> dict[str, Any]:
    content = msgspec.to_builtins(data)
    content.pop("slug", None)
    return {
        "title": data.title,
        "status": data.status.value,
        "area": data.area.value,
        "ai_function": data.ai_function.value,
        "risk_class": data.ai_act.risk_class,
        "content": content,
    }


async def _check_funding(session: AsyncSession, slugs: list[str]) -> None:
    if not slugs:
        return
    known = set(
        (await session.execute(select(FundingProgramme.slug).where(FundingProgramme.slug.in_(slugs)))).scalars()
    )
    unknown = sorted(set(slugs) - known)
    if unknown:
        raise HubError(
            f"Unknown funding programme(s): {', '.join(unknown)}", status_code=422, param="funding_programmes"
        )


async def create_use_case(session: AsyncSession, data: UseCaseCreate, actor: Actor) -> UseCase:
    """Add a use case; the slug is its stable public name."""
    if (await session.execute(select(UseCase.id).where(UseCase.slug == data.slug))).first():
        raise HubError(f"A use case {data.slug!r} exists already", status_code=409, param="slug")
    await _check_funding(session, data.funding_programmes)
    use_case = UseCase(slug=data.slug, edited_by=actor.name, **_columns(data))
    session.add(use_case)
    await session.flush()
    record(
        session,
        actor,
        "use_case.create",
        "use_case",
        use_case.id,
        after=snapshot(use_case, USE_CASE_AUDIT, digests=("content",)),
        slug=data.slug,
        status=data.status.value,
    )
    return use_case


async def update_use_case(session: AsyncSession, slug: str, data: UseCaseUpdate, actor: Actor) -> UseCase:
    """Replace a use case's content."""
    use_case = await get_use_case(session, slug, include_drafts=True)
    await _check_funding(session, data.funding_programmes)
    before = snapshot(use_case, USE_CASE_AUDIT, digests=("content",))
    for field, value in _columns(data).items():
        setattr(use_case, field, value)
    use_case.edited_by = actor.name
    await session.flush()
    record(
        session,
        actor,
        "use_case.update",
        "use_case",
        use_case.id,
        before=before,
        after=snapshot(use_case, USE_CASE_AUDIT, digests=("content",)),
        slug=slug,
        status=data.status.value,
    )
    return use_case


async def get_use_case(session: AsyncSession, slug: str, *, include_drafts: bool) -> UseCase:
    """One use case by slug; drafts only for curators (otherwise 404, as if it did not exist)."""
    query = select(UseCase).where(UseCase.slug == slug)
    if not include_drafts:
        query = query.where(UseCase.status.in_(PUBLIC_STATUSES))
    found = (await session.execute(query)).scalar_one_or_none()
    if found is None:
        raise HubError(f"No use case {slug!r}", status_code=404, code="not_found")
    return found


async def search_use_cases(
    session: AsyncSession,
    *,
    q: str | None = None,
    area: str | None = None,
    ai_function: str | None = None,
    risk_class: str | None = None,
    status: str | None = None,
    include_drafts: bool = False,
) -> list[UseCase]:
    """Use cases matching a free-text query (title, summary, tags) and filters, by title."""
    query = select(UseCase).order_by(UseCase.title)
    if not include_drafts:
        query = query.where(UseCase.status.in_(PUBLIC_STATUSES))
    for column, value in ((UseCase.area, area), (UseCase.ai_function, ai_function), (UseCase.risk_class, risk_class)):
        if value:
            query = query.where(column == value)
    if status:
        query = query.where(UseCase.status == status)
    rows = list((await session.execute(query)).scalars())
    if q:
        # Case-insensitive substring search over the visible texts; the catalogue is small (hundreds),
        # so filtering in Python keeps it identical on SQLite and PostgreSQL (umlauts included).
        needle = q.casefold().strip()
        rows = [u for u in rows if needle in _haystack(u)]
    return rows


def _haystack(use_case: UseCase) -> str:
    content = use_case.content
    parts = [use_case.title, content.get("summary", ""), content.get("description", ""), *content.get("tags", [])]
    return " ".join(parts).casefold()


async def funding_programmes(session: AsyncSession) -> list[FundingProgramme]:
    """All funding programmes by name."""
    return list((await session.execute(select(FundingProgramme).order_by(FundingProgramme.name))).scalars())


async def upsert_funding_programme(
    session: AsyncSession, data: FundingProgrammeFields, actor: Actor
) -> FundingProgramme:
    """Create or replace a funding programme by slug."""
    found = (
        await session.execute(select(FundingProgramme).where(FundingProgramme.slug == data.slug))
    ).scalar_one_or_none()
    content = msgspec.to_builtins(data)
    before = snapshot(found, FUNDING_AUDIT)
    if found is None:
        found = FundingProgramme(slug=data.slug, name=data.name, content=content)
        session.add(found)
    else:
        found.name, found.content = data.name, content
    await session.flush()
    record(
        session,
        actor,
        "funding.upsert",
        "funding_programme",
        found.id,
        before=before,
        after=snapshot(found, FUNDING_AUDIT),
        slug=data.slug,
    )
    return found
