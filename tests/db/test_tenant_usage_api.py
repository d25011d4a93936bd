"""``GET /v1/usage`` and ``/v1/usage/requests``: each tenant sees only its own ledger, on both databases."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID

from hub.audit.services import Actor
from hub.tenants.models import KeyRole
from hub.tenants.schemas import KeyCreate, TenantCreate
from hub.tenants.services import ApiKeyService, TenantService
from hub.usage.services import UsageEntry, write_usage
from tests.db.conftest import Hub
from tests.db.helpers import assert_error, usage_entry


async def tenant_with_key(hub: Hub, name: str, ags: str) -> tuple[UUID, UUID, str]:
    async with hub.sessionmaker() as session, session.begin():
        tenant = await TenantService(session=session).create_tenant(
            TenantCreate(name=name, state="Mecklenburg-Vorpommern", ags=ags), Actor.cli()
        )
        key, new = await ApiKeyService(session=session).issue(tenant, KeyCreate(role=KeyRole.CLIENT), Actor.cli())
    return tenant.id, key.id, new.secret


def usage(
    request_id: str, tenant: UUID, key: UUID, at: datetime, model: str, prompt: int, completion: int, status: str = "ok"
) -> UsageEntry:
    return usage_entry(
        tenant,
        at,
        model=model,
        prompt=prompt,
        completion=completion,
        status=status,
        request_id=request_id,
        api_key_id=key,
    )


async def get_json(hub: Hub, path: str, secret: str, **params: Any) -> dict[str, Any]:
    response = await hub.client.get(path, params=params, headers=hub.auth(secret))
    assert response.status_code == 200, response.text
    return response.json()


async def test_usage_endpoints_show_only_the_callers_tenant(hub: Hub) -> None:
    a_id, a_key, a_secret = await tenant_with_key(hub, "Schwerin", "13004000")
    b_id, b_key, b_secret = await tenant_with_key(hub, "Rostock", "13003000")
    nov3 = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)
    nov4 = nov3 + timedelta(days=1)
    entries = [
        usage("a-1", a_id, a_key, nov3, "llama", 10, 20),
        usage("a-2", a_id, a_key, nov3 + timedelta(minutes=5), "llama", 1, 2, status="client_error"),
        usage("a-3", a_id, a_key, nov4, "embed", 300, 0),
        usage("b-1", b_id, b_key, nov3, "llama", 5000, 6000),
        usage("b-2", b_id, b_key, datetime(2026, 11, 30, 23, 30, tzinfo=UTC), "llama", 7, 7),  # Dec 1 in Berlin
    ]
    async with hub.sessionmaker() as session, session.begin():
        await write_usage(session, entries)

    a = await get_json(hub, "/v1/usage", a_secret, start="2026-11-01", end="2026-11-30")
    assert (a["object"], a["tenant_id"], a["start"], a["end"]) == ("usage", str(a_id), "2026-11-01", "2026-11-30")
    assert a["data"] == [
        {
            "day": "2026-11-03",
            "model": "llama",
            "requests": 2,
            "errors": 1,
            "prompt_tokens": 11,
            "completion_tokens": 22,
            "total_tokens": 33,
        },
        {
            "day": "2026-11-04",
            "model": "embed",
            "requests": 1,
            "errors": 0,
            "prompt_tokens": 300,
            "completion_tokens": 0,
            "total_tokens": 300,
        },
    ]
    assert a["totals"] == {
        "requests": 3,
        "errors": 1,
        "prompt_tokens": 311,
        "completion_tokens": 22,
        "total_tokens": 333,
    }

    b = await get_json(hub, "/v1/usage", b_secret, start="2026-11-01", end="2026-12-31")
    assert b["tenant_id"] == str(b_id)
    assert [(d["day"], d["requests"], d["total_tokens"]) for d in b["data"]] == [
        ("2026-11-03", 1, 11000),
        ("2026-12-01", 1, 14),
    ]
    b_nov = await get_json(hub, "/v1/usage", b_secret, start="2026-11-01", end="2026-11-30")
    assert b_nov["totals"]["requests"] == 1
    # the operator's own (state) tenant has no usage
    state = await get_json(hub, "/v1/usage", hub.operator_secret, start="2026-11-01", end="2026-12-31")
    assert (state["tenant_id"], state["data"], state["totals"]["requests"]) == (str(hub.state_tenant_id), [], 0)

    a_rows = await get_json(hub, "/v1/usage/requests", a_secret)
    assert a_rows["object"] == "list"
    assert [r["request_id"] for r in a_rows["data"]] == ["a-3", "a-2", "a-1"]  # newest first
    first = a_rows["data"][-1]
    assert (first["prompt_tokens"], first["completion_tokens"], first["api_key_id"], first["status"]) == (
        10,
        20,
        str(a_key),
        "ok",
    )
    assert [r["request_id"] for r in (await get_json(hub, "/v1/usage/requests", b_secret))["data"]] == ["b-2", "b-1"]
    assert [r["request_id"] for r in (await get_json(hub, "/v1/usage/requests", a_secret, limit=1))["data"]] == ["a-3"]
    # another tenant's request id is invisible
    assert (await get_json(hub, "/v1/usage/requests", a_secret, request_id="b-1"))["data"] == []
    own = await get_json(hub, "/v1/usage/requests", b_secret, request_id="b-1")
    assert [r["request_id"] for r in own["data"]] == ["b-1"]


async def test_usage_range_validation(hub: Hub) -> None:
    _, _, secret = await tenant_with_key(hub, "Wismar", "13074087")
    response = await hub.client.get(
        "/v1/usage", params={"start": "2026-11-30", "end": "2026-11-01"}, headers=hub.auth(secret)
    )
    assert_error(response, 400, param="start")
    too_long = await hub.client.get(
        "/v1/usage", params={"start": "2025-01-01", "end": "2026-11-01"}, headers=hub.auth(secret)
    )
    assert_error(too_long, 400, param="start")
    assert_error(await hub.client.get("/v1/usage", params={"start": "yesterday"}, headers=hub.auth(secret)), 400)
    assert_error(await hub.client.get("/v1/usage/requests", params={"limit": 0}, headers=hub.auth(secret)), 400)
    assert_error(await hub.client.get("/v1/usage"), 401, code="missing_api_key")
    default = await get_json(hub, "/v1/usage", secret)
    assert date.fromisoformat(default["start"]).day == 1
    assert default["start"][:7] == default["end"][:7]
