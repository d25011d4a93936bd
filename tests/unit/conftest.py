"""In-process fixtures: the hub app on a temp SQLite database, with fake vLLM upstreams on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from litestar.testing import AsyncTestClient

from hub.app import create_app
from hub.audit.services import Actor
from hub.db import MIGRATIONS_DIR, create_engine, create_sessionmaker
from hub.settings import Settings
from hub.tenants.models import KeyRole, TenantKind
from hub.tenants.schemas import KeyCreate, TenantCreate
from hub.tenants.services import ApiKeyService, TenantService
from tests.support.fake_vllm import FakeVLLM
from tests.support.servers import ThreadedServer


@dataclass
class FakeUpstream:
    """A fake vLLM on a real loopback port."""

    app: FakeVLLM
    server: ThreadedServer


@pytest.fixture
def fake_upstream() -> Iterator[FakeUpstream]:
    """A fresh fake vLLM serving ``fake`` (4 tokens per answer)."""
    app = FakeVLLM("fake", tokens=4)
    server = ThreadedServer(app).start()
    yield FakeUpstream(app=app, server=server)
    server.stop()


def migrated_settings(tmp_path: Path) -> Settings:
    """Settings for a fresh, migrated SQLite database in ``tmp_path``."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'hub.db'}"
    config = Config(str(MIGRATIONS_DIR / "alembic.ini"))
    config.attributes["database_url"] = url
    command.upgrade(config, "head")
    return Settings(database_url=url, health_interval_s=0.2, registry_refresh_s=0.5, ledger_flush_interval_s=0.05)


@dataclass
class Keys:
    """Secrets of the keys created for a test."""

    operator: str
    schwerin: str
    luebeck: str


async def seed_keys(settings: Settings) -> Keys:
    """The state with an operator key and two municipalities with client keys."""
    engine = create_engine(settings)
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            tenants, keys, actor = TenantService(session=session), ApiKeyService(session=session), Actor.cli()
            state = await tenants.create_tenant(TenantCreate(name="Land", state="MV", kind=TenantKind.STATE), actor)
            schwerin = await tenants.create_tenant(TenantCreate(name="Schwerin", state="MV", ags="13004000"), actor)
            luebeck = await tenants.create_tenant(TenantCreate(name="Lübeck", state="SH", ags="01003000"), actor)
            operator = (await keys.issue(state, KeyCreate(role=KeyRole.OPERATOR), actor))[1].secret
            return Keys(
                operator=operator,
                schwerin=(await keys.issue(schwerin, KeyCreate(), actor))[1].secret,
                luebeck=(await keys.issue(luebeck, KeyCreate(), actor))[1].secret,
            )
    finally:
        await engine.dispose()


@dataclass
class Hub:
    """The app under test with its client and keys."""

    client: AsyncTestClient
    keys: Keys

    def auth(self, key: str) -> dict[str, str]:
        """Bearer header for ``key``."""
        return {"Authorization": f"Bearer {key}"}


@pytest.fixture
async def hub(tmp_path: Path) -> AsyncIterator[Hub]:
    """The hub app in process on a fresh SQLite database, with seeded tenants and keys."""
    settings = migrated_settings(tmp_path)
    keys = await seed_keys(settings)
    async with AsyncTestClient(create_app(settings)) as client:
        yield Hub(client=client, keys=keys)
