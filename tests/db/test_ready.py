"""Readiness covers the shared quota store: a replica whose Redis is gone must not get traffic."""

from __future__ import annotations

from pathlib import Path

from litestar.testing import AsyncTestClient

from hub.app import create_app
from hub.settings import Settings
from tests.db.conftest import migrate, sqlite_url
from tests.support.ports import free_port


async def _ready_status(tmp_path: Path, redis_url: str) -> int:
    url = sqlite_url(tmp_path / "hub.db")
    migrate(url)
    settings = Settings(database_url=url, quota_store="redis", redis_url=redis_url)
    async with AsyncTestClient(create_app(settings)) as client:
        return (await client.get("/ready")).status_code


async def test_ready_with_a_reachable_redis(tmp_path: Path, redis_url: str) -> None:
    assert await _ready_status(tmp_path, redis_url) == 200


async def test_not_ready_without_its_redis(tmp_path: Path) -> None:
    assert await _ready_status(tmp_path, f"redis://127.0.0.1:{free_port()}/0") == 503
