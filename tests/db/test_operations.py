"""The operations view (``GET /api/operations``): figures from the ledger, quota use, scoping, errors.

On SQLite and PostgreSQL. The sums are computed here from the rows the test writes, independently of
the service; the app runs in-process with one healthy backend (the fake vLLM on loopback) and one
that cannot be reached.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any
from uuid import UUID, uuid4

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import async_sessionmaker

from hub.app import create_app
from hub.audit.services import Actor
from hub.backends.models import Backend, Model, ModelGrant, ModelVisibility
from hub.operations.services import backend_health, model_availability, operations_overview, share
from hub.quotas.schemas import QuotaPolicySet
from hub.quotas.services import QuotaPolicyService
from hub.tenants.models import KeyRole, Tenant
from hub.tenants.schemas import KeyCreate, TenantCreate
from hub.tenants.services import ApiKeyService, TenantService
from hub.usage.services import UsageEntry, write_usage
from tests.db.conftest import create_state_and_operator, hub_settings
from tests.db.helpers import assert_error, usage_entry
from tests.support.fake_vllm import FakeVLLM
from tests.support.ports import free_port
from tests.support.servers import ThreadedServer

NOW = datetime(2026, 3, 15, 11, 0, tzinfo=UTC)
"""The fixed moment of the service tests: mid-March 2026."""


@dataclass
class Town:
    """A municipality with a tenant-admin key and a client key."""

    tenant: Tenant
    admin_secret: str
    client_key_id: UUID
    client_prefix: str


async def make_town(sessionmaker: async_sessionmaker, name: str, ags: str) -> Town:
    """A municipality with a tenant-admin key and a client key, created as the CLI would."""
    async with sessionmaker() as session, session.begin():
        tenant = await TenantService(session=session).create_tenant(
            TenantCreate(name=name, state="Mecklenburg-Vorpommern", ags=ags), Actor.cli()
        )
        keys = ApiKeyService(session=session)
        _, admin = await keys.issue(tenant, KeyCreate(label="admin", role=KeyRole.TENANT_ADMIN), Actor.cli())
        client, _ = await keys.issue(tenant, KeyCreate(label="chatbot", role=KeyRole.CLIENT), Actor.cli())
    return Town(tenant=tenant, admin_secret=admin.secret, client_key_id=client.id, client_prefix=client.prefix)


def entry(
    town: Town, at: datetime, *, model: str = "llama", prompt: int = 10, completion: int = 5, **kw: Any
) -> UsageEntry:
    """A ledger entry of ``town``'s client key."""
    return usage_entry(
        town.tenant.id, at, model=model, prompt=prompt, completion=completion, api_key_id=town.client_key_id, **kw
    )


async def set_policy(sessionmaker: async_sessionmaker, town: Town, **limits: Any) -> None:
    """Create or replace a quota policy of ``town``."""
    async with sessionmaker() as session, session.begin():
        await QuotaPolicyService(session=session).set_policy(town.tenant.id, QuotaPolicySet(**limits), Actor.cli())


async def add_models(sessionmaker: async_sessionmaker, *, granted_to: Town) -> None:
    """``llama`` for everyone, ``embed`` for everyone (no backend serves it), ``secret`` for one town."""
    async with sessionmaker() as session, session.begin():
        session.add(Model(name="llama", upstream_name="llama-upstream"))
        session.add(Model(name="embed", upstream_name="embed-upstream", kind="embedding"))
        secret = Model(name="secret", upstream_name="llama-upstream", visibility=ModelVisibility.GRANTED.value)
        session.add(secret)
        await session.flush()
        session.add(ModelGrant(tenant_id=granted_to.tenant.id, model_id=secret.id))


# --- the service, at a fixed moment -----------------------------------------------------------------


async def test_month_figures_and_quota_shares_equal_the_ledger_sums(sessionmaker: async_sessionmaker) -> None:
    a = await make_town(sessionmaker, "Schwerin", "13004000")
    b = await make_town(sessionmaker, "Rostock", "13003000")
    await add_models(sessionmaker, granted_to=b)
    await set_policy(sessionmaker, a, monthly_tokens=2000, requests_per_minute=60, max_concurrent=4)
    await set_policy(sessionmaker, a, model="llama", monthly_tokens=500)
    await set_policy(sessionmaker, a, api_key_id=a.client_key_id, monthly_tokens=300, tokens_per_minute=1000)
    other_key = uuid4()

    in_march = [
        entry(a, NOW - timedelta(hours=1), prompt=100, completion=50),
        entry(a, NOW - timedelta(days=3), prompt=40, completion=20, status="upstream_error"),
        entry(a, NOW - timedelta(days=5), model="embed", prompt=300, completion=0),
        # Another key of the same tenant: counts for the tenant and the model, not for the key's budget.
        usage_entry(a.tenant.id, NOW - timedelta(days=2), model="llama", prompt=7, completion=3, api_key_id=other_key),
        # 23:30 UTC on 28 February is 00:30 on 1 March in Germany: March.
        entry(a, datetime(2026, 2, 28, 23, 30, tzinfo=UTC), prompt=1, completion=1),
        entry(b, NOW - timedelta(hours=2), prompt=5000, completion=6000),
        entry(b, NOW - timedelta(hours=3), prompt=1, completion=0, status="client_error"),
    ]
    in_february = [
        entry(a, datetime(2026, 2, 28, 22, 30, tzinfo=UTC), prompt=999, completion=999),  # 23:30 in Germany
        entry(b, datetime(2026, 2, 10, 12, 0, tzinfo=UTC), prompt=999, completion=999),
    ]
    async with sessionmaker() as session, session.begin():
        await write_usage(session, in_march + in_february)

    def march(town: Town, **match: Any) -> list[UsageEntry]:
        return [
            e for e in in_march if e.tenant_id == town.tenant.id and all(getattr(e, k) == v for k, v in match.items())
        ]

    async with sessionmaker() as session:
        overview = await operations_overview(session, tenant_id=None, now=NOW)
    assert overview.month == "2026-03"
    assert overview.scope == "all"
    assert overview.backends == []
    by_name = {t.tenant_name: t for t in overview.tenants}
    assert list(by_name) == ["Rostock", "Schwerin"]
    for town in (a, b):
        got = by_name[town.tenant.name]
        rows = march(town)
        assert got.requests == len(rows)
        assert got.errors == sum(1 for e in rows if e.status != "ok")
        assert got.prompt_tokens == sum(e.prompt_tokens for e in rows)
        assert got.completion_tokens == sum(e.completion_tokens for e in rows)
        assert got.total_tokens == got.prompt_tokens + got.completion_tokens

    schwerin = by_name["Schwerin"]
    tenant_tokens = sum(e.prompt_tokens + e.completion_tokens for e in march(a))
    assert tenant_tokens == 150 + 60 + 300 + 10 + 2
    assert schwerin.monthly_tokens_limit == 2000
    assert schwerin.monthly_tokens_percent == round(100 * tenant_tokens / 2000, 1) == 26.1
    assert {m.model: m.requests for m in schwerin.by_model} == {"llama": 4, "embed": 1}

    policies = {p.scope: p for p in schwerin.policies}
    assert set(policies) == {"tenant", "model:llama", f"key:{a.client_key_id}"}
    assert policies["tenant"].monthly_tokens.used == tenant_tokens
    assert (policies["tenant"].requests_per_minute.limit, policies["tenant"].max_concurrent.limit) == (60, 4)
    # No live counters were passed: the per-minute figures are unknown, not zero.
    assert policies["tenant"].requests_per_minute.used is None
    assert policies["tenant"].requests_per_minute.percent is None
    llama_tokens = sum(e.prompt_tokens + e.completion_tokens for e in march(a, model="llama"))
    assert policies["model:llama"].monthly_tokens.used == llama_tokens == 150 + 60 + 10 + 2
    assert policies["model:llama"].monthly_tokens.percent == share(llama_tokens, 500) == 44.4
    key_tokens = sum(e.prompt_tokens + e.completion_tokens for e in march(a, api_key_id=a.client_key_id))
    key_policy = policies[f"key:{a.client_key_id}"]
    assert key_policy.api_key_prefix == a.client_prefix
    assert key_policy.monthly_tokens.used == key_tokens == 150 + 60 + 300 + 2
    assert key_policy.monthly_tokens.percent == round(100 * key_tokens / 300, 1) == 170.7
    assert key_policy.tokens_per_minute.limit == 1000

    rostock = by_name["Rostock"]
    assert rostock.policies == []
    assert (rostock.monthly_tokens_limit, rostock.monthly_tokens_percent) == (None, None)

    # Only Rostock's own figures and models in Rostock's view.
    async with sessionmaker() as session:
        mine = await operations_overview(session, tenant_id=b.tenant.id, now=NOW)
    assert mine.scope == "tenant"
    assert [t.tenant_name for t in mine.tenants] == ["Rostock"]
    assert mine.tenants[0] == rostock
    assert mine.backends is None
    assert {e.tenant_id for e in mine.errors} == {b.tenant.id}
    assert [m.model for m in mine.models] == ["embed", "llama", "secret"]


async def test_recent_errors_are_failed_rows_only_newest_first_limited(sessionmaker: async_sessionmaker) -> None:
    a = await make_town(sessionmaker, "Schwerin", "13004000")
    b = await make_town(sessionmaker, "Rostock", "13003000")
    statuses = ["upstream_error", "client_error", "unavailable", "client_disconnected"]
    failed = [
        entry(town, NOW - timedelta(minutes=10 * i), status=statuses[i % 4], request_id=f"fail-{i}")
        for i, town in enumerate([a, b, a, b, a, b, a])
    ]
    ok = [entry(a, NOW - timedelta(minutes=5 * i + 1), request_id=f"ok-{i}") for i in range(5)]
    too_old = entry(a, NOW - timedelta(days=8), status="upstream_error", request_id="fail-old")
    async with sessionmaker() as session, session.begin():
        await write_usage(session, [*ok, *failed, too_old])

    async with sessionmaker() as session:
        everyone = await operations_overview(session, tenant_id=None, now=NOW)
        limited = await operations_overview(session, tenant_id=None, now=NOW, error_limit=3)
        only_a = await operations_overview(session, tenant_id=a.tenant.id, now=NOW)

    assert [e.request_id for e in everyone.errors] == [f"fail-{i}" for i in range(7)]
    assert all(e.status != "ok" for e in everyone.errors)
    times = [e.created_at for e in everyone.errors]
    assert times == sorted(times, reverse=True)
    first = everyone.errors[0]
    assert (first.tenant_name, first.model, first.endpoint, first.http_status, first.error_code) == (
        "Schwerin",
        "llama",
        "chat.completions",
        502,
        "upstream_error",
    )
    assert [e.request_id for e in limited.errors] == ["fail-0", "fail-1", "fail-2"]
    assert [e.request_id for e in only_a.errors] == ["fail-0", "fail-2", "fail-4", "fail-6"]
    assert everyone.errors_since == NOW - timedelta(days=7)


def fake_state(name: str, served: set[str], healthy: bool | None, **load: Any) -> SimpleNamespace:
    """A stand-in for the gateway's ``BackendState``: the hub reads it duck-typed."""
    entry = SimpleNamespace(
        id=uuid4(),
        name=name,
        base_url=f"http://{name}.lan:8000",
        location="DE-MV",
        served_models=frozenset(served),
        max_concurrency=8,
    )
    return SimpleNamespace(
        entry=entry,
        healthy=healthy,
        running=load.get("running", 0.0),
        waiting=load.get("waiting", 0.0),
        in_flight=load.get("in_flight", 0),
        checked_at=NOW if healthy is not None else None,
        error=None if healthy is not False else "ClientConnectorError: connection refused",
    )


async def test_backend_states_and_model_availability(sessionmaker: async_sessionmaker) -> None:
    a = await make_town(sessionmaker, "Schwerin", "13004000")
    b = await make_town(sessionmaker, "Rostock", "13003000")
    await add_models(sessionmaker, granted_to=b)
    states = [
        fake_state("gpu1", {"llama-upstream"}, True, running=3.0, waiting=1.0, in_flight=2),
        fake_state("gpu2", {"embed-upstream"}, False),
    ]
    health = backend_health(states)
    assert [(h.name, h.state, h.running, h.waiting, h.in_flight) for h in health] == [
        ("gpu1", "healthy", 3.0, 1.0, 2),
        ("gpu2", "unhealthy", 0.0, 0.0, 0),
    ]
    assert health[1].error == "ClientConnectorError: connection refused"
    async with sessionmaker() as session:
        everyone = await model_availability(session, states)
        schwerin = await model_availability(session, states, tenant_id=a.tenant.id)
        rostock = await model_availability(session, states, tenant_id=b.tenant.id)
        unchecked = await model_availability(session, [fake_state("gpu3", {"embed-upstream"}, None)])
    assert {m.model: m.available for m in everyone} == {"embed": False, "llama": True, "secret": True}
    assert {m.model: m.available for m in schwerin} == {"embed": False, "llama": True}
    assert {m.model: m.available for m in rostock} == {"embed": False, "llama": True, "secret": True}
    # The gateway tries a backend it has not checked yet, so its models count as available.
    assert {m.model: m.available for m in unchecked}["embed"] is True


# --- the API, in-process with a running gateway -------------------------------------------------------


@dataclass
class Ops:
    """The app with two towns, their keys, an operator key and two backends."""

    client: AsyncTestClient
    app: Any
    sessionmaker: async_sessionmaker
    """On the test's event loop (the app's own runs on the test client's)."""
    operator_secret: str
    a: Town
    b: Town

    async def get(self, secret: str, **params: Any) -> Any:
        """``GET /api/operations`` as the holder of ``secret``."""
        return await self.client.get("/api/operations", params=params, headers={"Authorization": f"Bearer {secret}"})


@pytest.fixture
def fake_vllm() -> Iterator[ThreadedServer]:
    """A healthy backend on loopback."""
    server = ThreadedServer(FakeVLLM(model="llama-upstream")).start()
    yield server
    server.stop()


@pytest.fixture
async def ops(db_url: str, sessionmaker: async_sessionmaker, fake_vllm: ThreadedServer) -> AsyncIterator[Ops]:
    """The hub with its world set up before it starts (the gateway loads backends at startup)."""
    _, operator_secret, _ = await create_state_and_operator(sessionmaker)
    a = await make_town(sessionmaker, "Schwerin", "13004000")
    b = await make_town(sessionmaker, "Rostock", "13003000")
    await add_models(sessionmaker, granted_to=b)
    await set_policy(sessionmaker, a, monthly_tokens=1000)
    await set_policy(sessionmaker, b, monthly_tokens=50_000, requests_per_minute=100)
    async with sessionmaker() as session, session.begin():
        session.add(
            Backend(
                name="gpu-schwerin-1",
                base_url=fake_vllm.url,
                location="DE-MV-Schwerin",
                served_models=["llama-upstream"],
                max_concurrency=8,
            )
        )
        session.add(
            Backend(
                name="gpu-rostock-1",
                base_url=f"http://127.0.0.1:{free_port()}",
                location="DE-MV-Rostock",
                served_models=["embed-upstream"],
            )
        )
    app = create_app(hub_settings(db_url))
    async with AsyncTestClient(app=app) as client:
        yield Ops(client=client, app=app, sessionmaker=sessionmaker, operator_secret=operator_secret, a=a, b=b)


async def test_operators_see_every_tenant_the_backends_and_all_errors(ops: Ops) -> None:
    now = datetime.now(UTC)
    # Queued in the gateway's ledger, not yet written: the view flushes it first.
    ops.app.state.ledger.add(entry(ops.a, now, prompt=200, completion=50, request_id="a-ok"))
    ops.app.state.ledger.add(entry(ops.a, now, status="upstream_error", request_id="a-failed"))
    ops.app.state.ledger.add(entry(ops.b, now, prompt=30_000, completion=10_000, request_id="b-ok"))
    ops.app.state.ledger.add(entry(ops.b, now, status="client_error", request_id="b-failed"))

    response = await ops.get(ops.operator_secret)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["scope"] == "all"
    tenants = {t["tenant_name"]: t for t in body["tenants"]}
    assert set(tenants) == {"Land Mecklenburg-Vorpommern", "Schwerin", "Rostock"}
    schwerin, rostock = tenants["Schwerin"], tenants["Rostock"]
    assert (schwerin["requests"], schwerin["errors"], schwerin["total_tokens"]) == (2, 1, 265)
    assert (schwerin["monthly_tokens_limit"], schwerin["monthly_tokens_percent"]) == (1000, 26.5)
    assert (rostock["requests"], rostock["errors"], rostock["total_tokens"]) == (2, 1, 40_015)
    assert (rostock["monthly_tokens_limit"], rostock["monthly_tokens_percent"]) == (50_000, 80.0)
    # The live counters of the in-process gateway are read: nothing ran through it in this test.
    rpm = rostock["policies"][0]["requests_per_minute"]
    assert rpm == {"limit": 100, "used": 0, "percent": 0.0}

    backends = {b["name"]: b for b in body["backends"]}
    assert set(backends) == {"gpu-schwerin-1", "gpu-rostock-1"}
    assert backends["gpu-schwerin-1"]["state"] == "healthy"
    assert backends["gpu-schwerin-1"]["models"] == ["llama-upstream"]
    assert backends["gpu-schwerin-1"]["max_concurrency"] == 8
    assert backends["gpu-schwerin-1"]["checked_at"] is not None
    assert backends["gpu-rostock-1"]["state"] == "unhealthy"
    assert backends["gpu-rostock-1"]["error"]
    assert {m["model"]: m["available"] for m in body["models"]} == {"embed": False, "llama": True, "secret": True}
    assert {e["request_id"] for e in body["errors"]} == {"a-failed", "b-failed"}
    assert all("prompt" not in key and "completion" not in key for e in body["errors"] for key in e)


async def test_a_tenant_admin_sees_only_the_own_tenant(ops: Ops) -> None:
    now = datetime.now(UTC)
    async with ops.sessionmaker() as session, session.begin():
        await write_usage(
            session,
            [
                entry(ops.a, now, prompt=200, completion=50, request_id="a-ok"),
                entry(ops.a, now, status="upstream_error", request_id="a-failed"),
                entry(ops.b, now, prompt=30_000, completion=10_000, request_id="b-ok"),
                entry(ops.b, now, status="client_error", request_id="b-failed"),
            ],
        )
    response = await ops.get(ops.a.admin_secret)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["scope"] == "tenant"
    assert [t["tenant_name"] for t in body["tenants"]] == ["Schwerin"]
    assert body["tenants"][0]["total_tokens"] == 265
    assert [e["request_id"] for e in body["errors"]] == ["a-failed"]
    # Shared infrastructure stays hidden: no backend names, URLs or load, only whether models work.
    assert body["backends"] is None
    assert {m["model"]: m["available"] for m in body["models"]} == {"embed": False, "llama": True}
    text = response.text
    for foreign in ("Rostock", str(ops.b.tenant.id), "b-failed", "40015", "gpu-", "127.0.0.1", "secret"):
        assert foreign not in text, foreign

    rostock = (await ops.get(ops.b.admin_secret)).json()
    assert [t["tenant_name"] for t in rostock["tenants"]] == ["Rostock"]
    assert [e["request_id"] for e in rostock["errors"]] == ["b-failed"]
    assert "secret" in {m["model"] for m in rostock["models"]}


async def test_the_error_limit_is_checked(ops: Ops) -> None:
    now = datetime.now(UTC)
    async with ops.sessionmaker() as session, session.begin():
        await write_usage(
            session,
            [entry(ops.a, now - timedelta(seconds=i), status="upstream_error", request_id=f"e-{i}") for i in range(5)],
        )
    body = (await ops.get(ops.operator_secret, errors=2)).json()
    assert [e["request_id"] for e in body["errors"]] == ["e-0", "e-1"]
    assert_error(await ops.get(ops.operator_secret, errors=0), 400)
    assert_error(await ops.get(ops.operator_secret, errors=201), 400)
    assert_error(await ops.get(ops.a.admin_secret, errors="viele"), 400)
