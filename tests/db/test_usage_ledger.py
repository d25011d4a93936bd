"""The usage ledger on SQLite and PostgreSQL: exact rows, daily aggregates, concurrent upserts, chargeback."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from uuid import UUID, uuid4

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import async_sessionmaker

from hub.audit.services import Actor
from hub.tenants.schemas import TenantCreate
from hub.tenants.services import TenantService
from hub.usage.models import UsageRecord
from hub.usage.services import (
    CHARGEBACK_COLUMNS,
    UsageEntry,
    berlin_day,
    chargeback_csv,
    daily_usage,
    month_bounds,
    write_usage,
)
from tests.db.helpers import usage_entry as entry


async def write(sessionmaker: async_sessionmaker, entries: Sequence[UsageEntry]) -> None:
    async with sessionmaker() as session, session.begin():
        await write_usage(session, entries)


async def make_tenant(sessionmaker: async_sessionmaker, name: str, ags: str) -> UUID:
    async with sessionmaker() as session, session.begin():
        tenant = await TenantService(session=session).create_tenant(
            TenantCreate(name=name, state="Mecklenburg-Vorpommern", ags=ags), Actor.cli()
        )
    return tenant.id


def test_berlin_day_and_month_bounds() -> None:
    assert berlin_day(datetime(2026, 11, 30, 23, 30, tzinfo=UTC)) == date(2026, 12, 1)  # CET, UTC+1
    assert berlin_day(datetime(2026, 11, 30, 22, 59, 59, tzinfo=UTC)) == date(2026, 11, 30)
    assert berlin_day(datetime(2026, 7, 31, 22, 0, tzinfo=UTC)) == date(2026, 8, 1)  # CEST, UTC+2
    assert berlin_day(datetime(2026, 7, 31, 21, 59, tzinfo=UTC)) == date(2026, 7, 31)
    assert month_bounds("2026-11") == (date(2026, 11, 1), date(2026, 11, 30))
    assert month_bounds("2026-12") == (date(2026, 12, 1), date(2026, 12, 31))
    assert month_bounds("2028-02") == (date(2028, 2, 1), date(2028, 2, 29))
    for bad in ("2026-13", "2026", "26-11", "november"):
        with pytest.raises(ValueError):  # noqa: PT011
            month_bounds(bad)


async def test_rows_are_written_exactly_and_days_sum_them(sessionmaker: async_sessionmaker) -> None:
    tenant = uuid4()  # the ledger does not require the tenant row; the chargeback joins on it
    day1 = datetime(2026, 11, 10, 9, 0, tzinfo=UTC)
    day2 = datetime(2026, 11, 11, 9, 0, tzinfo=UTC)
    entries = [
        entry(tenant, day1, prompt=101, completion=7),
        entry(tenant, day1 + timedelta(hours=1), prompt=3, completion=2_000_000),
        entry(tenant, day1, model="embed", prompt=512, completion=0),
        entry(tenant, day1, prompt=9, completion=0, status="upstream_error"),
        entry(tenant, day2, prompt=1, completion=1),
        entry(tenant, day2, model=None, prompt=4, completion=0, status="client_error"),
    ]
    await write(sessionmaker, entries[:3])
    await write(sessionmaker, entries[3:])

    async with sessionmaker() as session:
        rows = {r.request_id: r for r in (await session.execute(select(UsageRecord))).scalars()}
        assert set(rows) == {e.request_id for e in entries}
        for e in entries:
            row = rows[e.request_id]
            assert (row.prompt_tokens, row.completion_tokens) == (e.prompt_tokens, e.completion_tokens)
            assert (row.tenant_id, row.model, row.status, row.http_status) == (
                e.tenant_id,
                e.model,
                e.status,
                e.http_status,
            )
            assert row.created_at == e.created_at
            assert row.api_key_id == e.api_key_id
            assert row.backend_id == e.backend_id

        days = await daily_usage(session, tenant, date(2026, 11, 1), date(2026, 11, 30))
        got = {(d.day, d.model): (d.requests, d.errors, d.prompt_tokens, d.completion_tokens) for d in days}
        assert got == {
            (date(2026, 11, 10), "embed"): (1, 0, 512, 0),
            (date(2026, 11, 10), "llama"): (3, 1, 113, 2_000_007),
            (date(2026, 11, 11), ""): (1, 1, 4, 0),
            (date(2026, 11, 11), "llama"): (1, 0, 1, 1),
        }
        # the aggregates equal the sums over the rows, whatever the grouping
        totals = (
            await session.execute(
                select(
                    func.count(),
                    func.sum(UsageRecord.prompt_tokens),
                    func.sum(UsageRecord.completion_tokens),
                ).where(UsageRecord.tenant_id == tenant)
            )
        ).one()
        assert totals == (
            sum(d.requests for d in days),
            sum(d.prompt_tokens for d in days),
            sum(d.completion_tokens for d in days),
        )
        # the date range is inclusive on both ends and filters by tenant
        assert [d.day for d in await daily_usage(session, tenant, date(2026, 11, 11), date(2026, 11, 11))] == [
            date(2026, 11, 11),
            date(2026, 11, 11),
        ]
        assert await daily_usage(session, uuid4(), date(2026, 11, 1), date(2026, 11, 30)) == []


async def test_concurrent_batches_lose_no_increment(sessionmaker: async_sessionmaker) -> None:
    tenant = uuid4()
    moment = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    first_written = asyncio.Event()

    async def first() -> None:
        async with sessionmaker() as session, session.begin():
            await write_usage(session, [entry(tenant, moment, prompt=1, completion=10) for _ in range(3)])
            first_written.set()
            # keep the transaction open while the second writer upserts the same (day, tenant, model)
            await asyncio.sleep(0.3)

    async def second() -> None:
        await first_written.wait()
        async with sessionmaker() as session, session.begin():
            await write_usage(session, [entry(tenant, moment, prompt=100, completion=1000) for _ in range(2)])

    await asyncio.gather(first(), second())
    # and many writers at once on top
    await asyncio.gather(*(write(sessionmaker, [entry(tenant, moment, prompt=i, completion=1)]) for i in range(1, 11)))

    async with sessionmaker() as session:
        days = await daily_usage(session, tenant, date(2026, 11, 20), date(2026, 11, 20))
        row_count = (
            await session.execute(select(func.count()).select_from(UsageRecord).where(UsageRecord.tenant_id == tenant))
        ).scalar_one()
    assert len(days) == 1
    assert (days[0].requests, days[0].prompt_tokens, days[0].completion_tokens) == (
        3 + 2 + 10,
        3 * 1 + 2 * 100 + sum(range(1, 11)),
        3 * 10 + 2 * 1000 + 10,
    )
    assert row_count == 15


async def test_request_just_before_midnight_utc_counts_for_december(sessionmaker: async_sessionmaker) -> None:
    tenant = await make_tenant(sessionmaker, "Schwerin", "13004000")
    await write(
        sessionmaker,
        [
            entry(tenant, datetime(2026, 11, 30, 23, 30, tzinfo=UTC), prompt=7, completion=3),  # 00:30 on Dec 1
            entry(tenant, datetime(2026, 11, 30, 22, 59, tzinfo=UTC), prompt=2, completion=1),  # 23:59 on Nov 30
        ],
    )
    async with sessionmaker() as session:
        days = await daily_usage(session, tenant, date(2026, 11, 1), date(2026, 12, 31))
        november = parse_csv(await chargeback_csv(session, "2026-11"))
        december = parse_csv(await chargeback_csv(session, "2026-12"))
    assert [(d.day, d.prompt_tokens) for d in days] == [(date(2026, 11, 30), 2), (date(2026, 12, 1), 7)]
    assert [(r["month"], r["requests"], r["prompt_tokens"], r["total_tokens"]) for r in november] == [
        ("2026-11", "1", "2", "3")
    ]
    assert [(r["month"], r["requests"], r["prompt_tokens"], r["total_tokens"]) for r in december] == [
        ("2026-12", "1", "7", "10")
    ]


def parse_csv(text: str) -> list[dict[str, str]]:
    """The chargeback CSV as dicts, after checking its header."""
    reader = csv.reader(io.StringIO(text))
    header = next(reader)
    assert tuple(header) == CHARGEBACK_COLUMNS
    return [dict(zip(header, row, strict=True)) for row in reader]


async def test_chargeback_has_one_line_per_tenant_and_model(sessionmaker: async_sessionmaker) -> None:
    rostock = await make_tenant(sessionmaker, "Rostock", "13003000")
    greifswald = await make_tenant(sessionmaker, "Greifswald", "13075039")
    nov = datetime(2026, 11, 5, 10, 0, tzinfo=UTC)
    await write(
        sessionmaker,
        [
            entry(rostock, nov, model="llama", prompt=100, completion=50),
            entry(rostock, nov + timedelta(days=3), model="llama", prompt=20, completion=5, status="upstream_error"),
            entry(rostock, nov, model="embed", prompt=300, completion=0),
            entry(greifswald, nov + timedelta(days=20), model="llama", prompt=1, completion=2),
            entry(greifswald, datetime(2026, 10, 31, 12, 0, tzinfo=UTC), model="llama", prompt=999, completion=999),
            entry(greifswald, datetime(2026, 12, 1, 12, 0, tzinfo=UTC), model="llama", prompt=888, completion=888),
        ],
    )
    async with sessionmaker() as session:
        text = await chargeback_csv(session, "2026-11")
        empty = await chargeback_csv(session, "2025-01")
    assert text.splitlines()[0] == ",".join(CHARGEBACK_COLUMNS)
    rows = parse_csv(text)
    got = {(r["tenant_name"], r["model"]): r for r in rows}
    assert len(rows) == len(got) == 3
    assert [(r["tenant_name"], r["model"]) for r in rows] == sorted(got)  # ordered by tenant, then model
    assert got["Rostock", "llama"] == {
        "month": "2026-11",
        "tenant_id": str(rostock),
        "tenant_name": "Rostock",
        "ags": "13003000",
        "model": "llama",
        "requests": "2",
        "errors": "1",
        "prompt_tokens": "120",
        "completion_tokens": "55",
        "total_tokens": "175",
    }
    assert (got["Rostock", "embed"]["requests"], got["Rostock", "embed"]["total_tokens"]) == ("1", "300")
    greif = got["Greifswald", "llama"]
    assert (greif["tenant_id"], greif["ags"], greif["requests"], greif["errors"], greif["total_tokens"]) == (
        str(greifswald),
        "13075039",
        "1",
        "0",
        "3",
    )
    assert parse_csv(empty) == []
