"""The operations page ``/betrieb`` in Debian's Chromium: operators see every tenant and the backends,
a tenant admin only the own municipality, staff nothing; axe-core finds no serious violations.

The hub runs with two municipalities (Schwerin, Lübeck), a healthy backend (the fake vLLM on loopback),
one that cannot be reached, quota policies and ledger rows of this month.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest
from playwright.async_api import Browser, BrowserContext, Page
from sqlalchemy import select

from hub.audit.services import Actor
from hub.backends.models import Backend, Model
from hub.db import create_engine, create_sessionmaker
from hub.quotas.schemas import QuotaPolicySet
from hub.quotas.services import QuotaPolicyService
from hub.settings import Settings
from hub.tenants.models import Tenant, TenantKind
from hub.tenants.schemas import TenantCreate
from hub.tenants.services import TenantService
from hub.usage.services import UsageEntry, write_usage
from tests.browser.conftest import RunningHub, Seed, seed_database
from tests.browser.test_catalog_pages import axe_script, describe, serious_violations
from tests.db.conftest import sqlite_url
from tests.db.helpers import usage_entry
from tests.support.fake_keycloak import FakeKeycloak
from tests.support.fake_vllm import FakeVLLM
from tests.support.ports import free_port
from tests.support.servers import ThreadedServer

# --- fixtures (``seed`` and ``keycloak`` replace conftest's for this module) ---------------------


@pytest.fixture(scope="module")
def keycloak() -> Iterator[FakeKeycloak]:
    """State IT's operator, Schwerin's tenant admin and a member of its staff."""
    with FakeKeycloak() as fake:
        fake.add_user("olga", ["operator"], ["land-mv"], name="Olga Betrieb")
        fake.add_user("bernd", ["staff", "tenant-admin"], ["schwerin"], name="Bernd Meyer")
        fake.add_user("anna", ["staff"], ["schwerin"], name="Anna Schmidt")
        yield fake


@pytest.fixture(scope="module")
def backend_server() -> Iterator[ThreadedServer]:
    """A healthy vLLM stand-in on loopback."""
    server = ThreadedServer(FakeVLLM(model="llama-upstream")).start()
    yield server
    server.stop()


async def add_operations_data(db_url: str, backend_url: str) -> None:
    """Lübeck, the state's organization alias, models, backends, quota policies and this month's ledger."""
    engine = create_engine(Settings(database_url=db_url))
    now = datetime.now(UTC)
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            state = (await session.execute(select(Tenant).where(Tenant.kind == TenantKind.STATE.value))).scalar_one()
            state.org_alias = "land-mv"
            schwerin = (await session.execute(select(Tenant).where(Tenant.org_alias == "schwerin"))).scalar_one()
            luebeck = await TenantService(session=session).create_tenant(
                TenantCreate(name="Lübeck", state="Schleswig-Holstein", ags="01003000", org_alias="luebeck"),
                Actor.cli(),
            )
            session.add(Model(name="llama", upstream_name="llama-upstream"))
            session.add(Model(name="embed", upstream_name="embed-upstream", kind="embedding"))
            session.add(
                Backend(
                    name="gpu-schwerin-1",
                    base_url=backend_url,
                    location="DE-MV-Schwerin",
                    served_models=["llama-upstream"],
                    max_concurrency=8,
                )
            )
            session.add(
                Backend(
                    name="gpu-luebeck-1",
                    base_url=f"http://127.0.0.1:{free_port()}",
                    location="DE-SH-Luebeck",
                    served_models=["embed-upstream"],
                )
            )
            await session.flush()
            quotas = QuotaPolicyService(session=session)
            await quotas.set_policy(
                schwerin.id, QuotaPolicySet(monthly_tokens=1000, requests_per_minute=60), Actor.cli()
            )
            await quotas.set_policy(luebeck.id, QuotaPolicySet(monthly_tokens=50_000), Actor.cli())
            await write_usage(
                session,
                [
                    row(schwerin.id, now - timedelta(minutes=5), 200, 50, "schwerin-ok"),
                    row(schwerin.id, now - timedelta(minutes=3), 10, 5, "schwerin-kaputt", status="upstream_error"),
                    row(luebeck.id, now - timedelta(minutes=4), 30_000, 12_000, "luebeck-ok"),
                    row(luebeck.id, now - timedelta(minutes=2), 1, 0, "luebeck-kaputt", status="client_error"),
                ],
            )
    finally:
        await engine.dispose()


def row(tenant_id: UUID, at: datetime, prompt: int, completion: int, request_id: str, status: str = "ok") -> UsageEntry:
    """A ledger entry of ``tenant_id``."""
    return usage_entry(
        tenant_id,
        at,
        model="llama",
        prompt=prompt,
        completion=completion,
        status=status,
        request_id=request_id,
        api_key_id=uuid4(),
    )


@pytest.fixture(scope="module")
async def seed(tmp_path_factory: pytest.TempPathFactory, backend_server: ThreadedServer) -> Seed:
    """conftest's tenants plus the operations data (the hub loads backends when it starts)."""
    seeded = await seed_database(sqlite_url(tmp_path_factory.mktemp("operations-web-db") / "hub.db"))
    await add_operations_data(seeded.db_url, backend_server.url)
    return seeded


async def sign_in_at(page: Page, hub: RunningHub, path: str, username: str) -> None:
    """Open ``path``, sign in at the fake Keycloak when sent there, and come back to ``path``."""
    page.set_default_timeout(10_000)
    await page.goto(hub.url + path)
    await page.wait_for_selector("#username")
    await page.fill("#username", username)
    await page.fill("#password", "secret")
    await page.click("#kc-login")
    await page.wait_for_url(hub.url + path)


async def cell_texts(page: Page, selector: str) -> list[str]:
    """The stripped texts of the elements matching ``selector``."""
    return [t.strip() for t in await page.locator(selector).all_inner_texts()]


# --- the tests ------------------------------------------------------------------------------------


async def test_an_operator_sees_every_municipality_the_backends_and_all_errors(
    context: BrowserContext, hub: RunningHub
) -> None:
    page = await context.new_page()
    await sign_in_at(page, hub, "/betrieb", "olga")
    assert await page.title() == "Betrieb \N{EN DASH} KI-Verbund"
    assert await page.get_attribute("nav a[href='/betrieb']", "aria-current") == "page"

    overview = await cell_texts(page, "#uebersicht tbody th")
    assert "Schwerin" in overview
    assert "Lübeck" in overview
    schwerin_row = page.locator("#uebersicht tbody tr", has_text="Schwerin")
    assert "26,5 % (im Rahmen)" in await schwerin_row.inner_text()
    luebeck_row = page.locator("#uebersicht tbody tr", has_text="Lübeck")
    luebeck_text = await luebeck_row.inner_text()
    assert "42.001" in luebeck_text
    assert "84,0 % (knapp)" in luebeck_text, "the state is said in words, not only by the meter's colour"
    assert await luebeck_row.locator("meter").get_attribute("value") == "84.0"

    schwerin_table = page.locator("section.kommune", has_text="Schwerin").locator("table")
    schwerin_text = await schwerin_table.inner_text()
    assert "Anfragen in dieser Minute \N{EN DASH} ganze Kommune" in schwerin_text
    assert "60 pro Minute" in schwerin_text
    assert "265 (210 + 55)" in schwerin_text

    backends = page.locator("#backends tbody tr")
    assert await backends.count() == 2
    healthy = page.locator("#backends tbody tr", has_text="gpu-schwerin-1")
    assert await healthy.get_attribute("data-state") == "healthy"
    assert "erreichbar" in await healthy.inner_text()
    assert "0 von 8" in await healthy.inner_text()
    broken = page.locator("#backends tbody tr", has_text="gpu-luebeck-1")
    assert await broken.get_attribute("data-state") == "unhealthy"
    assert "gestört:" in await broken.inner_text()

    names = await cell_texts(page, "#modelle tbody th")
    models = dict(zip(names, await cell_texts(page, "#modelle tbody td:last-child"), strict=True))
    assert models == {"embed": "nein", "llama": "ja"}

    errors = await page.inner_text("#fehler")
    assert "schwerin-kaputt" in errors
    assert "luebeck-kaputt" in errors
    assert "schwerin-ok" not in errors
    assert "Fehler des Backends" in errors
    # Newest first: Lübeck's failure came a minute after Schwerin's.
    ids = await cell_texts(page, "#fehler tbody td:last-child")
    assert ids == ["luebeck-kaputt", "schwerin-kaputt"]


async def test_a_tenant_admin_sees_only_the_own_municipality(context: BrowserContext, hub: RunningHub) -> None:
    page = await context.new_page()
    await sign_in_at(page, hub, "/betrieb", "bernd")
    main = await page.inner_text("main")
    assert "Sie sehen die Zahlen Ihrer Kommune Schwerin." in main
    assert await page.locator("section.kommune").count() == 1
    assert "26,5 % (im Rahmen)" in await page.inner_text("section.kommune")
    for foreign in ("Lübeck", "luebeck", "42.001", "gpu-", "127.0.0.1", "Land Mecklenburg"):
        assert foreign not in main, foreign
    assert await page.locator("#uebersicht").count() == 0
    assert await page.locator("#backends").count() == 0
    assert await cell_texts(page, "#fehler tbody td:last-child") == ["schwerin-kaputt"]
    assert "Kommune" not in await cell_texts(page, "#fehler thead th")
    assert await cell_texts(page, "#modelle tbody th") == ["embed", "llama"]


async def test_staff_get_no_access_and_no_link(context: BrowserContext, hub: RunningHub) -> None:
    page = await context.new_page()
    await sign_in_at(page, hub, "/betrieb", "anna")
    assert "Kein Zugriff" in await page.inner_text("main")
    assert await page.locator("nav a[href='/betrieb']").count() == 0
    assert "Schwerin" not in await page.inner_text("main")


async def test_the_page_has_no_serious_accessibility_violations(browser: Browser, hub: RunningHub) -> None:
    axe_script()
    found: dict[str, str] = {}
    for username in ("olga", "bernd"):
        # A profile that ignores the page's Content-Security-Policy, so axe-core (an inline script) can run.
        ctx = await browser.new_context(locale="de-DE", bypass_csp=True)
        ctx.set_default_timeout(10_000)
        try:
            page = await ctx.new_page()
            await sign_in_at(page, hub, "/betrieb", username)
            if violations := await serious_violations(page):
                found[f"/betrieb as {username}"] = describe(violations)
        finally:
            await ctx.close()
    report = "\n".join(f"{path}:\n{text}" for path, text in found.items())
    assert found == {}, f"axe-core found serious or critical violations:\n{report}"
