"""Admin API: querying, exporting and verifying the audit trail (operators only)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import urlencode
from uuid import UUID

import msgspec
from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency, Provide
from litestar.params import Parameter, QueryParameter
from litestar.response import Stream
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hub.audit.chain import ChainReport, parse_head, verify_chain
from hub.audit.services import AuditFilter, ExportFormat, export_lines, list_events
from hub.auth.guards import operator_only

_MEDIA_TYPES = {"jsonl": "application/x-ndjson", "csv": "text/csv; charset=utf-8"}
TimeFilter = Annotated[datetime | None, Parameter(description="RFC 3339 date-time (no offset: UTC)")]
FormatParameter = Annotated[ExportFormat, QueryParameter(name="format", description="jsonl or csv", required=False)]


class AuditEventRead(msgspec.Struct):
    """One audit event with its place in the hash chain."""

    id: UUID
    seq: int
    created_at: datetime
    actor: str
    actor_tenant_id: UUID | None
    action: str
    target_type: str
    target_id: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    details: dict[str, Any]
    prev_hash: str
    hash: str


def provide_audit_filter(
    actor: Annotated[str | None, Parameter(description="This actor, e.g. key:kv_ab12cd", max_length=200)] = None,
    action: Annotated[str | None, Parameter(description="This action, e.g. tenant.update", max_length=100)] = None,
    target_type: Annotated[str | None, Parameter(description="e.g. tenant, api_key", max_length=50)] = None,
    target_id: Annotated[str | None, Parameter(description="The changed object's id", max_length=100)] = None,
    tenant: Annotated[UUID | None, Parameter(description="The acting tenant (actor_tenant_id)")] = None,
    since: TimeFilter = None,
    until: TimeFilter = None,
) -> AuditFilter:
    """The audit filters of the query string (400 for a bad value or ``since`` not before ``until``).

    ``since`` is inclusive, ``until`` exclusive.
    """
    return AuditFilter(
        actor=actor,
        action=action,
        target_type=target_type,
        target_id=target_id,
        tenant_id=tenant,
        since=since,
        until=until,
    )


class AuditController(Controller):
    """Who did what, when: the append-only, hash-chained audit trail."""

    path = "/api/admin/audit"
    guards = [operator_only]
    dependencies = {"filters": Provide(provide_audit_filter, sync_to_thread=False)}
    tags = ["Admin: audit and chargeback"]

    @get("/", operation_id="ListAuditEvents")
    async def list_audit(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        filters: NamedDependency[AuditFilter],
        limit: Annotated[int, Parameter(ge=1, le=1000)] = 100,
        before_seq: Annotated[
            int | None,
            Parameter(ge=1, le=2**63 - 1, description="Page on: events before this seq (the last one shown)"),
        ] = None,
    ) -> Response[list[AuditEventRead]]:
        """The newest matching events first; if there are more, ``Link: <...>; rel="next"`` points to them."""
        events = await list_events(db_session, filters, limit=limit + 1, before_seq=before_seq)
        headers = {}
        if len(events) > limit:
            events = events[:limit]
            query = [(k, v) for k, v in request.query_params.multi_items() if k != "before_seq"]
            query.append(("before_seq", str(events[-1].seq)))
            headers["Link"] = f'<{request.url.path}?{urlencode(query)}>; rel="next"'
        return Response([msgspec.convert(e, AuditEventRead, from_attributes=True) for e in events], headers=headers)

    @get("/verify", operation_id="VerifyAuditChain")
    async def verify(
        self,
        db_session: NamedDependency[AsyncSession],
        expect_head: Annotated[
            str | None,
            Parameter(description="SEQ:HASH noted from an earlier verification: also detects a cut-off tail"),
        ] = None,
    ) -> ChainReport:
        """Walk the hash chain: ``valid``, the head to note down, or the first broken ``seq`` and why."""
        expected = parse_head(expect_head) if expect_head is not None else None
        return await verify_chain(db_session, expect_head=expected)

    @get("/export", operation_id="ExportAuditEvents")
    async def export(
        self,
        request: Request[Any, Any, Any],
        filters: NamedDependency[AuditFilter],
        export_format: FormatParameter = "jsonl",
    ) -> Stream:
        """The matching events in chain order as a download (JSON Lines with the hashed values, or CSV)."""
        sessionmaker: async_sessionmaker = request.app.state.sessionmaker

        async def lines() -> AsyncIterator[bytes]:
            # Its own session: the request's session ends when the handler returns, before the body is sent.
            async with sessionmaker() as session:
                async for line in export_lines(session, filters, export_format):
                    yield line.encode("utf-8")

        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        return Stream(
            lines(),
            media_type=_MEDIA_TYPES[export_format],
            headers={"Content-Disposition": f'attachment; filename="kiverbund-audit-{stamp}.{export_format}"'},
        )
