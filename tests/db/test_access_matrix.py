"""Who may call what: every route x every kind of caller x own tenant / other tenant, against one table.

``RULES`` is the single statement of the access policy. The test walks the app's real route table, so a
new route without a rule fails here, as does a guard that admits or refuses someone the table does not
say. Objects of another tenant must answer 404 (not 403), so their existence does not leak.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import async_sessionmaker

from catalog.evaluations.models import EvaluationReport
from catalog.models import ExperienceReport, RegisterEntry, RegisterVersion, UseCase
from hub.app import create_app
from hub.audit.services import Actor
from hub.backends.models import Backend, Model, ModelGrant
from hub.kipass.models import KiPass
from hub.quotas.schemas import QuotaPolicySet
from hub.quotas.services import QuotaPolicyService
from hub.rollout.models import RolloutOverride, RolloutRequirement
from hub.tenants.models import KeyRole, Tenant, TenantKind
from hub.tenants.schemas import KeyCreate, TenantCreate
from hub.tenants.services import ApiKeyService, TenantService
from tests.db.conftest import signed_in_settings
from tests.support.fake_keycloak import FakeKeycloak

# --- the callers --------------------------------------------------------------------------------

KEY_CLIENT = "key:client"
KEY_TENANT_ADMIN = "key:tenant-admin"
KEY_OPERATOR = "key:operator"
KEY_EVALUATOR = "key:evaluator"
STAFF = "person:staff"
TENANT_ADMIN = "person:tenant-admin"
EVALUATOR = "person:evaluator"
OPERATOR = "person:operator"
SERVICE = "service:client"
ANONYMOUS = "anonymous"

CALLERS = [KEY_CLIENT, KEY_TENANT_ADMIN, KEY_OPERATOR, KEY_EVALUATOR, STAFF, TENANT_ADMIN, EVALUATOR, OPERATOR, SERVICE]
"""Everyone who authenticates. Operators belong to the state tenant, everyone else to Schwerin."""

EVERYONE = frozenset(CALLERS)
OPERATORS = frozenset({KEY_OPERATOR, OPERATOR})
TENANT_ADMINS = frozenset({KEY_TENANT_ADMIN, TENANT_ADMIN})
USAGE_READERS = frozenset({KEY_CLIENT, KEY_TENANT_ADMIN, KEY_OPERATOR, TENANT_ADMIN, OPERATOR, SERVICE})
PEOPLE = frozenset({STAFF, TENANT_ADMIN, EVALUATOR, OPERATOR})
EVALUATORS = frozenset({KEY_EVALUATOR, EVALUATOR})
CURATORS = OPERATORS | EVALUATORS
REPORT_WRITERS = TENANT_ADMINS | EVALUATORS
PUBLISHERS = OPERATORS | EVALUATORS

REPORT_BODY = {
    "use_case": "matrix-case",
    "title": "Erfahrungsbericht",
    "period_start": "2026-01",
    "phase_reached": "pilot",
    "contact": "ki@musterstadt.example",
}
EVALUATION_BODY = {
    "schema": "kiverbund.eval-report/1",
    "id": "3f0c6a3e9d0b4b7c8a1e2f3a4b5c6d7e",
    "suite": {"name": "matrix-suite", "version": "1.0.0", "kind": "qa", "use_case": "matrix-case"},
    "model": "chat-small",
    "started_at": "2026-11-22T10:00:00Z",
    "finished_at": "2026-11-22T10:12:00Z",
    "metrics": {"chrf": {"value": 0.5, "n": 2, "failures": 0}},
    "gate": {
        "passed": True,
        "checks": [{"metric": "chrf", "op": ">=", "threshold": 0.3, "value": 0.5, "passed": True}],
    },
}
"""A valid report: the first publisher gets 201, the others 409 (both mean the guard let them through)."""
REGISTER_BODY = {
    "name": "Bürger-Chatbot",
    "description_short": "Ein Chatbot beantwortet Fragen zu Öffnungszeiten.",
    "category": ["citizen_services"],
    "status": "in_use",
    "contact_email": "ki@musterstadt.example",
    "publication_category": "other",
    "ai_act": {"risk_class": "transparency", "art50_duties": ["50(1)"]},
}

# --- the rules ----------------------------------------------------------------------------------

PUBLIC = "public"
"""Anyone, without authentication."""
GLOBAL = "global"
"""No tenant-owned object in the path (or an operator's view across tenants)."""
OWN = "own"
"""The path names an object of a tenant: the caller's own works, another tenant's is 404."""
WEB = "web"
"""A web page: without a session it redirects to the sign-in."""


@dataclass(frozen=True)
class Rule:
    """Who may call a route, and how tenants scope it."""

    allowed: frozenset[str]
    scope: str = GLOBAL
    body: Any = None
    needs_quota_policy: bool = False
    """The call removes the tenant's quota policy, so one must exist before each call."""


RULES: dict[tuple[str, str], Rule] = {
    # probes, metrics, the OpenAPI document, the public web pages and the sign-in flow
    ("GET", "/health"): Rule(frozenset(), PUBLIC),
    ("GET", "/ready"): Rule(frozenset(), PUBLIC),
    ("GET", "/health/live"): Rule(frozenset(), PUBLIC),
    ("GET", "/health/ready"): Rule(frozenset(), PUBLIC),
    ("GET", "/metrics"): Rule(frozenset(), PUBLIC),
    ("GET", "/"): Rule(frozenset(), PUBLIC),
    ("GET", "/auth/login"): Rule(frozenset(), PUBLIC),
    ("GET", "/auth/callback"): Rule(frozenset(), PUBLIC),
    ("POST", "/auth/logout"): Rule(frozenset(), PUBLIC),
    ("GET", "/konto"): Rule(PEOPLE, WEB),
    # the OpenAI-compatible API: every role; people need a KI-Pass (all people here hold one)
    ("POST", "/v1/chat/completions"): Rule(EVERYONE, body={}),
    ("POST", "/v1/completions"): Rule(EVERYONE, body={}),
    ("POST", "/v1/embeddings"): Rule(EVERYONE, body={}),
    ("GET", "/v1/models"): Rule(EVERYONE),
    ("GET", "/v1/models/{model_id:path}"): Rule(EVERYONE),
    ("GET", "/v1/usage"): Rule(USAGE_READERS),
    ("GET", "/v1/usage/requests"): Rule(USAGE_READERS),
    # identity
    ("GET", "/api/me"): Rule(EVERYONE),
    # a tenant's own objects
    ("GET", "/api/quota"): Rule(TENANT_ADMINS | OPERATORS),
    ("GET", "/api/operations"): Rule(TENANT_ADMINS | OPERATORS),
    ("GET", "/api/tenant/keys"): Rule(TENANT_ADMINS),
    ("POST", "/api/tenant/keys"): Rule(TENANT_ADMINS, body={"label": "chatbot", "use_case": "Bürger-Chatbot"}),
    ("POST", "/api/tenant/keys/{key_id:uuid}/revoke"): Rule(TENANT_ADMINS, OWN),
    ("GET", "/api/ki-pass"): Rule(TENANT_ADMINS),
    ("POST", "/api/ki-pass"): Rule(TENANT_ADMINS, body={"username": "new.person"}),
    ("GET", "/api/ki-pass/coverage"): Rule(TENANT_ADMINS),
    ("GET", "/api/ki-pass/{pass_id:uuid}"): Rule(TENANT_ADMINS, OWN),
    ("PATCH", "/api/ki-pass/{pass_id:uuid}"): Rule(TENANT_ADMINS, OWN, body={"display_name": "Neu"}),
    ("DELETE", "/api/ki-pass/{pass_id:uuid}"): Rule(TENANT_ADMINS, OWN),
    # state IT
    ("GET", "/api/admin/ki-pass/coverage"): Rule(OPERATORS),
    ("GET", "/api/admin/audit"): Rule(OPERATORS),
    ("GET", "/api/admin/audit/verify"): Rule(OPERATORS),
    ("GET", "/api/admin/audit/export"): Rule(OPERATORS),
    ("GET", "/api/admin/usage/chargeback.csv"): Rule(OPERATORS),
    ("GET", "/api/admin/tenants"): Rule(OPERATORS),
    ("POST", "/api/admin/tenants"): Rule(OPERATORS, body={"name": "Neue Gemeinde", "state": "MV", "ags": "13999999"}),
    ("GET", "/api/admin/tenants/{tenant_id:uuid}"): Rule(OPERATORS),
    ("PATCH", "/api/admin/tenants/{tenant_id:uuid}"): Rule(OPERATORS, body={"weight": 1.0}),
    ("GET", "/api/admin/tenants/{tenant_id:uuid}/keys"): Rule(OPERATORS),
    ("POST", "/api/admin/tenants/{tenant_id:uuid}/keys"): Rule(OPERATORS, body={"label": "x"}),
    ("GET", "/api/admin/tenants/{tenant_id:uuid}/quotas"): Rule(OPERATORS),
    ("PUT", "/api/admin/tenants/{tenant_id:uuid}/quotas"): Rule(OPERATORS, body={"requests_per_minute": 1000}),
    ("DELETE", "/api/admin/tenants/{tenant_id:uuid}/quotas"): Rule(OPERATORS, needs_quota_policy=True),
    ("POST", "/api/admin/keys/{key_id:uuid}/revoke"): Rule(OPERATORS),
    ("GET", "/api/admin/backends"): Rule(OPERATORS),
    ("POST", "/api/admin/backends"): Rule(
        OPERATORS, body={"name": "b-new", "base_url": "http://127.0.0.1:9", "location": "Schwerin"}
    ),
    ("GET", "/api/admin/backends/status"): Rule(OPERATORS),
    ("GET", "/api/admin/backends/{backend_id:uuid}"): Rule(OPERATORS),
    ("PATCH", "/api/admin/backends/{backend_id:uuid}"): Rule(OPERATORS, body={"enabled": True}),
    ("DELETE", "/api/admin/backends/{backend_id:uuid}"): Rule(OPERATORS),
    ("GET", "/api/admin/models"): Rule(OPERATORS),
    ("POST", "/api/admin/models"): Rule(OPERATORS, body={"name": "m-new", "upstream_name": "m-new"}),
    ("GET", "/api/admin/models/{model_id:uuid}"): Rule(OPERATORS),
    ("PATCH", "/api/admin/models/{model_id:uuid}"): Rule(OPERATORS, body={"description": "x"}),
    ("DELETE", "/api/admin/models/{model_id:uuid}"): Rule(OPERATORS),
    ("POST", "/api/admin/models/{model_id:uuid}/grants"): Rule(OPERATORS, body={"tenant_id": None}),
    ("DELETE", "/api/admin/models/{model_id:uuid}/grants/{tenant_id:uuid}"): Rule(OPERATORS),
    # the rollout gate (a separate model, so the gate never refuses the matrix's own model calls)
    ("GET", "/api/admin/rollout/requirements"): Rule(OPERATORS),
    ("PUT", "/api/admin/rollout/requirements"): Rule(OPERATORS, body={"model": "gated", "suites": ["matrix-suite"]}),
    ("DELETE", "/api/admin/rollout/requirements/{requirement_id:uuid}"): Rule(OPERATORS),
    ("GET", "/api/admin/rollout/overrides"): Rule(OPERATORS),
    ("POST", "/api/admin/rollout/overrides"): Rule(
        OPERATORS, body={"model": "gated", "reason": "Pilot läuft unter Aufsicht"}
    ),
    ("POST", "/api/admin/rollout/overrides/{override_id:uuid}/revoke"): Rule(OPERATORS),
    ("GET", "/api/admin/rollout/status"): Rule(OPERATORS),
    # evaluation reports: evaluators and operators publish, everyone reads, operators withdraw
    ("POST", "/api/evaluations"): Rule(PUBLISHERS, body=EVALUATION_BODY),
    ("GET", "/api/evaluations"): Rule(frozenset(), PUBLIC),
    ("GET", "/api/evaluations/{evaluation_id:uuid}"): Rule(frozenset(), PUBLIC),
    ("POST", "/api/admin/evaluations/{evaluation_id:uuid}/withdraw"): Rule(OPERATORS, body={"reason": "Testlauf"}),
    # the public catalogue, register and reports
    ("GET", "/api/catalog/use-cases"): Rule(frozenset(), PUBLIC),
    ("GET", "/api/catalog/use-cases/{slug:str}"): Rule(frozenset(), PUBLIC),
    ("GET", "/api/catalog/funding"): Rule(frozenset(), PUBLIC),
    ("GET", "/api/catalog/export.json"): Rule(frozenset(), PUBLIC),
    ("GET", "/api/catalog/reports"): Rule(frozenset(), PUBLIC),
    ("GET", "/api/catalog/reports/{report_id:uuid}"): Rule(frozenset(), PUBLIC),
    ("GET", "/api/register"): Rule(frozenset(), PUBLIC),
    ("GET", "/api/register/entries/{entry_id:uuid}"): Rule(frozenset(), PUBLIC),
    ("GET", "/api/register/export.json"): Rule(frozenset(), PUBLIC),
    ("GET", "/api/register/export.csv"): Rule(frozenset(), PUBLIC),
    ("GET", "/api/catalog/ai-act/questionnaire"): Rule(frozenset(), PUBLIC),
    ("POST", "/api/catalog/ai-act/classify"): Rule(frozenset(), PUBLIC, body={"is_ai_system": True}),
    ("POST", "/api/catalog/prioritise"): Rule(frozenset(), PUBLIC, body={"processes": []}),
    # curating the catalogue
    ("GET", "/api/catalog/manage/use-cases"): Rule(CURATORS),
    ("POST", "/api/catalog/manage/use-cases"): Rule(CURATORS),
    ("GET", "/api/catalog/manage/use-cases/{slug:str}"): Rule(CURATORS),
    ("PUT", "/api/catalog/manage/use-cases/{slug:str}"): Rule(CURATORS),
    ("PUT", "/api/catalog/manage/funding"): Rule(OPERATORS),
    # a municipality's experience reports, reviewed by state IT
    ("GET", "/api/catalog/my-reports"): Rule(REPORT_WRITERS),
    ("POST", "/api/catalog/my-reports"): Rule(REPORT_WRITERS, body=REPORT_BODY),
    ("PUT", "/api/catalog/my-reports/{report_id:uuid}"): Rule(REPORT_WRITERS, OWN, body=REPORT_BODY),
    ("POST", "/api/catalog/my-reports/{report_id:uuid}/submit"): Rule(REPORT_WRITERS, OWN),
    ("POST", "/api/catalog/my-reports/{report_id:uuid}/retract"): Rule(REPORT_WRITERS, OWN),
    ("GET", "/api/catalog/review/reports"): Rule(OPERATORS),
    ("POST", "/api/catalog/review/reports/{report_id:uuid}/approve"): Rule(OPERATORS),
    ("POST", "/api/catalog/review/reports/{report_id:uuid}/reject"): Rule(OPERATORS),
    # a municipality's register entries
    ("GET", "/api/register/manage"): Rule(TENANT_ADMINS),
    ("POST", "/api/register/manage"): Rule(TENANT_ADMINS, body={**REGISTER_BODY, "slug": "chatbot"}),
    ("GET", "/api/register/manage/{entry_id:uuid}"): Rule(TENANT_ADMINS, OWN),
    ("PUT", "/api/register/manage/{entry_id:uuid}/draft"): Rule(TENANT_ADMINS, OWN, body=REGISTER_BODY),
    ("POST", "/api/register/manage/{entry_id:uuid}/submit"): Rule(TENANT_ADMINS, OWN),
    ("POST", "/api/register/manage/{entry_id:uuid}/approve"): Rule(TENANT_ADMINS, OWN, body={}),
    ("POST", "/api/register/manage/{entry_id:uuid}/reject"): Rule(TENANT_ADMINS, OWN, body={}),
    ("POST", "/api/register/manage/{entry_id:uuid}/retract"): Rule(TENANT_ADMINS, OWN, body={}),
    # the catalogue's, register's and experience reports' web pages (public)
    ("GET", "/katalog"): Rule(frozenset(), PUBLIC),
    ("GET", "/katalog/{slug:str}"): Rule(frozenset(), PUBLIC),
    ("GET", "/register"): Rule(frozenset(), PUBLIC),
    ("GET", "/register/{entry_id:uuid}"): Rule(frozenset(), PUBLIC),
    ("GET", "/erfahrungen"): Rule(frozenset(), PUBLIC),
    ("GET", "/erfahrungen/{report_id:uuid}"): Rule(frozenset(), PUBLIC),
    ("GET", "/evaluationen/{evaluation_id:uuid}"): Rule(frozenset(), PUBLIC),
    # the operations page: signed-in operators and tenant admins (people only; keys use /api/operations)
    ("GET", "/betrieb"): Rule(frozenset({TENANT_ADMIN, OPERATOR}), WEB),
    # the register editor's web pages: a municipality's tenant admins (another town's entry is 404, see
    # tests/browser/test_catalog_pages.py; POSTs with a bearer token need no CSRF token, the session cookie does)
    ("GET", "/register/verwalten"): Rule(TENANT_ADMINS, WEB),
    ("GET", "/register/verwalten/neu"): Rule(TENANT_ADMINS, WEB),
    ("POST", "/register/verwalten/neu"): Rule(TENANT_ADMINS, WEB),
    ("GET", "/register/verwalten/{entry_id:uuid}"): Rule(TENANT_ADMINS, WEB),
    ("GET", "/register/verwalten/{entry_id:uuid}/bearbeiten"): Rule(TENANT_ADMINS, WEB),
    ("POST", "/register/verwalten/{entry_id:uuid}/bearbeiten"): Rule(TENANT_ADMINS, WEB),
    ("POST", "/register/verwalten/{entry_id:uuid}/einreichen"): Rule(TENANT_ADMINS, WEB),
    ("POST", "/register/verwalten/{entry_id:uuid}/freigeben"): Rule(TENANT_ADMINS, WEB),
    ("POST", "/register/verwalten/{entry_id:uuid}/zurueckweisen"): Rule(TENANT_ADMINS, WEB),
    ("POST", "/register/verwalten/{entry_id:uuid}/zurueckziehen"): Rule(TENANT_ADMINS, WEB),
}

UNCHECKED_PREFIXES = ("/schema",)
"""The OpenAPI document and its renderers: public by ``PUBLIC_PATHS``, checked once below."""


# --- the world the matrix runs in --------------------------------------------------------------


@dataclass
class World:
    """Two municipalities, the state, and a way to authenticate as every kind of caller."""

    realm: FakeKeycloak
    sessionmaker: async_sessionmaker
    state: Tenant
    schwerin: Tenant
    luebeck: Tenant
    keys: dict[str, str]
    service_token: str
    model_alias: str

    def headers(self, caller: str) -> dict[str, str]:
        """Authorization for ``caller``."""
        if caller == ANONYMOUS:
            return {}
        if caller in self.keys:
            return {"Authorization": f"Bearer {self.keys[caller]}"}
        if caller == SERVICE:
            return {"Authorization": f"Bearer {self.service_token}"}
        username = caller.split(":", 1)[1]
        return {"Authorization": f"Bearer {self.realm.token_for(username)}"}

    def own_tenant(self, caller: str) -> Tenant:
        """The caller's tenant."""
        return self.state if caller in OPERATORS else self.schwerin

    async def quota_policy(self, tenant: Tenant) -> None:
        """Make sure ``tenant`` has a tenant-wide quota policy."""
        async with self.sessionmaker() as session, session.begin():
            await QuotaPolicyService(session=session).set_policy(
                tenant.id, QuotaPolicySet(requests_per_minute=10_000), Actor.cli()
            )

    async def fresh(self, kind: str, tenant: Tenant) -> uuid.UUID:
        """A new object of ``kind`` owned by ``tenant`` (destructive calls get their own)."""
        async with self.sessionmaker() as session, session.begin():
            if kind == "pass_id":
                obj: Any = KiPass(tenant_id=tenant.id, username=f"p{uuid.uuid4().hex[:10]}")
            elif kind == "key_id":
                key, _ = await ApiKeyService(session=session).issue(tenant, KeyCreate(label="matrix"), Actor.cli())
                return key.id
            elif kind == "backend_id":
                obj = Backend(name=f"b{uuid.uuid4().hex[:8]}", base_url="http://127.0.0.1:9", location="Schwerin")
            elif kind == "model_id":
                name = f"m{uuid.uuid4().hex[:8]}"
                obj = Model(name=name, upstream_name=name)
            elif kind == "report_id":
                obj = ExperienceReport(
                    tenant_id=tenant.id, use_case_slug="matrix-case", state="draft", content=REPORT_BODY, written_by="x"
                )
            elif kind == "evaluation_id":
                obj = EvaluationReport(
                    report_uid=uuid.uuid4().hex,
                    model="chat-small",
                    use_case_slug="matrix-case",
                    suite_name="matrix-suite",
                    suite_version="1",
                    suite_kind="qa",
                    passed=True,
                    started_at=datetime.now(UTC),
                    finished_at=datetime.now(UTC),
                    published_by="cli:matrix",
                    summary={},
                    content={},
                )
            elif kind == "requirement_id":
                obj = RolloutRequirement(
                    model="gated", use_case_slug=f"u{uuid.uuid4().hex[:8]}", suites=["s"], created_by="cli:matrix"
                )
            elif kind == "override_id":
                obj = RolloutOverride(model="gated", reason="matrix override", created_by="cli:matrix")
            elif kind == "entry_id":
                obj = RegisterEntry(tenant_id=tenant.id, slug=f"e{uuid.uuid4().hex[:8]}")
                obj.versions = [RegisterVersion(number=1, state="draft", content=REGISTER_BODY, edited_by="x")]
            else:
                raise AssertionError(f"no factory for {kind}")
            session.add(obj)
            await session.flush()
            return obj.id


@pytest.fixture(scope="module")
def realm() -> Iterator[FakeKeycloak]:
    """The fake Keycloak realm with one person per role."""
    with FakeKeycloak() as fake:
        fake.add_user("staff", ["staff"], organization=["schwerin"])
        fake.add_user("tenant-admin", ["tenant-admin"], organization=["schwerin"])
        fake.add_user("evaluator", ["evaluator"], organization=["schwerin"])
        fake.add_user("operator", ["operator"], organization={"land-mv": {"id": "x"}})
        yield fake


@pytest.fixture
def dialect() -> str:
    """The matrix is about guards and scoping, not SQL: SQLite is enough."""
    return "sqlite"


async def _build_world(realm: FakeKeycloak, sessionmaker: async_sessionmaker) -> World:
    today = date.today()
    keys: dict[str, str] = {}
    async with sessionmaker() as session, session.begin():
        tenants = TenantService(session=session)
        issuer = ApiKeyService(session=session)
        state = await tenants.create_tenant(
            TenantCreate(name="Land MV", state="MV", kind=TenantKind.STATE, org_alias="land-mv"), Actor.cli()
        )
        schwerin = await tenants.create_tenant(
            TenantCreate(name="Schwerin", state="MV", ags="13004000", org_alias="schwerin"), Actor.cli()
        )
        luebeck = await tenants.create_tenant(
            TenantCreate(name="Lübeck", state="SH", ags="01003000", org_alias="luebeck"), Actor.cli()
        )
        for caller, tenant, role in (
            (KEY_CLIENT, schwerin, KeyRole.CLIENT),
            (KEY_TENANT_ADMIN, schwerin, KeyRole.TENANT_ADMIN),
            (KEY_OPERATOR, state, KeyRole.OPERATOR),
            (KEY_EVALUATOR, schwerin, KeyRole.EVALUATOR),
        ):
            _, new = await issuer.issue(tenant, KeyCreate(label=caller, role=role, use_case="matrix"), Actor.cli())
            keys[caller] = new.secret
        for username, tenant in (("staff", schwerin), ("tenant-admin", schwerin), ("evaluator", schwerin)):
            session.add(_valid_pass(tenant, username, today))
        session.add(_valid_pass(state, "operator", today))
        session.add(
            UseCase(
                slug="matrix-case",
                title="Matrix",
                status="released",
                area="organisation",
                ai_function="drafting",
                risk_class="minimal",
                content={"title": "Matrix", "summary": "Ein Anwendungsfall für den Test."},
            )
        )
        model = Model(name="chat-small", upstream_name="chat-small")
        session.add(model)
        session.add(Model(name="gated", upstream_name="gated"))
        await session.flush()
        for tenant in (state, schwerin, luebeck):
            session.add(ModelGrant(tenant_id=tenant.id, model_id=model.id))
    secret = realm.add_service_account("schwerin-buergerchat", organization="schwerin")
    realm_claims = realm.claims_for(
        realm.users["staff"],
        azp="schwerin-buergerchat",
        client_id="schwerin-buergerchat",
        preferred_username="service-account-schwerin-buergerchat",
        realm_access={"roles": []},
    )
    assert secret
    return World(
        realm=realm,
        sessionmaker=sessionmaker,
        state=state,
        schwerin=schwerin,
        luebeck=luebeck,
        keys=keys,
        service_token=realm.mint(realm_claims),
        model_alias="chat-small",
    )


def _valid_pass(tenant: Tenant, username: str, today: date) -> KiPass:
    return KiPass(
        tenant_id=tenant.id,
        username=username,
        training_completed_on=today - timedelta(days=10),
        guidelines_acknowledged_on=today - timedelta(days=10),
        service_agreement_acknowledged_on=today - timedelta(days=10),
    )


@pytest.fixture
async def matrix_app(
    db_url: str, sessionmaker: async_sessionmaker, realm: FakeKeycloak, tmp_path: Any
) -> AsyncIterator[tuple[Litestar, AsyncTestClient, World]]:
    """The hub with sign-in on, and the world of tenants and callers."""
    world = await _build_world(realm, sessionmaker)
    app = create_app(signed_in_settings(db_url, realm.server_url, tmp_path))
    async with AsyncTestClient(app=app) as client:
        yield app, client, world


def app_routes(app: Litestar) -> list[tuple[str, str, Any]]:
    """Every (method, path, handler) of the app, without HEAD/OPTIONS and the OpenAPI renderers."""
    found = []
    for route in app.routes:
        if route.path.startswith(UNCHECKED_PREFIXES):
            continue
        for method, handler in getattr(route, "route_handler_map", {}).items():
            if method in ("HEAD", "OPTIONS"):
                continue
            found.append((method, route.path, handler[0] if isinstance(handler, tuple) else handler))
    return sorted(found, key=lambda r: (r[1], r[0]))


PATH_PARAMS = (
    "pass_id",
    "key_id",
    "backend_id",
    "model_id",
    "tenant_id",
    "report_id",
    "entry_id",
    "evaluation_id",
    "requirement_id",
    "override_id",
)


async def _path_for(world: World, method: str, template: str, rule: Rule, owner: Tenant) -> str:
    if rule.needs_quota_policy:
        await world.quota_policy(owner)
    path = template.replace("{model_id:path}", world.model_alias).replace("{slug:str}", "matrix-case")
    for name in PATH_PARAMS:
        placeholder = "{" + name + ":uuid}"
        if placeholder not in path:
            continue
        value = owner.id if name == "tenant_id" else await world.fresh(name, owner)
        path = path.replace(placeholder, str(value))
    return path


def _body(rule: Rule, world: World) -> Any:
    if isinstance(rule.body, dict) and "tenant_id" in rule.body:
        return {**rule.body, "tenant_id": str(world.luebeck.id)}
    return rule.body


async def _call(client: AsyncTestClient, method: str, path: str, headers: dict[str, str], body: Any) -> int:
    response = await client.request(method, path, headers=headers, json=body, follow_redirects=False)
    return response.status_code


def _verdict(status: int, expected: str) -> bool:
    if expected == "allowed":
        return status not in (401, 403, 404) and status < 500
    if expected == "forbidden":
        return status == 403
    if expected == "hidden":
        return status == 404
    if expected == "unauthenticated":
        return status == 401
    if expected == "redirect to sign-in":
        return status in (302, 303, 307)
    raise AssertionError(expected)


async def test_every_route_has_a_rule_and_a_guard(
    matrix_app: tuple[Litestar, AsyncTestClient, World],
) -> None:
    app, _, _ = matrix_app
    routes = app_routes(app)
    missing = [(m, p) for m, p, _ in routes if (m, p) not in RULES]
    assert missing == [], f"routes without an access rule in RULES: {missing}"
    stale = set(RULES) - {(m, p) for m, p, _ in routes}
    assert stale == set(), f"rules for routes that no longer exist: {stale}"
    for method, path, handler in routes:
        rule = RULES[(method, path)]
        if rule.scope == PUBLIC:
            assert handler.opt.get("exclude_from_auth") or path in ("/health", "/ready", "/metrics"), path
        else:
            assert handler.resolve_guards(), f"{method} {path} is not public but declares no guard"


async def test_route_role_tenant_matrix(matrix_app: tuple[Litestar, AsyncTestClient, World]) -> None:
    app, client, world = matrix_app
    failures: list[str] = []
    checked = 0
    for method, template, _ in app_routes(app):
        rule = RULES[(method, template)]
        if rule.scope == PUBLIC:
            path = await _path_for(world, method, template, rule, world.schwerin)
            status = await _call(client, method, path, {}, _body(rule, world))
            checked += 1
            if status in (401, 403):
                failures.append(f"{method} {template} anonymous: {status}, but the route is public")
            continue
        anonymous_expectation = "redirect to sign-in" if rule.scope == WEB else "unauthenticated"
        path = await _path_for(world, method, template, rule, world.schwerin)
        status = await _call(client, method, path, {}, _body(rule, world))
        checked += 1
        if not _verdict(status, anonymous_expectation):
            failures.append(f"{method} {template} anonymous: {status}, expected {anonymous_expectation}")
        for caller in CALLERS:
            own = world.own_tenant(caller)
            other = world.luebeck
            tenants = [("own", own), ("other", other)] if rule.scope == OWN else [("own", own)]
            if rule.scope == GLOBAL and "{tenant_id:uuid}" in template:
                # Operator views name a tenant in the path: any tenant, the caller's or another.
                tenants = [("own", own), ("other", other)]
            for which, owner in tenants:
                if caller not in rule.allowed:
                    expected = "forbidden"
                elif which == "other" and rule.scope == OWN:
                    expected = "hidden"
                else:
                    expected = "allowed"
                path = await _path_for(world, method, template, rule, owner)
                status = await _call(client, method, path, world.headers(caller), _body(rule, world))
                checked += 1
                if not _verdict(status, expected):
                    failures.append(f"{method} {template} as {caller} on {which} tenant: {status}, expected {expected}")
    assert failures == [], "\n".join(failures)
    assert checked > 9 * len(RULES)
    print(f"access matrix: {len(RULES)} routes, {len(CALLERS)} callers + anonymous, {checked} requests checked")


async def test_openapi_document_is_public(matrix_app: tuple[Litestar, AsyncTestClient, World]) -> None:
    _, client, _ = matrix_app
    response = await client.get("/schema/openapi.json")
    assert response.status_code == 200
    assert "/api/ki-pass" in response.json()["paths"]


async def test_lists_show_only_the_callers_own_tenant(matrix_app: tuple[Litestar, AsyncTestClient, World]) -> None:
    _, client, world = matrix_app
    theirs_pass = await world.fresh("pass_id", world.luebeck)
    theirs_key = await world.fresh("key_id", world.luebeck)
    mine_pass = await world.fresh("pass_id", world.schwerin)
    for caller in (KEY_TENANT_ADMIN, TENANT_ADMIN):
        passes = (await client.get("/api/ki-pass", headers=world.headers(caller))).json()
        ids = {p["id"] for p in passes}
        assert str(mine_pass) in ids
        assert str(theirs_pass) not in ids
        keys = (await client.get("/api/tenant/keys", headers=world.headers(caller))).json()
        assert keys, "Schwerin has keys"
        assert {k["tenant_id"] for k in keys} == {str(world.schwerin.id)}
        assert str(theirs_key) not in {k["id"] for k in keys}
