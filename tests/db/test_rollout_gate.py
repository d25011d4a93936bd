"""The rollout gate end to end: requirements, published reports, overrides, and the gateway's 403.

Requests go through the real ``/v1`` routes to fake vLLM servers on loopback, with API keys of
different use cases and a signed-in person (no use case), on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner, Result
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from catalog.models import UseCase
from hub.app import create_app
from hub.audit.models import AuditEvent
from hub.audit.services import Actor
from hub.cli import main as kiverbund
from hub.kipass.models import KiPass
from hub.rollout.gate import OverrideGrant, ReportFact, RequirementRule, build_gates, judge_requirement
from hub.tenants.models import KeyRole, TenantKind
from hub.tenants.schemas import KeyCreate, TenantCreate
from hub.tenants.services import ApiKeyService, TenantService
from tests.db.conftest import create_state_and_operator, signed_in_settings
from tests.db.helpers import assert_error
from tests.support.fake_keycloak import FakeKeycloak
from tests.support.fake_vllm import FakeVLLM
from tests.support.servers import ThreadedServer

CHATBOT, WASTE_APP = "buerger-chatbot", "abfall-app"
QA, BIAS = "buergerservice-qa", "bias-de"


@pytest.fixture(scope="module")
def realm() -> Iterator[FakeKeycloak]:
    """A member of Schwerin's staff (people have no use case)."""
    with FakeKeycloak() as fake:
        fake.add_user("mia", ["staff"], organization=["schwerin"])
        yield fake


@dataclass
class Upstream:
    """A fake vLLM engine on a loopback port."""

    app: FakeVLLM
    server: ThreadedServer


@pytest.fixture
def upstreams() -> Iterator[dict[str, Upstream]]:
    """A fake chat engine and a fake embedding engine."""
    apps = {"fake": FakeVLLM("fake", tokens=3), "fake-embed": FakeVLLM("fake-embed", embedding=True)}
    started = {name: Upstream(app, ThreadedServer(app).start()) for name, app in apps.items()}
    yield started
    for upstream in started.values():
        upstream.server.stop()


@dataclass
class Gate:
    """The hub with a gated model, keys of two use cases, an evaluator and a signed-in person."""

    client: AsyncTestClient
    sessionmaker: async_sessionmaker
    realm: FakeKeycloak
    upstreams: dict[str, Upstream]
    keys: dict[str, str]
    operator: dict[str, str]
    operator_prefix: str
    state_id: Any
    db_url: str

    def auth(self, who: str) -> dict[str, str]:
        """Headers for ``operator``, ``mia`` (a person), or a key: ``chatbot``, ``waste``, ``evaluator``."""
        if who == "operator":
            return self.operator
        if who == "mia":
            return {"Authorization": f"Bearer {self.realm.token_for('mia')}"}
        return {"Authorization": f"Bearer {self.keys[who]}"}

    @property
    def registry(self) -> Any:
        return self.client.app.state.gateway.registry

    async def changed(self, action: Awaitable[httpx.Response], status: int = 200) -> httpx.Response:
        """Run an admin ``action`` and wait until the gateway reloaded its registry after it."""
        before = self.registry.version
        response = await action
        assert response.status_code == status, response.text
        deadline = asyncio.get_running_loop().time() + 5
        while self.registry.version <= before:
            assert asyncio.get_running_loop().time() < deadline, "the gateway did not reload its registry"
            await asyncio.sleep(0.01)
        return response

    async def refresh(self) -> None:
        """Make the running hub reload its registry now, as it would at its next periodic refresh.

        (Through an admin call that announces a registry change: the app runs on its own event loop.)
        """
        patch = self.client.patch(f"/api/admin/tenants/{self.state_id}", headers=self.operator, json={"weight": 1.0})
        await self.changed(patch)

    async def chat(self, who: str, model: str = "fake") -> httpx.Response:
        body = {"model": model, "messages": [{"role": "user", "content": "Wann ist das Bürgerbüro offen?"}]}
        return await self.client.post("/v1/chat/completions", headers=self.auth(who), json={**body, "max_tokens": 3})

    async def status_of(self, who: str) -> int:
        return (await self.chat(who)).status_code

    async def require(self, suites: list[str], use_case: str | None = None, model: str = "fake") -> dict[str, Any]:
        body = {"model": model, "use_case": use_case, "suites": suites}
        put = self.client.put("/api/admin/rollout/requirements", headers=self.operator, json=body)
        return (await self.changed(put)).json()

    async def publish(
        self, suite: str, *, passed: bool, use_case: str = CHATBOT, finished: str = "2026-11-22T10:00:00Z"
    ) -> dict[str, Any]:
        post = self.client.post(
            "/api/evaluations", headers=self.auth("evaluator"), json=report(suite, passed, use_case, finished)
        )
        return (await self.changed(post, 201)).json()

    async def withdraw(self, evaluation_id: str) -> None:
        post = self.client.post(
            f"/api/admin/evaluations/{evaluation_id}/withdraw",
            headers=self.operator,
            json={"reason": "Fehlerhafter Lauf"},
        )
        await self.changed(post)


def report(suite: str, passed: bool, use_case: str, finished: str, model: str = "fake") -> dict[str, Any]:
    """A report of one suite whose gate passed or failed."""
    check = {"metric": "score", "op": ">=", "threshold": 0.5, "value": 0.8 if passed else 0.2, "passed": passed}
    return {
        "schema": "kiverbund.eval-report/1",
        "id": uuid.uuid4().hex,
        "suite": {"name": suite, "version": "1.0.0", "kind": "bias" if suite == BIAS else "qa", "use_case": use_case},
        "model": model,
        "started_at": "2026-11-01T00:00:00Z",
        "finished_at": finished,
        "metrics": {"score": {"value": check["value"], "n": 10, "failures": 0}},
        "gate": {"passed": passed, "checks": [check]},
    }


async def _world(sessionmaker: async_sessionmaker) -> tuple[dict[str, str], str, str, Any]:
    state, operator_secret, operator_prefix = await create_state_and_operator(sessionmaker)
    keys: dict[str, str] = {}
    async with sessionmaker() as session, session.begin():
        town = await TenantService(session=session).create_tenant(
            TenantCreate(
                name="Schwerin", state="MV", ags="13004000", kind=TenantKind.MUNICIPALITY, org_alias="schwerin"
            ),
            Actor.cli(),
        )
        issuer = ApiKeyService(session=session)
        for name, role, use_case in (
            ("chatbot", KeyRole.CLIENT, CHATBOT),
            ("waste", KeyRole.CLIENT, WASTE_APP),
            ("evaluator", KeyRole.EVALUATOR, CHATBOT),
        ):
            _, new = await issuer.issue(town, KeyCreate(label=name, role=role, use_case=use_case), Actor.cli())
            keys[name] = new.secret
        today = date.today()
        session.add(
            KiPass(
                tenant_id=town.id,
                username="mia",
                training_completed_on=today - timedelta(days=3),
                guidelines_acknowledged_on=today - timedelta(days=3),
                service_agreement_acknowledged_on=today - timedelta(days=3),
            )
        )
        for slug in (CHATBOT, WASTE_APP):
            session.add(
                UseCase(
                    slug=slug,
                    title=slug,
                    status="released",
                    area="citizen_services",
                    ai_function="chat_assistant",
                    risk_class="minimal",
                    content={"title": slug, "summary": "Ein Anwendungsfall für den Test."},
                )
            )
    return keys, operator_secret, operator_prefix, state.id


@pytest.fixture
async def gate(
    db_url: str,
    sessionmaker: async_sessionmaker,
    realm: FakeKeycloak,
    upstreams: dict[str, Upstream],
    tmp_path: Path,
) -> AsyncIterator[Gate]:
    """The hub in-process with sign-in, two fake engines registered and both models served."""
    keys, operator_secret, operator_prefix, state_id = await _world(sessionmaker)
    app = create_app(signed_in_settings(db_url, realm.server_url, tmp_path))
    async with AsyncTestClient(app=app) as client:
        world = Gate(
            client=client,
            sessionmaker=sessionmaker,
            realm=realm,
            upstreams=upstreams,
            keys=keys,
            operator={"Authorization": f"Bearer {operator_secret}"},
            operator_prefix=operator_prefix,
            state_id=state_id,
            db_url=db_url,
        )
        for name, kind in (("fake", "chat"), ("fake-embed", "embedding")):
            url = upstreams[name].server.url
            backend = {"name": f"b-{name}", "base_url": url, "location": "DE-MV", "served_models": [name]}
            await world.changed(client.post("/api/admin/backends", headers=world.operator, json=backend), 201)
            model = {"name": name, "upstream_name": name, "kind": kind}
            await world.changed(client.post("/api/admin/models", headers=world.operator, json=model), 201)
        deadline = asyncio.get_running_loop().time() + 10
        while await world.status_of("chatbot") != 200:  # the backends' first health check
            assert asyncio.get_running_loop().time() < deadline, (await world.chat("chatbot")).text
            await asyncio.sleep(0.05)
        yield world


async def audit(sessionmaker: async_sessionmaker, action: str) -> list[AuditEvent]:
    async with sessionmaker() as session:
        rows = await session.execute(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id))
        return list(rows.scalars())


# --- the gateway's refusal ---------------------------------------------------------------------


async def test_a_requirement_without_reports_refuses_chat_completions_and_embeddings(gate: Gate) -> None:
    client = gate.client
    await gate.require([QA])
    await gate.require(["retrieval"], model="fake-embed")
    served_before = len(gate.upstreams["fake"].app.seen)

    error = assert_error(await gate.chat("chatbot"), 403, code="model_not_released", param="model")
    assert error["type"] == "permission_error"
    message = error["message"]
    assert "`fake`" in message and "use case 'buerger-chatbot'" in message
    assert f"no published {QA!r} report (any use case)" in message
    assert "override" in message

    completion = await client.post(
        "/v1/completions", headers=gate.auth("waste"), json={"model": "fake", "prompt": "Hallo", "max_tokens": 3}
    )
    assert_error(completion, 403, code="model_not_released")
    embedding = await client.post(
        "/v1/embeddings", headers=gate.auth("chatbot"), json={"model": "fake-embed", "input": "Abfallkalender"}
    )
    error = assert_error(embedding, 403, code="model_not_released")
    assert "no published 'retrieval' report" in error["message"]
    assert len(gate.upstreams["fake"].app.seen) == served_before, "a refused request must not reach the engine"

    # Evaluators measure models before their release: the gate does not apply to them.
    assert await gate.status_of("evaluator") == 200
    # /v1/models keeps listing the model: release depends on the caller's use case.
    listed = await client.get("/v1/models", headers=gate.auth("chatbot"))
    assert {m["id"] for m in listed.json()["data"]} == {"fake", "fake-embed"}
    # The refusal is in the tenant's ledger like any other client error (the endpoint flushes the ledger).
    rows = (await client.get("/v1/usage/requests", headers=gate.auth("chatbot"))).json()["data"]
    assert any(r["error_code"] == "model_not_released" and r["http_status"] == 403 for r in rows)


async def test_a_passing_report_releases_and_a_newer_failing_one_blocks_again(gate: Gate) -> None:
    await gate.require([QA, BIAS])
    first = await gate.publish(QA, passed=True, finished="2026-11-10T10:00:00Z")
    error = assert_error(await gate.chat("chatbot"), 403, code="model_not_released")
    assert f"no published {BIAS!r} report" in error["message"] and QA not in error["message"]

    await gate.publish(BIAS, passed=True, finished="2026-11-10T11:00:00Z")
    assert await gate.status_of("chatbot") == 200

    failing = await gate.publish(QA, passed=False, finished="2026-11-20T10:00:00Z")
    error = assert_error(await gate.chat("chatbot"), 403, code="model_not_released")
    assert f"latest {QA!r} report failed" in error["message"]
    assert failing["id"] in error["message"]

    # A passing run that finished before the failing one does not lift it: the latest run counts.
    older = await gate.publish(QA, passed=True, finished="2026-11-15T10:00:00Z")
    assert await gate.status_of("chatbot") == 403

    # A withdrawn report does not count: the older passing run is the latest again.
    await gate.withdraw(failing["id"])
    assert await gate.status_of("chatbot") == 200
    await gate.withdraw(older["id"])
    await gate.withdraw(first["id"])
    error = assert_error(await gate.chat("chatbot"), 403, code="model_not_released")
    assert f"no published {QA!r} report" in error["message"]


async def test_overrides_release_until_revoked_or_expired_and_are_audited(gate: Gate) -> None:
    client = gate.client
    await gate.require([QA])
    assert await gate.status_of("chatbot") == 403
    path = "/api/admin/rollout/overrides"
    for body, param in (
        ({"model": "fake", "reason": "zu kurz"}, "reason"),
        ({"model": "fake", "reason": "          x"}, "reason"),
        ({"model": "fake", "reason": "Pilot unter Aufsicht", "expires_at": "2020-01-01T00:00:00Z"}, "expires_at"),
        ({"model": "nope", "reason": "Pilot unter Aufsicht"}, "model"),
        ({"model": "fake", "use_case": "gibt-es-nicht", "reason": "Pilot unter Aufsicht"}, "use_case"),
    ):
        assert_error(await client.post(path, headers=gate.operator, json=body), 400, param=param)
    assert await audit(gate.sessionmaker, "rollout.override.grant") == []

    granted = await gate.changed(
        client.post(path, headers=gate.operator, json={"model": "fake", "reason": "Pilot unter Aufsicht"}), 201
    )
    override = granted.json()
    assert override["active"] is True and override["created_by"] == f"key:{gate.operator_prefix}"
    assert await gate.status_of("chatbot") == 200
    assert await gate.status_of("mia") == 200
    status = (await client.get("/api/admin/rollout/status?model=fake", headers=gate.operator)).json()
    assert status["released"] is True
    assert [(r["released"], r["by"], r["override_id"]) for r in status["requirements"]] == [
        (True, "override", override["id"])
    ]
    [event] = await audit(gate.sessionmaker, "rollout.override.grant")
    assert event.actor == f"key:{gate.operator_prefix}" and event.target_id == override["id"]
    assert event.before is None
    assert event.after["reason"] == "Pilot unter Aufsicht" and event.after["active"] is True

    revoke = f"{path}/{override['id']}/revoke"
    revoked = (await gate.changed(client.post(revoke, headers=gate.operator))).json()
    assert revoked["active"] is False and revoked["revoked_by"] == f"key:{gate.operator_prefix}"
    assert await gate.status_of("chatbot") == 403
    assert_error(await client.post(revoke, headers=gate.operator), 409)
    assert_error(await client.post(f"{path}/{uuid.uuid4()}/revoke", headers=gate.operator), 404)
    [event] = await audit(gate.sessionmaker, "rollout.override.revoke")
    assert event.before["active"] is True and event.before["revoked_at"] is None
    assert event.after["active"] is False and event.after["revoked_at"]

    # An override for one use case releases the model for that use case only.
    await gate.changed(
        client.post(
            path, headers=gate.operator, json={"model": "fake", "use_case": WASTE_APP, "reason": "Abfall-Pilot"}
        ),
        201,
    )
    assert (await gate.status_of("waste"), await gate.status_of("chatbot"), await gate.status_of("mia")) == (
        200,
        403,
        403,
    )

    # An expired override stops counting at once, without waiting for a registry reload.
    expires = (datetime.now(UTC) + timedelta(seconds=1.5)).isoformat()
    body = {"model": "fake", "use_case": CHATBOT, "reason": "Kurzer Test", "expires_at": expires}
    await gate.changed(client.post(path, headers=gate.operator, json=body), 201)
    assert await gate.status_of("chatbot") == 200
    version = gate.registry.version
    await asyncio.sleep(1.6)
    assert await gate.status_of("chatbot") == 403
    assert gate.registry.version == version
    listed = (await client.get(f"{path}?model=fake", headers=gate.operator)).json()
    assert [o["active"] for o in listed] == [False, True, False]  # newest first: expired, waste app, revoked
    assert len((await client.get(f"{path}?active=true", headers=gate.operator)).json()) == 1


async def test_use_case_requirements_apply_to_their_use_case_and_people_only_to_model_wide_ones(gate: Gate) -> None:
    await gate.require([BIAS], use_case=CHATBOT)
    assert await gate.status_of("chatbot") == 403
    assert await gate.status_of("waste") == 200
    assert await gate.status_of("mia") == 200  # a person has no use case

    await gate.require([QA])  # model-wide
    error = assert_error(await gate.chat("mia"), 403, code="model_not_released")
    assert "for callers without a use case" in error["message"]
    assert await gate.status_of("waste") == 403
    error = assert_error(await gate.chat("chatbot"), 403)
    assert QA in error["message"] and BIAS in error["message"]

    # A model-wide requirement counts reports of any use case.
    await gate.publish(QA, passed=True, use_case=WASTE_APP)
    assert (await gate.status_of("mia"), await gate.status_of("waste")) == (200, 200)
    error = assert_error(await gate.chat("chatbot"), 403)
    assert (
        QA not in error["message"] and f"no published {BIAS!r} report (use case 'buerger-chatbot')" in error["message"]
    )

    # A use-case requirement counts only reports of its use case.
    await gate.publish(BIAS, passed=True, use_case=WASTE_APP)
    assert await gate.status_of("chatbot") == 403
    await gate.publish(BIAS, passed=True, use_case=CHATBOT)
    assert await gate.status_of("chatbot") == 200

    status = (
        await gate.client.get(f"/api/admin/rollout/status?model=fake&use_case={CHATBOT}", headers=gate.operator)
    ).json()
    assert status["released"] is True
    assert [(r["use_case"], r["by"]) for r in status["requirements"]] == [(None, "reports"), (CHATBOT, "reports")]
    suites = status["requirements"][1]["suites"]
    assert [(s["suite"], s["passed"], s["use_case"]) for s in suites] == [(BIAS, True, CHATBOT)]


# --- the admin API and the CLI -------------------------------------------------------------------


async def test_requirements_are_upserted_validated_audited_and_reported(gate: Gate) -> None:
    client = gate.client
    path = "/api/admin/rollout/requirements"
    created = await gate.require([QA])
    replaced = await gate.require([QA, BIAS])
    assert replaced["id"] == created["id"] and replaced["suites"] == [QA, BIAS]
    for body, param in (
        ({"model": "nope", "suites": [QA]}, "model"),
        ({"model": "fake", "use_case": "gibt-es-nicht", "suites": [QA]}, "use_case"),
        ({"model": "fake", "suites": [QA, QA]}, "suites"),
    ):
        assert_error(await client.put(path, headers=gate.operator, json=body), 400, param=param)
    for body in ({"model": "fake", "suites": []}, {"model": "fake", "suites": ["Not A Suite"]}, {"model": "fake"}):
        assert_error(await client.put(path, headers=gate.operator, json=body), 400)
    per_use_case = await gate.require([BIAS], use_case=CHATBOT)
    # PUT upserts by (model, use case): the same requirement comes back; an unknown field is refused.
    body = {"model": "fake", "use_case": CHATBOT, "suites": [BIAS]}
    again = await gate.changed(client.put(path, headers=gate.operator, json=body))
    assert again.json()["id"] == per_use_case["id"] and again.json()["use_case"] == CHATBOT
    assert_error(await client.put(path, headers=gate.operator, json={**body, "use_case_slug": CHATBOT}), 400)
    listed = (await client.get(path, headers=gate.operator)).json()
    assert [(r["use_case"], r["suites"]) for r in listed] == [(None, [QA, BIAS]), (CHATBOT, [BIAS])]

    await gate.publish(QA, passed=False)
    status = (await client.get("/api/admin/rollout/status", headers=gate.operator)).json()
    assert status["released"] is False
    model_wide, chatbot = status["requirements"]
    assert (model_wide["released"], model_wide["by"]) == (False, None)
    assert [s["suite"] for s in model_wide["suites"]] == [QA, BIAS]
    qa, bias = model_wide["suites"]
    assert qa["passed"] is False and qa["report_id"] and qa["finished_at"].startswith("2026-11-22T10:00:00")
    assert "failed" in qa["reason"] and bias["report_id"] is None and "no published" in bias["reason"]
    assert model_wide["reason"] == f"{qa['reason']}; {bias['reason']}"
    assert chatbot["use_case"] == CHATBOT and chatbot["released"] is False
    # With a use case: only what a caller with it is subject to.
    narrowed = (await client.get(f"/api/admin/rollout/status?use_case={WASTE_APP}", headers=gate.operator)).json()
    assert [r["use_case"] for r in narrowed["requirements"]] == [None]

    await gate.changed(client.delete(f"{path}/{per_use_case['id']}", headers=gate.operator), 204)
    assert_error(await client.delete(f"{path}/{per_use_case['id']}", headers=gate.operator), 404)
    assert [r["use_case"] for r in (await client.get(path, headers=gate.operator)).json()] == [None]

    sets = await audit(gate.sessionmaker, "rollout.requirement.set")
    assert [e.before and e.before["suites"] for e in sets] == [None, [QA], None, [BIAS]]
    assert sets[1].after["suites"] == [QA, BIAS]
    [deleted] = await audit(gate.sessionmaker, "rollout.requirement.delete")
    assert deleted.before["use_case"] == CHATBOT and deleted.after is None
    assert deleted.actor == f"key:{gate.operator_prefix}"
    # Only operators: an evaluator may publish reports but not set the gate.
    assert_error(await client.get(path, headers=gate.auth("evaluator")), 403)


async def test_cli_rollout_commands(gate: Gate) -> None:
    runner = CliRunner()

    async def cli(*args: str) -> Result:
        return await asyncio.to_thread(
            runner.invoke, kiverbund, list(args), env={"KIVERBUND_DATABASE_URL": gate.db_url}, catch_exceptions=False
        )

    done = await cli("rollout", "require", "--model", "fake", "--suite", QA, "--suite", BIAS)
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["suites"] == [QA, BIAS]
    bad = await cli("rollout", "require", "--model", "nope", "--suite", QA)
    assert bad.exit_code != 0 and "nope" in bad.output
    # A running hub picks CLI changes up with its next registry refresh.
    await gate.refresh()
    assert await gate.status_of("chatbot") == 403

    status = json.loads((await cli("rollout", "status", "--model", "fake")).stdout)
    assert status["released"] is False and status["active_overrides"] == []
    assert [s["reason"] is not None for s in status["requirements"][0]["suites"]] == [True, True]

    short = await cli("rollout", "override", "--model", "fake", "--reason", "kurz")
    assert short.exit_code != 0 and "10 characters" in short.output
    later = (datetime.now(UTC) + timedelta(days=7)).isoformat()
    done = await cli("rollout", "override", "--model", "fake", "--reason", "Pilot bis Monatsende", "--expires", later)
    assert done.exit_code == 0, done.output
    override = json.loads(done.stdout)
    await gate.refresh()
    assert await gate.status_of("chatbot") == 200
    status = json.loads((await cli("rollout", "status")).stdout)
    assert status["requirements"][0]["by"] == "override" and len(status["active_overrides"]) == 1

    done = await cli("rollout", "revoke", override["id"])
    assert done.exit_code == 0, done.output
    await gate.refresh()
    assert await gate.status_of("chatbot") == 403
    actors = {e.actor for a in ("rollout.requirement.set", "rollout.override.grant", "rollout.override.revoke")
              for e in await audit(gate.sessionmaker, a)}  # fmt: skip
    assert len(actors) == 1 and actors.pop().startswith("cli:")


# --- the decision itself, without a database ----------------------------------------------------

T0 = datetime(2026, 11, 22, 10, tzinfo=UTC)


def _fact(suite: str, passed: bool, *, use_case: str = CHATBOT, finished: int = 0, published: int = 0) -> ReportFact:
    return ReportFact(
        id=uuid.uuid4(),
        model="fake",
        use_case=use_case,
        suite=suite,
        passed=passed,
        finished_at=T0 + timedelta(hours=finished),
        published_at=T0 + timedelta(hours=published),
    )


def test_the_latest_run_decides_and_ties_go_to_the_later_publication() -> None:
    rule = RequirementRule(id=uuid.uuid4(), model="fake", use_case=None, suites=(QA,))
    older_pass, newer_fail = _fact(QA, True, finished=1), _fact(QA, False, finished=2)
    assert not judge_requirement(rule, [newer_fail, older_pass]).met_by_reports
    republished = _fact(QA, True, finished=2, published=5)  # the same run time, published later
    assert judge_requirement(rule, [newer_fail, older_pass, republished]).met_by_reports
    other_model = dataclasses.replace(_fact(QA, True, finished=9), model="other")
    assert not judge_requirement(rule, [newer_fail, other_model]).met_by_reports


def test_gate_decisions_for_use_cases_people_and_overrides() -> None:
    wide = RequirementRule(id=uuid.uuid4(), model="fake", use_case=None, suites=(QA,))
    chatbot = RequirementRule(id=uuid.uuid4(), model="fake", use_case=CHATBOT, suites=(BIAS,))
    facts = [_fact(QA, True, use_case=WASTE_APP)]
    gates = build_gates([wide, chatbot], [], facts)
    assert gates["fake"].refusal(None, T0) is None
    assert gates["fake"].refusal(WASTE_APP, T0) is None
    assert BIAS in (gates["fake"].refusal(CHATBOT, T0) or "")
    grant = OverrideGrant(id=uuid.uuid4(), model="fake", use_case=CHATBOT, expires_at=T0 + timedelta(hours=1))
    gates = build_gates([wide, chatbot], [grant], facts)
    assert gates["fake"].refusal(CHATBOT, T0) is None
    assert gates["fake"].refusal(CHATBOT, T0 + timedelta(hours=2)) is not None
    assert build_gates([], [grant], facts) == {}
