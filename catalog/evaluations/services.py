"""Publishing, reading and withdrawing evaluation reports, and the evidence the rollout gate reads."""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import msgspec
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from catalog.deps import municipalities
from catalog.evaluations.models import EvaluationReport
from catalog.evaluations.schemas import (
    EvalReport,
    EvaluationDetail,
    EvaluationSummary,
    UseCaseEvaluation,
    WithdrawnEvaluation,
)
from catalog.models import UseCase
from hub.audit.services import Actor, record, snapshot
from hub.backends.models import Model
from hub.errors import HubError
from hub.rollout.gate import ReportFact

API_PATH = "/api/evaluations"
EVALUATION_AUDIT = (
    "report_uid",
    "model",
    "use_case_slug",
    "suite_name",
    "suite_version",
    "suite_kind",
    "passed",
    "published_by",
    "withdrawn_at",
    "withdrawn_reason",
)
"""A report's fields in the audit trail's snapshots: never its content (test inputs and model answers)."""
PAGE_PATH = "/evaluationen"


def api_url(report: EvaluationReport) -> str:
    """Where the report's JSON is."""
    return f"{API_PATH}/{report.id}"


def page_url(report: EvaluationReport) -> str:
    """Where the report's web page is."""
    return f"{PAGE_PATH}/{report.id}"


def _summary_fields(report: EvaluationReport, publishers: dict[UUID, str]) -> dict[str, Any]:
    return {
        "id": report.id,
        "report_id": report.report_uid,
        "model": report.model,
        "use_case": report.use_case_slug,
        "suite": report.suite_name,
        "suite_version": report.suite_version,
        "kind": report.suite_kind,
        "title": report.summary.get("title", ""),
        "passed": report.passed,
        "started_at": report.started_at,
        "finished_at": report.finished_at,
        "published_at": report.created_at,
        "publisher": publishers.get(report.publisher_tenant_id) if report.publisher_tenant_id else None,
        "checks": report.summary.get("checks", []),
        "metrics": report.summary.get("metrics", {}),
        "url": api_url(report),
        "page_url": page_url(report),
    }


async def _publishers(session: AsyncSession, reports: list[EvaluationReport]) -> dict[UUID, str]:
    towns = await municipalities(session, {r.publisher_tenant_id for r in reports if r.publisher_tenant_id})
    return {tenant_id: town.name for tenant_id, town in towns.items()}


async def summaries(session: AsyncSession, reports: list[EvaluationReport]) -> list[EvaluationSummary]:
    """List views, with the publishing organisations' names."""
    names = await _publishers(session, reports)
    return [EvaluationSummary(**_summary_fields(r, names)) for r in reports]


async def detail(session: AsyncSession, report: EvaluationReport) -> EvaluationDetail:
    """The summary and the whole report."""
    return EvaluationDetail(**_summary_fields(report, await _publishers(session, [report])), content=report.content)


async def withdrawn_view(session: AsyncSession, report: EvaluationReport) -> WithdrawnEvaluation:
    """The summary of a withdrawn report with when and why."""
    return WithdrawnEvaluation(
        **_summary_fields(report, await _publishers(session, [report])),
        withdrawn_at=report.withdrawn_at,
        withdrawn_reason=report.withdrawn_reason or "",
    )


def _summary(report: EvalReport) -> dict[str, Any]:
    return {
        "title": report.suite.title,
        "checks": [msgspec.to_builtins(c) for c in report.gate.checks],
        "metrics": {name: m.value for name, m in report.metrics.items()},
    }


async def publish(session: AsyncSession, report: EvalReport, content: dict[str, Any], actor: Actor) -> EvaluationReport:
    """Store a validated report (``content``: the document as sent); 422 naming the field, 409 if known.

    Checks beyond the shape: the gate agrees with its checks, the run ends after it started, the use
    case is in the catalogue (drafts included: a use case may be measured before it is published) and
    the model is a hub model alias.
    """
    if report.gate.passed != all(c.passed for c in report.gate.checks):
        raise HubError(
            "gate.passed contradicts its checks (it must be true exactly when every check passed)",
            status_code=422,
            param="gate.passed",
        )
    if report.finished_at < report.started_at:
        raise HubError("finished_at lies before started_at", status_code=422, param="finished_at")
    if (await session.execute(select(UseCase.id).where(UseCase.slug == report.suite.use_case))).first() is None:
        raise HubError(
            f"No use case {report.suite.use_case!r} in the catalogue", status_code=422, param="suite.use_case"
        )
    if (await session.execute(select(Model.id).where(Model.name == report.model))).first() is None:
        raise HubError(f"No model named {report.model!r} in the hub", status_code=422, param="model")
    uid = report.id.hex
    if (await session.execute(select(EvaluationReport.id).where(EvaluationReport.report_uid == uid))).first():
        raise HubError(f"The report {uid} was published already", status_code=409, param="id")
    stored = EvaluationReport(
        report_uid=uid,
        model=report.model,
        use_case_slug=report.suite.use_case,
        suite_name=report.suite.name,
        suite_version=report.suite.version,
        suite_kind=report.suite.kind,
        passed=report.gate.passed,
        started_at=report.started_at,
        finished_at=report.finished_at,
        published_by=actor.name,
        publisher_tenant_id=actor.tenant_id,
        summary=_summary(report),
        content=content,
    )
    session.add(stored)
    await session.flush()
    record(
        session,
        actor,
        "evaluation.publish",
        "evaluation_report",
        stored.id,
        after=snapshot(stored, EVALUATION_AUDIT),
        report_id=uid,
        model=stored.model,
        use_case=stored.use_case_slug,
        suite=stored.suite_name,
        suite_version=stored.suite_version,
        passed=stored.passed,
    )
    return stored


async def find(session: AsyncSession, evaluation_id: UUID) -> EvaluationReport | None:
    """A report by the hub's id or by the report's own id (withdrawn ones included)."""
    found = await session.get(EvaluationReport, evaluation_id)
    if found is None:
        query = select(EvaluationReport).where(EvaluationReport.report_uid == evaluation_id.hex)
        found = (await session.execute(query)).scalar_one_or_none()
    return found


def gone(report: EvaluationReport) -> HubError:
    """The answer for a withdrawn report: 410, with when and why."""
    when = report.withdrawn_at.strftime("%Y-%m-%d") if report.withdrawn_at else "?"
    return HubError(
        f"The evaluation report {report.id} was withdrawn on {when}: {report.withdrawn_reason}",
        status_code=410,
        code="evaluation_withdrawn",
        error_type="invalid_request_error",
    )


async def public_report(session: AsyncSession, evaluation_id: UUID) -> EvaluationReport:
    """A published report; 404 if unknown, 410 if withdrawn."""
    found = await find(session, evaluation_id)
    if found is None:
        raise HubError(f"No evaluation report {evaluation_id}", status_code=404, code="not_found")
    if found.withdrawn_at is not None:
        raise gone(found)
    return found


async def published(
    session: AsyncSession,
    *,
    model: str | None = None,
    use_case: str | None = None,
    suite: str | None = None,
    passed: bool | None = None,
    limit: int = 100,
) -> list[EvaluationReport]:
    """Non-withdrawn reports matching the filters, newest run first."""
    query = select(EvaluationReport).where(EvaluationReport.withdrawn_at.is_(None))
    if model:
        query = query.where(EvaluationReport.model == model)
    if use_case:
        query = query.where(EvaluationReport.use_case_slug == use_case)
    if suite:
        query = query.where(EvaluationReport.suite_name == suite)
    if passed is not None:
        query = query.where(EvaluationReport.passed == passed)
    query = query.order_by(EvaluationReport.finished_at.desc(), EvaluationReport.created_at.desc()).limit(limit)
    return list((await session.execute(query)).scalars())


async def for_use_case(session: AsyncSession, slug: str) -> list[UseCaseEvaluation]:
    """The use case's published reports, newest run first (for the use case API and page)."""
    return [
        UseCaseEvaluation(
            id=r.id,
            model=r.model,
            suite=r.suite_name,
            suite_version=r.suite_version,
            kind=r.suite_kind,
            passed=r.passed,
            finished_at=r.finished_at,
            url=api_url(r),
        )
        for r in await published(session, use_case=slug, limit=1000)
    ]


async def withdraw(session: AsyncSession, evaluation_id: UUID, reason: str, actor: Actor) -> EvaluationReport:
    """Take a report back: it leaves the lists and no longer counts for the rollout gate (409 if done)."""
    found = await find(session, evaluation_id)
    if found is None:
        raise HubError(f"No evaluation report {evaluation_id}", status_code=404, code="not_found")
    if found.withdrawn_at is not None:
        raise HubError(f"The report was withdrawn on {found.withdrawn_at.isoformat()}", status_code=409)
    reason = reason.strip()
    if len(reason) < 3:
        raise HubError("Say why the report is withdrawn", status_code=422, param="reason")
    before = snapshot(found, EVALUATION_AUDIT)
    found.withdrawn_at = datetime.now(UTC)
    found.withdrawn_reason = reason
    await session.flush()
    record(
        session,
        actor,
        "evaluation.withdraw",
        "evaluation_report",
        found.id,
        before=before,
        after=snapshot(found, EVALUATION_AUDIT),
        report_id=found.report_uid,
        model=found.model,
        suite=found.suite_name,
        reason=reason,
    )
    return found


class CatalogEvidence:
    """The rollout gate's view of the published reports (:class:`hub.rollout.gate.ReleaseEvidence`).

    Reads only the columns the gate needs, never the report contents, because the gateway reloads it
    with every registry refresh.
    """

    async def reports(self, session: AsyncSession, models: Collection[str]) -> list[ReportFact]:
        """Every non-withdrawn report for one of ``models``."""
        if not models:
            return []
        rows = await session.execute(
            select(
                EvaluationReport.id,
                EvaluationReport.model,
                EvaluationReport.use_case_slug,
                EvaluationReport.suite_name,
                EvaluationReport.passed,
                EvaluationReport.finished_at,
                EvaluationReport.created_at,
            ).where(EvaluationReport.model.in_(list(models)), EvaluationReport.withdrawn_at.is_(None))
        )
        return [
            ReportFact(
                id=row[0],
                model=row[1],
                use_case=row[2],
                suite=row[3],
                passed=bool(row[4]),
                finished_at=row[5],
                published_at=row[6],
            )
            for row in rows.all()
        ]

    async def use_case_exists(self, session: AsyncSession, slug: str) -> bool:
        """Is ``slug`` a use case of the catalogue (drafts included)?"""
        return (await session.execute(select(UseCase.id).where(UseCase.slug == slug))).first() is not None
