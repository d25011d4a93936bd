"""Experience reports: written by a municipality, reviewed by state IT, then public."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

import msgspec
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from catalog.models import ExperienceReport, UseCase
from catalog.schemas import ReportFields
from catalog.vocab import ReviewState
from hub.audit.services import Actor, record, snapshot
from hub.errors import HubError

REPORT_AUDIT = ("tenant_id", "use_case_slug", "state", "written_by", "reviewed_by", "published_at", "content")
"""An experience report's fields in the audit trail's snapshots (its texts are meant for publication)."""


async def _check(session: AsyncSession, fields: ReportFields) -> dict:
    if fields.period_end and fields.period_end < fields.period_start:
        raise HubError("period_end lies before period_start", status_code=422, param="period_end")
    if not (await session.execute(select(UseCase.id).where(UseCase.slug == fields.use_case))).first():
        raise HubError(f"No use case {fields.use_case!r}", status_code=422, param="use_case")
    return msgspec.to_builtins(fields)


async def own_report(session: AsyncSession, tenant_id: UUID, report_id: UUID) -> ExperienceReport:
    """A report of ``tenant_id``; another municipality's report is "not found"."""
    found = (
        await session.execute(
            select(ExperienceReport).where(ExperienceReport.id == report_id, ExperienceReport.tenant_id == tenant_id)
        )
    ).scalar_one_or_none()
    if found is None:
        raise HubError(f"No experience report {report_id}", status_code=404, code="not_found")
    return found


async def any_report(session: AsyncSession, report_id: UUID) -> ExperienceReport:
    """Any report (for state IT's review)."""
    found = await session.get(ExperienceReport, report_id)
    if found is None:
        raise HubError(f"No experience report {report_id}", status_code=404, code="not_found")
    return found


async def write(session: AsyncSession, tenant_id: UUID, fields: ReportFields, actor: Actor) -> ExperienceReport:
    """A new draft report of the caller's municipality."""
    report = ExperienceReport(
        tenant_id=tenant_id,
        use_case_slug=fields.use_case,
        state=ReviewState.DRAFT.value,
        content=await _check(session, fields),
        written_by=actor.name,
    )
    session.add(report)
    await session.flush()
    record(
        session,
        actor,
        "report.create",
        "experience_report",
        report.id,
        after=snapshot(report, REPORT_AUDIT),
        use_case=fields.use_case,
    )
    return report


async def revise(
    session: AsyncSession, report: ExperienceReport, fields: ReportFields, actor: Actor
) -> ExperienceReport:
    """Change a draft or a rejected report (it becomes a draft again)."""
    if report.state not in (ReviewState.DRAFT.value, ReviewState.REJECTED.value):
        raise HubError(f"A {report.state} report cannot be changed", status_code=409)
    before = snapshot(report, REPORT_AUDIT)
    report.content = await _check(session, fields)
    report.use_case_slug = fields.use_case
    report.state = ReviewState.DRAFT.value
    await session.flush()
    record(
        session,
        actor,
        "report.update",
        "experience_report",
        report.id,
        before=before,
        after=snapshot(report, REPORT_AUDIT),
        use_case=fields.use_case,
    )
    return report


async def transition(
    session: AsyncSession,
    report: ExperienceReport,
    actor: Actor,
    *,
    to: ReviewState,
    allowed_from: tuple[ReviewState, ...],
) -> ExperienceReport:
    """Move a report through review: submit, approve (publish), reject, retract."""
    if report.state not in {s.value for s in allowed_from}:
        raise HubError(f"A {report.state} report cannot become {to.value}", status_code=409)
    before = snapshot(report, REPORT_AUDIT)
    report.state = to.value
    if to is ReviewState.APPROVED:
        report.reviewed_by, report.published_at = actor.name, datetime.now(UTC)
    await session.flush()
    record(
        session,
        actor,
        f"report.{to.value}",
        "experience_report",
        report.id,
        before=before,
        after=snapshot(report, REPORT_AUDIT),
    )
    return report


async def published(session: AsyncSession, use_case: str | None = None) -> list[ExperienceReport]:
    """Public reports, newest first."""
    query = select(ExperienceReport).where(ExperienceReport.state == ReviewState.APPROVED.value)
    if use_case:
        query = query.where(ExperienceReport.use_case_slug == use_case)
    return list((await session.execute(query.order_by(ExperienceReport.published_at.desc()))).scalars())
