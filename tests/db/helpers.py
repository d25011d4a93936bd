"""Assertions and small helpers shared by the database tests."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import async_sessionmaker

from hub.audit.models import AuditEvent
from hub.backends.models import Backend, Model, ModelGrant
from hub.tenants.models import ApiKey, Tenant
from hub.usage.models import UsageDaily, UsageRecord

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
