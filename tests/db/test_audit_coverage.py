"""Every admin and editor action leaves exactly one audit event: every mutating route against one table.

``CASES`` maps each mutating route of the real app (POST, PUT, PATCH, DELETE under ``/api/`` and the
register editor's web forms) to a request that performs it, and to the audit event it must write.
The test walks the app's route table like ``test_access_matrix.py`` does, so a new mutating route
without a case (or an explicit exclusion with its reason in ``NOT_AUDITED``) fails here.

For each route: a caller without the right (403), a bad body (400/422) and a refused repeat
(409/404/410) write nothing; the performed request writes exactly one event with the right action,
target, actor and before/after snapshots, and without any secret; an accepted repeat writes one more.
At the end the hash chain over all of it is intact.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select, update

from catalog.models import ExperienceReport, RegisterEntry, RegisterVersion
from hub.audit.chain import verify_chain
from hub.audit.models import AuditEvent
from hub.tenants.models import Tenant
from tests.db import test_access_matrix as matrix
from tests.db.test_access_matrix import (
    EVALUATION_BODY,
    KEY_CLIENT,
    KEY_EVALUATOR,
    KEY_OPERATOR,
    KEY_TENANT_ADMIN,
    REGISTER_BODY,
    REPORT_BODY,
    World,
)

# The access matrix's world (tenants, keys of every role, a use case, models) on both databases.
realm = matrix.realm
matrix_app = matrix.matrix_app

CREATE, UPDATE, DELETE = "create", "update", "delete"
"""Which snapshots an event has: ``after`` only, both, ``before`` only."""

USE_CASE = {
    "title": "Posteingang sortieren",
    "summary": "Eingehende Post wird dem zuständigen Fachbereich zugeordnet.",
    "area": "organisation",
    "ai_function": "classification",
    "ai_act": {"risk_class": "minimal"},
    "recipe": {"model": "chat-small", "system_prompt": "GEHEIMER-SYSTEMPROMPT", "example_inputs": ["Hallo"]},
}
FUNDING = {
    "slug": "digitales-land",
    "name": "Digitales Land",
    "level": "land",
    "scope": "Digitalisierung der Kommunen",
    "link": "https://example.org/foerderung",
}
REGISTER_FORM = {
    "slug": "formular-eintrag",
    "name": "Formular-Eintrag",
    "description_short": "Ein Eintrag, der über das Formular entsteht.",
    "category": "social",
    "status": "planned",
    "contact_email": "ki@schwerin.example",
    "publication_category": "other",
    "ai_act.risk_class": "minimal",
    "ai_act.role": "deployer",
}
UPSTREAM_SECRET = "upstream-secret-do-not-log"
ROTATED_SECRET = "rotated-upstream-secret-do-not-log"
BAD_JSON = ["not", "an", "object"]


@dataclass(frozen=True)
class Case:
    """How to perform one route, and the audit event it must write."""

    caller: str
    action: str
    target_type: str
    kind: str = UPDATE
    body: Any = None
    form: dict[str, Any] | None = None
    bad_form: dict[str, Any] | None = None
    """A form the route refuses (422)."""
    target: str | None = None
    """The path parameter naming the target, ``"response"`` for the created object's id, or None (not checked)."""
    other_tenant: bool = False
    """Operator routes naming a tenant act on Lübeck (not the state itself)."""
    state: str | None = None
    """Bring the path's object into this state first (``submitted``, ``public``)."""


RM = "/api/register/manage/{entry_id:uuid}"
MY = "/api/catalog/my-reports/{report_id:uuid}"
WEB = "/register/verwalten/{entry_id:uuid}"
REVIEW = "/api/catalog/review/reports/{report_id:uuid}"

CASES: dict[tuple[str, str], Case] = {
    # tenants, keys, quotas
    ("POST", "/api/admin/tenants"): Case(
        KEY_OPERATOR, "tenant.create", "tenant", CREATE, {"name": "Neue Gemeinde", "state": "MV", "ags": "13999999"},
        target="response",
    ),
    ("PATCH", "/api/admin/tenants/{tenant_id:uuid}"): Case(
        KEY_OPERATOR, "tenant.update", "tenant", UPDATE, {"weight": 2.5}, target="tenant_id", other_tenant=True
    ),
    ("POST", "/api/admin/tenants/{tenant_id:uuid}/keys"): Case(
        KEY_OPERATOR, "key.issue", "api_key", CREATE, {"label": "x"}, target="response", other_tenant=True
    ),
    ("PUT", "/api/admin/tenants/{tenant_id:uuid}/quotas"): Case(
        KEY_OPERATOR, "quota.set", "quota_policy", CREATE, {"requests_per_minute": 1000}, target="response",
        other_tenant=True,
    ),
    ("DELETE", "/api/admin/tenants/{tenant_id:uuid}/quotas"): Case(
        KEY_OPERATOR, "quota.delete", "quota_policy", DELETE, other_tenant=True
    ),
    ("POST", "/api/admin/keys/{key_id:uuid}/revoke"): Case(
        KEY_OPERATOR, "key.revoke", "api_key", UPDATE, target="key_id", other_tenant=True
    ),
    ("POST", "/api/tenant/keys"): Case(
        KEY_TENANT_ADMIN, "key.issue", "api_key", CREATE, {"label": "chatbot", "use_case": "Bürger-Chatbot"},
        target="response",
    ),
    ("POST", "/api/tenant/keys/{key_id:uuid}/revoke"): Case(
        KEY_TENANT_ADMIN, "key.revoke", "api_key", UPDATE, target="key_id"
    ),
    # the registry of backends and models
    ("POST", "/api/admin/backends"): Case(
        KEY_OPERATOR, "backend.register", "backend", CREATE,
        {"name": "b-new", "base_url": "http://127.0.0.1:9", "location": "DE-MV-Schwerin", "served_models": ["m"],
         "api_key": UPSTREAM_SECRET},
        target="response",
    ),
    ("PATCH", "/api/admin/backends/{backend_id:uuid}"): Case(
        KEY_OPERATOR, "backend.update", "backend", UPDATE, {"enabled": False, "api_key": ROTATED_SECRET},
        target="backend_id",
    ),
    ("DELETE", "/api/admin/backends/{backend_id:uuid}"): Case(
        KEY_OPERATOR, "backend.delete", "backend", DELETE, target="backend_id"
    ),
    ("POST", "/api/admin/models"): Case(
        KEY_OPERATOR, "model.create", "model", CREATE, {"name": "m-new", "upstream_name": "m-new"}, target="response"
    ),
    ("PATCH", "/api/admin/models/{model_id:uuid}"): Case(
        KEY_OPERATOR, "model.update", "model", UPDATE, {"description": "neu"}, target="model_id"
    ),
    ("DELETE", "/api/admin/models/{model_id:uuid}"): Case(
        KEY_OPERATOR, "model.delete", "model", DELETE, target="model_id"
    ),
    ("POST", "/api/admin/models/{model_id:uuid}/grants"): Case(
        KEY_OPERATOR, "model.grant", "model", UPDATE, {"tenant_id": None}, target="model_id"
    ),
    ("DELETE", "/api/admin/models/{model_id:uuid}/grants/{tenant_id:uuid}"): Case(
        KEY_OPERATOR, "model.ungrant", "model", UPDATE, target="model_id", other_tenant=True
    ),
    # KI-Pass records
    ("POST", "/api/ki-pass"): Case(
        KEY_TENANT_ADMIN, "ki_pass.create", "ki_pass", CREATE, {"username": "new.person"}, target="response"
    ),
    ("PATCH", "/api/ki-pass/{pass_id:uuid}"): Case(
        KEY_TENANT_ADMIN, "ki_pass.update", "ki_pass", UPDATE, {"display_name": "Neu"}, target="pass_id"
    ),
    ("DELETE", "/api/ki-pass/{pass_id:uuid}"): Case(
        KEY_TENANT_ADMIN, "ki_pass.delete", "ki_pass", DELETE, target="pass_id"
    ),
    # the rollout gate: requirements and overrides
    ("PUT", "/api/admin/rollout/requirements"): Case(
        KEY_OPERATOR, "rollout.requirement.set", "rollout_requirement", CREATE,
        {"model": "gated", "suites": ["matrix-suite"]}, target="response",
    ),
    ("DELETE", "/api/admin/rollout/requirements/{requirement_id:uuid}"): Case(
        KEY_OPERATOR, "rollout.requirement.delete", "rollout_requirement", DELETE, target="requirement_id"
    ),
    ("POST", "/api/admin/rollout/overrides"): Case(
        KEY_OPERATOR, "rollout.override.grant", "rollout_override", CREATE,
        {"model": "gated", "reason": "Pilot läuft unter Aufsicht"}, target="response",
    ),
    ("POST", "/api/admin/rollout/overrides/{override_id:uuid}/revoke"): Case(
        KEY_OPERATOR, "rollout.override.revoke", "rollout_override", UPDATE, target="override_id"
    ),
    # evaluation reports
    ("POST", "/api/evaluations"): Case(
        KEY_EVALUATOR, "evaluation.publish", "evaluation_report", CREATE, EVALUATION_BODY, target="response"
    ),
    ("POST", "/api/admin/evaluations/{evaluation_id:uuid}/withdraw"): Case(
        KEY_OPERATOR, "evaluation.withdraw", "evaluation_report", UPDATE, {"reason": "Testlauf"},
        target="evaluation_id",
    ),
    # curating the catalogue
    ("POST", "/api/catalog/manage/use-cases"): Case(
        KEY_OPERATOR, "use_case.create", "use_case", CREATE, {**USE_CASE, "slug": "posteingang"}, target="response"
    ),
    ("PUT", "/api/catalog/manage/use-cases/{slug:str}"): Case(
        KEY_OPERATOR, "use_case.update", "use_case", UPDATE, {**USE_CASE, "status": "released"}
    ),
    ("PUT", "/api/catalog/manage/funding"): Case(KEY_OPERATOR, "funding.upsert", "funding_programme", CREATE, FUNDING),
    # experience reports and their review
    ("POST", "/api/catalog/my-reports"): Case(
        KEY_TENANT_ADMIN, "report.create", "experience_report", CREATE, REPORT_BODY, target="response"
    ),
    ("PUT", MY): Case(KEY_TENANT_ADMIN, "report.update", "experience_report", UPDATE, REPORT_BODY, target="report_id"),
    ("POST", MY + "/submit"): Case(KEY_TENANT_ADMIN, "report.submitted", "experience_report", target="report_id"),
    ("POST", MY + "/retract"): Case(
        KEY_TENANT_ADMIN, "report.retracted", "experience_report", target="report_id", state="submitted"
    ),
    ("POST", REVIEW + "/approve"): Case(
        KEY_OPERATOR, "report.approved", "experience_report", target="report_id", state="submitted"
    ),
    ("POST", REVIEW + "/reject"): Case(
        KEY_OPERATOR, "report.rejected", "experience_report", target="report_id", state="submitted"
    ),
    # the register: API and the editor's web forms (bearer tokens need no CSRF token)
    ("POST", "/api/register/manage"): Case(
        KEY_TENANT_ADMIN, "register.create", "register_entry", CREATE, {**REGISTER_BODY, "slug": "chatbot"},
        target="response",
    ),
    ("PUT", RM + "/draft"): Case(
        KEY_TENANT_ADMIN, "register.draft", "register_entry", body=REGISTER_BODY, target="entry_id"
    ),
    ("POST", RM + "/submit"): Case(KEY_TENANT_ADMIN, "register.submit", "register_entry", target="entry_id"),
    ("POST", RM + "/approve"): Case(
        KEY_TENANT_ADMIN, "register.approve", "register_entry", body={}, target="entry_id", state="submitted"
    ),
    ("POST", RM + "/reject"): Case(
        KEY_TENANT_ADMIN, "register.reject", "register_entry", body={"note": "Bitte ergänzen"}, target="entry_id",
        state="submitted",
    ),
    ("POST", RM + "/retract"): Case(
        KEY_TENANT_ADMIN, "register.retract", "register_entry", body={"note": "eingestellt"}, target="entry_id",
        state="public",
    ),
    ("POST", "/register/verwalten/neu"): Case(
        KEY_TENANT_ADMIN, "register.create", "register_entry", CREATE, form=REGISTER_FORM, bad_form={},
        target="response",
    ),
    ("POST", WEB + "/bearbeiten"): Case(
        KEY_TENANT_ADMIN, "register.draft", "register_entry",
        form={k: v for k, v in REGISTER_FORM.items() if k != "slug"}, bad_form={"name": ""}, target="entry_id",
    ),
    ("POST", WEB + "/einreichen"): Case(
        KEY_TENANT_ADMIN, "register.submit", "register_entry", form={}, target="entry_id"
    ),
    ("POST", WEB + "/freigeben"): Case(
        KEY_TENANT_ADMIN, "register.approve", "register_entry", form={"note": "passt"}, bad_form={"note": "x" * 1001},
        target="entry_id", state="submitted",
    ),
    ("POST", WEB + "/zurueckweisen"): Case(
        KEY_TENANT_ADMIN, "register.reject", "register_entry", form={}, bad_form={"note": "x" * 1001},
        target="entry_id", state="submitted",
    ),
    ("POST", WEB + "/zurueckziehen"): Case(
        KEY_TENANT_ADMIN, "register.retract", "register_entry", form={"note": "eingestellt"},
        bad_form={"note": "x" * 1001}, target="entry_id", state="public",
    ),
}  # fmt: skip

NOT_AUDITED: dict[tuple[str, str], str] = {
    ("POST", "/v1/chat/completions"): "inference, not administration: each call is one row of the usage ledger",
    ("POST", "/v1/completions"): "inference: the usage ledger",
    ("POST", "/v1/embeddings"): "inference: the usage ledger",
    ("POST", "/auth/logout"): "sign-out ends the caller's own web session and changes no data",
    ("POST", "/api/catalog/ai-act/classify"): "a public calculator: classifies the answers sent, stores nothing",
    ("POST", "/api/catalog/prioritise"): "a public calculator: ranks the processes sent, stores nothing",
}
"""Mutating routes that are not administrative actions, and why."""

SUCCESS = (200, 201, 204, 303)
PROCESS = {
    "name": "Posteingang",
    "cases_per_year": 1000,
    "minutes_per_case": 5,
    "automation_potential": "high",
    "effort": "low",
    "risk_class": "minimal",
}


def mutating_routes(app: Litestar) -> set[tuple[str, str]]:
    """Every (method, path template) of the app that can change data."""
    return {(m, p) for m, p, _ in matrix.app_routes(app) if m in ("POST", "PUT", "PATCH", "DELETE")}


async def head_seq(world: World) -> int:
    async with world.sessionmaker() as session:
        return (await session.execute(select(func.coalesce(func.max(AuditEvent.seq), 0)))).scalar_one()


async def events_after(world: World, seq: int) -> list[AuditEvent]:
    async with world.sessionmaker() as session:
        rows = await session.execute(select(AuditEvent).where(AuditEvent.seq > seq).order_by(AuditEvent.seq))
        return list(rows.scalars())


async def fresh(world: World, name: str, owner: Tenant, state: str | None) -> uuid.UUID:
    """A new object for the path parameter ``name``, brought into ``state``."""
    object_id = await world.fresh(name, owner)
    if state is None:
        return object_id
    async with world.sessionmaker() as session, session.begin():
        if name == "report_id":
            await session.execute(update(ExperienceReport).where(ExperienceReport.id == object_id).values(state=state))
        elif state == "submitted":
            await session.execute(
                update(RegisterVersion).where(RegisterVersion.entry_id == object_id).values(state="submitted")
            )
        else:
            await session.execute(
                update(RegisterVersion).where(RegisterVersion.entry_id == object_id).values(state="approved")
            )
            await session.execute(update(RegisterEntry).where(RegisterEntry.id == object_id).values(public_version=1))
    return object_id


async def path_for(world: World, method: str, template: str, case: Case, owner: Tenant) -> tuple[str, dict[str, str]]:
    """The request path (fresh objects in it) and the ids it names."""
    if matrix.RULES[(method, template)].needs_quota_policy:
        await world.quota_policy(owner)
    path, ids = template.replace("{slug:str}", "matrix-case"), {}
    for name in matrix.PATH_PARAMS:
        placeholder = "{" + name + ":uuid}"
        if placeholder in path:
            value = owner.id if name == "tenant_id" else await fresh(world, name, owner, case.state)
            ids[name] = str(value)
            path = path.replace(placeholder, str(value))
    return path, ids


async def call(client: AsyncTestClient, world: World, caller: str, method: str, path: str, case: Case, payload: Any):
    headers = world.headers(caller)
    if case.form is not None:
        return await client.post(path, data=payload, headers=headers, follow_redirects=False)
    if isinstance(payload, dict) and payload.get("tenant_id", "") is None:
        payload = {**payload, "tenant_id": str(world.luebeck.id)}
    return await client.request(method, path, json=payload, headers=headers, follow_redirects=False)


def created_id(response: httpx.Response) -> str | None:
    """The id of the object a request created (from its JSON, or the editor's redirect)."""
    if response.status_code == 303:
        found = re.search(r"/register/verwalten/([0-9a-f-]{36})$", response.headers["location"])
        return found.group(1) if found else None
    return response.json().get("id")


def secrets_of(world: World) -> list[str]:
    """What must never appear in the audit trail: keys, their hashes, upstream keys, prompt texts."""
    keys = list(world.keys.values())
    return [
        *keys,
        *(hashlib.sha256(k.encode()).hexdigest() for k in keys),
        UPSTREAM_SECRET,
        ROTATED_SECRET,
        "GEHEIMER-SYSTEMPROMPT",
    ]


def check_event(event: AuditEvent, case: Case, world: World, target: str | None) -> list[str]:
    """What is wrong with the event a route wrote."""
    wrong = []
    if (event.action, event.target_type) != (case.action, case.target_type):
        wrong.append(f"wrote {event.action}/{event.target_type}, expected {case.action}/{case.target_type}")
    if target is not None and event.target_id != target:
        wrong.append(f"target {event.target_id}, expected {target}")
    prefix = event.actor.removeprefix("key:")
    if not (event.actor.startswith("key:") and world.keys[case.caller].startswith(prefix + "_")):
        wrong.append(f"actor {event.actor} is not the caller {case.caller}")
    if event.actor_tenant_id != world.own_tenant(case.caller).id:
        wrong.append("actor_tenant_id is not the caller's tenant")
    want_before, want_after = case.kind != CREATE, case.kind != DELETE
    if (event.before is not None, event.after is not None) != (want_before, want_after):
        wrong.append(f"{case.kind}: before={event.before!r} after={event.after!r}")
    for snapshot in (event.before, event.after):
        if snapshot is not None and not (isinstance(snapshot, dict) and snapshot):
            wrong.append(f"empty snapshot {snapshot!r}")
    dump = json.dumps([event.before, event.after, event.details], ensure_ascii=False)
    wrong += [f"a secret in the trail: {s[:12]}..." for s in secrets_of(world) if s in dump]
    if "key_hash" in dump:
        wrong.append("a key hash field in the trail")
    return wrong


@dataclass
class Attempt:
    """A request that must write one event if it succeeds and none if it is refused."""

    client: AsyncTestClient
    world: World
    failures: list[str]
    method: str
    path: str
    case: Case

    async def __call__(self, caller: str, payload: Any, label: str) -> httpx.Response:
        """Send it as ``caller`` and note a wrong number of events in ``failures``."""
        before = await head_seq(self.world)
        response = await call(self.client, self.world, caller, self.method, self.path, self.case, payload)
        written = [e.action for e in await events_after(self.world, before)]
        expected = 1 if response.status_code in SUCCESS else 0
        if len(written) != expected:
            self.failures.append(
                f"{self.method} {self.path} {label}: {response.status_code} wrote {written}, expected {expected}"
            )
        return response


async def test_every_mutating_route_writes_exactly_one_audit_event(
    matrix_app: tuple[Litestar, AsyncTestClient, World],
) -> None:
    app, client, world = matrix_app
    routes = mutating_routes(app)
    missing = sorted(routes - set(CASES) - set(NOT_AUDITED))
    assert missing == [], f"mutating routes without an audit case in CASES (or a reason in NOT_AUDITED): {missing}"
    stale = sorted((set(CASES) | set(NOT_AUDITED)) - routes)
    assert stale == [], f"cases for routes that no longer exist: {stale}"
    assert not set(CASES) & set(NOT_AUDITED)

    failures: list[str] = []
    for (method, template), case in sorted(CASES.items(), key=lambda item: item[0][1]):
        name = f"{method} {template}"
        owner = world.luebeck if case.other_tenant else world.own_tenant(case.caller)
        payload = case.form if case.form is not None else case.body
        rule = matrix.RULES[(method, template)]

        # refused requests write nothing: a caller without the right, and a bad body
        outsider = next(c for c in (KEY_CLIENT, KEY_EVALUATOR, KEY_TENANT_ADMIN, KEY_OPERATOR) if c not in rule.allowed)
        path, ids = await path_for(world, method, template, case, owner)
        attempt = Attempt(client, world, failures, method, path, case)
        if (await attempt(outsider, payload, "as an outsider")).status_code != 403:
            failures.append(f"{name}: the outsider {outsider} was not refused")
        bad = case.bad_form if case.form is not None else (BAD_JSON if case.body is not None else None)
        if bad is not None:
            refused = await attempt(case.caller, bad, "with a bad body")
            if refused.status_code not in (400, 422):
                failures.append(f"{name}: a bad body got {refused.status_code}")

        # the action itself: exactly one event, with the right content
        before = await head_seq(world)
        response = await call(client, world, case.caller, method, path, case, payload)
        if response.status_code not in SUCCESS:
            failures.append(f"{name}: {response.status_code} {response.text[:300]}")
            continue
        written = await events_after(world, before)
        if len(written) != 1:
            failures.append(f"{name}: wrote {[e.action for e in written]}, expected exactly one event")
            continue
        target = created_id(response) if case.target == "response" else ids.get(case.target or "")
        failures += [f"{name}: {problem}" for problem in check_event(written[0], case, world, target)]

        # the same request again: refused (nothing written) or accepted (one more event)
        await attempt(case.caller, payload, "repeated")

    async with world.sessionmaker() as session:
        report = await verify_chain(session)
    assert failures == [], "\n".join(failures)
    assert report.valid, report
    print(f"audit coverage: {len(CASES)} mutating routes, {len(NOT_AUDITED)} excluded, {report.head_seq} events")


async def test_the_routes_that_are_not_audited_change_nothing(
    matrix_app: tuple[Litestar, AsyncTestClient, World],
) -> None:
    _, client, world = matrix_app
    before = await head_seq(world)
    calls = [
        ("/api/catalog/ai-act/classify", {"is_ai_system": True}),
        ("/api/catalog/prioritise", {"processes": [PROCESS]}),
        ("/auth/logout", None),
    ]
    for path, body in calls:
        response = await client.post(path, json=body, follow_redirects=False)
        assert response.status_code in SUCCESS, (path, response.text)
    assert await events_after(world, before) == []
