"""Assertions and small helpers shared by the database tests."""

from __future__ import annotations

import itertools
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import async_sessionmaker

from hub.audit.models import AuditEvent
from hub.backends.models import Backend, Model, ModelGrant
from hub.tenants.models import ApiKey, Tenant
from hub.usage.models import UsageDaily, UsageRecord
from hub.usage.services import UsageEntry

ALL_MODELS = (Tenant, ApiKey, Backend, Model, ModelGrant, AuditEvent, UsageRecord, UsageDaily)


def assert_error(
    response: httpx.Response, status: int, *, code: str | None = None, param: str | None = None
) -> dict[str, Any]:
    """The response is an OpenAI-style error envelope with ``status`` (and ``code``/``param`` if given)."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"message", "type", "param", "code"}, error
    assert isinstance(error["message"], str)
    assert error["message"]
    assert isinstance(error["type"], str)
    if code is not None:
        assert error["code"] == code, error
    if param is not None:
        assert error["param"] == param, error
    return error


async def row_counts(sessionmaker: async_sessionmaker) -> dict[str, int]:
    """How many rows each table holds."""
    async with sessionmaker() as session:
        return {
            m.__tablename__: (await session.execute(select(func.count()).select_from(m))).scalar_one()
            for m in ALL_MODELS
        }


_request_ids = itertools.count()


def usage_entry(
    tenant_id: UUID,
    created_at: datetime,
    *,
    model: str | None = "llama",
    prompt: int = 10,
    completion: int = 5,
    status: str = "ok",
    request_id: str | None = None,
    api_key_id: UUID | None = None,
) -> UsageEntry:
    """One ledger entry as the gateway would queue it (a unique request id unless one is given)."""
    return UsageEntry(
        request_id=request_id or f"req-{next(_request_ids)}-{uuid4().hex[:8]}",
        created_at=created_at,
        tenant_id=tenant_id,
        api_key_id=api_key_id or uuid4(),
        endpoint="chat.completions",
        model=model,
        backend_id=uuid4(),
        stream=False,
        status=status,
        http_status=200 if status == "ok" else 502,
        error_code=None if status == "ok" else "upstream_error",
        prompt_tokens=prompt,
        completion_tokens=completion,
        latency_ms=12.5,
        ttft_ms=None,
    )
