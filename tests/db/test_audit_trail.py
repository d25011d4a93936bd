"""The audit trail on SQLite and PostgreSQL: hash chain, concurrent appends, append-only, tampering, query, export.

The tampering tests act as an attacker with database rights: they drop the append-only triggers and
change, delete or cut off rows with plain SQL (no ORM), and the verification must name the first
broken ``seq``.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import Enum
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner, Result
from litestar.testing import AsyncTestClient
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from hub.app import create_app
from hub.audit.chain import verify_chain
from hub.audit.hashing import GENESIS, canonical_json, event_hash, to_json_value
from hub.audit.models import AuditChainHead, AuditEvent, AuditTrailError
from hub.audit.services import Actor, record
from hub.cli import main as kiverbund
from hub.tenants.models import Tenant
from tests.db.conftest import Hub, create_state_and_operator, hub_settings, migrate
from tests.db.helpers import assert_error

MV = "Mecklenburg-Vorpommern"
EVENTS = AuditEvent.__table__
HEAD = AuditChainHead.__table__


# --- helpers --------------------------------------------------------------------------------------


async def audit_rows(sessionmaker: async_sessionmaker) -> list[AuditEvent]:
    """Every audit event in chain order."""
    async with sessionmaker() as session:
        return list((await session.execute(select(AuditEvent).order_by(AuditEvent.seq))).scalars())


async def verdict(sessionmaker: async_sessionmaker, expect_head: tuple[int, str] | None = None) -> Any:
    """The chain verification's report."""
    async with sessionmaker() as session:
        return await verify_chain(session, expect_head=expect_head)


async def append_events(sessionmaker: async_sessionmaker, count: int) -> None:
    """``count`` events, each in its own transaction (as separate admin actions would be)."""
    for n in range(count):
        async with sessionmaker() as session, session.begin():
            record(session, Actor.cli(), "test.event", "thing", n, after={"n": n}, note=f"event {n}")


async def as_attacker(engine: AsyncEngine, *statements: Any) -> None:
    """Run SQL outside the ORM, in one transaction (an attacker with database rights)."""
    async with engine.begin() as connection:
        for statement in statements:
            await connection.execute(sa.text(statement) if isinstance(statement, str) else statement)


def drop_triggers(dialect: str) -> list[str]:
    """The SQL that removes the append-only triggers of ``audit_event``."""
    if dialect == "postgresql":
        return ["DROP TRIGGER audit_event_append_only ON audit_event"]
    return ["DROP TRIGGER audit_event_no_update", "DROP TRIGGER audit_event_no_delete"]


@pytest.fixture
def cli(db_url: str) -> Callable[..., Any]:
    """Run ``kiverbund ARGS`` in-process against the test database (in a thread: it runs its own loop)."""
    runner = CliRunner()

    async def invoke(*args: str) -> Result:
        return await asyncio.to_thread(
            runner.invoke, kiverbund, list(args), env={"KIVERBUND_DATABASE_URL": db_url}, catch_exceptions=False
        )

    return invoke


async def create_tenant(hub: Hub, name: str, ags: str) -> dict[str, Any]:
    response = await hub.client.post(
        "/api/admin/tenants", json={"name": name, "state": MV, "ags": ags}, headers=hub.auth()
    )
    assert response.status_code == 201, response.text
    return response.json()


# --- the chain ------------------------------------------------------------------------------------


class Colour(Enum):
    RED = "rot"


TRICKY = {
    "zahlen": [1.0, 0.1, -0.0, 1e20, 1.5e300, 1e-7, 5e-324, 2**63 + 1, -(2**70), 12345678901234567890, True, False],
    "nicht_json": [float("nan"), float("inf"), float("-inf")],
    "texte": ["Grüße aus Güstrow", "ß ẞ", "😀 𝄞", "مرحبا", "tab\tnew\nline", 'quote " backslash \\', "nul\x00byte", ""],
    "schlüssel": {"b": 1, "a": {"z": [], "y": {}}, "Ä": None, "10": "x", "9": "y"},
    "objekte": [datetime(2026, 11, 22, 10, 0, 0, 1, tzinfo=UTC), date(2026, 1, 31), uuid.UUID(int=7), Colour.RED],
    "mengen": {3, 1, 2},
}


async def test_events_are_chained_and_tricky_json_round_trips_unchanged(
    sessionmaker: async_sessionmaker, dialect: str
) -> None:
    await append_events(sessionmaker, 2)
    async with sessionmaker() as session, session.begin():
        record(
            session,
            Actor(name="key:kv_tricky", tenant_id=uuid.uuid4()),
            "test.tricky",
            "thing",
            "x" * 100,
            before=TRICKY,
            after={"nested": TRICKY},
            **TRICKY,
        )
    rows = await audit_rows(sessionmaker)
    assert [r.seq for r in rows] == [1, 2, 3]
    assert rows[0].prev_hash == GENESIS
    assert [r.prev_hash for r in rows[1:]] == [r.hash for r in rows[:-1]]
    tricky = rows[-1]
    # Stored and re-read, the values are exactly what was hashed, on SQLite's JSON and PostgreSQL's JSONB.
    assert tricky.hash == event_hash(tricky.hashed_fields())
    assert tricky.before == to_json_value(TRICKY), dialect
    assert canonical_json(tricky.after) == canonical_json({"nested": TRICKY})
    assert canonical_json(tricky.details) == canonical_json(TRICKY)
    assert to_json_value(tricky.details) == tricky.details, "normalising a stored value changes nothing"
    numbers = tricky.before["zahlen"]
    assert numbers[:4] == [1, 0.1, 0, 10**20] and numbers[7:10] == [2**63 + 1, -(2**70), 12345678901234567890]
    assert tricky.before["texte"][6] == "nul\ufffdbyte"
    assert tricky.before["objekte"] == ["2026-11-22T10:00:00.000001+00:00", "2026-01-31", str(uuid.UUID(int=7)), "rot"]
    assert tricky.created_at.tzinfo is not None
    report = await verdict(sessionmaker)
    assert (report.valid, report.rows_checked, report.head_seq, report.head_hash) == (True, 3, 3, tricky.hash)


async def test_the_event_commits_and_rolls_back_with_its_action(
    sessionmaker: async_sessionmaker, engine: AsyncEngine
) -> None:
    async def refused_action() -> None:
        async with sessionmaker() as session, session.begin():
            session.add(Tenant(name="Neuburg", state=MV, ags="13000001"))
            record(session, Actor.cli(), "tenant.create", "tenant", "neuburg")
            await session.flush()
            raise RuntimeError("the action was refused")

    async def duplicate_tenant() -> None:
        async with sessionmaker() as session, session.begin():
            record(session, Actor.cli(), "tenant.create", "tenant", "altburg-2")
            session.add(Tenant(name="Altburg", state=MV, ags="13000003"))

    await append_events(sessionmaker, 1)
    with pytest.raises(RuntimeError, match="refused"):
        await refused_action()
    # an action that fails at its commit (a duplicate name) takes its audit event with it
    async with sessionmaker() as session, session.begin():
        session.add(Tenant(name="Altburg", state=MV, ags="13000002"))
    with pytest.raises(DBAPIError):
        await duplicate_tenant()
    await append_events(sessionmaker, 1)
    rows = await audit_rows(sessionmaker)
    assert [(r.seq, r.action) for r in rows] == [(1, "test.event"), (2, "test.event")]
    async with engine.connect() as connection:
        head = (await connection.execute(select(HEAD.c.seq, HEAD.c.hash))).one()
    assert tuple(head) == (2, rows[-1].hash)
    assert (await verdict(sessionmaker)).valid


async def test_events_added_directly_are_chained_too(sessionmaker: async_sessionmaker) -> None:
    async with sessionmaker() as session, session.begin():
        session.add(AuditEvent(actor="cli:x", action="test.direct", target_type="thing", details={"a": 1.0}))
        record(session, Actor.cli(), "test.recorded", "thing")
    rows = await audit_rows(sessionmaker)
    assert sorted(r.action for r in rows) == ["test.direct", "test.recorded"]
    assert next(r for r in rows if r.action == "test.direct").details == {"a": 1}
    assert (await verdict(sessionmaker)).valid


async def test_concurrent_admin_actions_on_two_replicas_keep_one_unbroken_chain(
    db_url: str, sessionmaker: async_sessionmaker
) -> None:
    _, secret, _ = await create_state_and_operator(sessionmaker)
    auth = {"Authorization": f"Bearer {secret}"}
    async with (
        AsyncTestClient(app=create_app(hub_settings(db_url))) as first,
        AsyncTestClient(app=create_app(hub_settings(db_url))) as second,
    ):

        async def action(n: int) -> int:
            client = (first, second)[n % 2]
            if n % 2:
                response = await client.post("/api/admin/models", json={"name": f"modell-{n}"}, headers=auth)
            else:
                body = {"name": f"Gemeinde {n}", "state": MV, "ags": f"130{n:05d}"}
                response = await client.post("/api/admin/tenants", json=body, headers=auth)
            return response.status_code

        assert await asyncio.gather(*(action(n) for n in range(20))) == [201] * 20
        verified = (await first.get("/api/admin/audit/verify", headers=auth)).json()
    rows = await audit_rows(sessionmaker)
    assert [r.seq for r in rows] == list(range(1, 23))
    assert sorted(r.action for r in rows[2:]) == ["model.create"] * 10 + ["tenant.create"] * 10
    assert verified == {
        "valid": True,
        "rows_checked": 22,
        "head_seq": 22,
        "head_hash": rows[-1].hash,
        "broken_seq": None,
        "problem": None,
    }


async def test_racing_commits_are_serialised(sessionmaker: async_sessionmaker) -> None:
    # as many as the SQLite engine's connection pool holds at once (15); PostgreSQL's holds 30
    barrier = asyncio.Barrier(15)

    async def append(n: int) -> None:
        async with sessionmaker() as session, session.begin():
            record(session, Actor.cli(), "test.race", "thing", n)
            await session.execute(select(func.count()).select_from(Tenant))
            await barrier.wait()  # all commit at once

    await asyncio.gather(*(append(n) for n in range(15)))
    rows = await audit_rows(sessionmaker)
    assert [r.seq for r in rows] == list(range(1, 16))
    assert sorted(int(r.target_id) for r in rows) == list(range(15))
    assert (await verdict(sessionmaker)).valid


# --- append-only ----------------------------------------------------------------------------------


async def test_the_orm_refuses_to_change_or_delete_events(sessionmaker: async_sessionmaker) -> None:
    await append_events(sessionmaker, 2)
    async with sessionmaker() as session:
        event = (await session.execute(select(AuditEvent).where(AuditEvent.seq == 1))).scalar_one()
        event.details = {"note": "forged"}
        with pytest.raises(AuditTrailError, match="append-only"):
            await session.flush()
        await session.rollback()
        event = (await session.execute(select(AuditEvent).where(AuditEvent.seq == 1))).scalar_one()
        await session.delete(event)
        with pytest.raises(AuditTrailError, match="append-only"):
            await session.flush()
        await session.rollback()
        for statement in (update(AuditEvent).values(action="forged"), delete(AuditEvent)):
            with pytest.raises(AuditTrailError, match="append-only"):
                await session.execute(statement)
            await session.rollback()
    assert (await verdict(sessionmaker)).rows_checked == 2


async def test_the_database_refuses_update_and_delete(
    sessionmaker: async_sessionmaker, engine: AsyncEngine, dialect: str
) -> None:
    await append_events(sessionmaker, 3)
    refused = [
        update(EVENTS).where(EVENTS.c.seq == 2).values(details={"note": "forged"}),
        "UPDATE audit_event SET action = 'forged'",
        delete(EVENTS).where(EVENTS.c.seq == 3),
        "DELETE FROM audit_event",
        "DELETE FROM audit_chain_head",
    ]
    if dialect == "postgresql":
        refused += ["TRUNCATE audit_event", "TRUNCATE audit_chain_head"]
    for statement in refused:
        with pytest.raises(DBAPIError, match="append-only"):
            await as_attacker(engine, statement)
    report = await verdict(sessionmaker)
    assert (report.valid, report.rows_checked) == (True, 3)


# --- tampering ------------------------------------------------------------------------------------


@dataclass
class Tampered:
    """Six events, their hashes, and how to reach the database around the hub."""

    engine: AsyncEngine
    sessionmaker: async_sessionmaker
    dialect: str
    hashes: dict[int, str]


@pytest.fixture
async def six_events(engine: AsyncEngine, sessionmaker: async_sessionmaker, dialect: str) -> Tampered:
    """Six chained events; the attacker has already dropped the append-only triggers."""
    await append_events(sessionmaker, 6)
    await as_attacker(engine, *drop_triggers(dialect))
    return Tampered(engine, sessionmaker, dialect, {r.seq: r.hash for r in await audit_rows(sessionmaker)})


async def test_a_modified_past_event_is_found(six_events: Tampered, cli: Callable[..., Any]) -> None:
    ok = await cli("audit", "verify")
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout)["head_seq"] == 6
    await as_attacker(six_events.engine, update(EVENTS).where(EVENTS.c.seq == 3).values(details={"note": "forged"}))
    report = await verdict(six_events.sessionmaker)
    assert (report.valid, report.broken_seq, report.rows_checked) == (False, 3, 2)
    assert "modified" in report.problem
    done = await cli("audit", "verify")
    assert done.exit_code == 1
    assert json.loads(done.stdout)["broken_seq"] == 3
    assert "BROKEN at seq 3" in done.stderr and "modified" in done.stderr


async def test_a_rewritten_event_with_a_recomputed_hash_breaks_the_next_link(six_events: Tampered) -> None:
    [row] = [r for r in await audit_rows(six_events.sessionmaker) if r.seq == 3]
    forged = {**row.hashed_fields(), "details": {"note": "forged"}}
    await as_attacker(
        six_events.engine,
        update(EVENTS).where(EVENTS.c.seq == 3).values(details=forged["details"], hash=event_hash(forged)),
    )
    report = await verdict(six_events.sessionmaker)
    assert (report.valid, report.broken_seq) == (False, 4)
    assert "prev_hash" in report.problem


async def test_a_deleted_middle_event_is_found(six_events: Tampered) -> None:
    await as_attacker(six_events.engine, delete(EVENTS).where(EVENTS.c.seq == 3))
    report = await verdict(six_events.sessionmaker)
    assert (report.valid, report.broken_seq, report.rows_checked) == (False, 3, 2)
    assert "seq 3 is missing" in report.problem
    # renumbering the rest to close the gap does not help: the link from seq 3 to seq 2 is broken
    await as_attacker(six_events.engine, update(EVENTS).where(EVENTS.c.seq > 3).values(seq=EVENTS.c.seq - 1))
    report = await verdict(six_events.sessionmaker)
    assert (report.valid, report.broken_seq) == (False, 3)
    assert "prev_hash" in report.problem


async def test_a_cut_off_tail_is_found_by_the_head_record_and_by_the_expected_head(
    six_events: Tampered, cli: Callable[..., Any]
) -> None:
    hashes = six_events.hashes
    await as_attacker(six_events.engine, delete(EVENTS).where(EVENTS.c.seq > 4))
    report = await verdict(six_events.sessionmaker)
    assert (report.valid, report.broken_seq, report.head_seq) == (False, 5, 4)
    assert "head record says seq 6" in report.problem

    # An attacker who also moves the head record back is caught by the head noted outside the database.
    await as_attacker(six_events.engine, update(HEAD).values(seq=4, hash=hashes[4]))
    assert (await verdict(six_events.sessionmaker)).valid
    report = await verdict(six_events.sessionmaker, expect_head=(6, hashes[6]))
    assert (report.valid, report.broken_seq) == (False, 5)
    assert "seq 6 was expected" in report.problem
    done = await cli("audit", "verify", "--expect-head", f"6:{hashes[6]}")
    assert done.exit_code == 1
    assert "BROKEN at seq 5" in done.stderr
    still = await cli("audit", "verify", "--expect-head", f"4:{hashes[4]}")
    assert still.exit_code == 0, still.output
    rewritten = await cli("audit", "verify", "--expect-head", f"4:{'0' * 64}")
    assert rewritten.exit_code == 1
    assert "another hash" in rewritten.stderr
    bad = await cli("audit", "verify", "--expect-head", "vier")
    assert bad.exit_code == 2
    assert "SEQ:HASH" in bad.output


# --- the back-fill of existing events -------------------------------------------------------------


async def test_the_migration_chains_existing_events_in_the_order_they_were_written(empty_db_url: str) -> None:
    migrate(empty_db_url, "f8899d212fa4")
    old = sa.table(
        "audit_event",
        *(EVENTS.c[name]._copy() for name in ("id", "created_at", "updated_at", "actor", "action", "target_type")),
        EVENTS.c.target_id._copy(),
        EVENTS.c.details._copy(),
    )
    start = datetime(2026, 1, 1, tzinfo=UTC)
    written = [(start + timedelta(minutes=m), f"old.{m}") for m in (2, 0, 1)]
    from hub.db import create_engine, create_sessionmaker
    from hub.settings import Settings

    engine = create_engine(Settings(database_url=empty_db_url))
    try:
        async with engine.begin() as connection:
            for at, action in written:
                await connection.execute(
                    old.insert().values(
                        id=uuid.uuid4(),
                        created_at=at,
                        updated_at=at,
                        actor="cli:alt",
                        action=action,
                        target_type="thing",
                        target_id="",
                        details={"weight": 2.0},
                    )
                )
        migrate(empty_db_url)
        sessionmaker = create_sessionmaker(engine)
        rows = await audit_rows(sessionmaker)
        assert [(r.seq, r.action) for r in rows] == [(1, "old.0"), (2, "old.1"), (3, "old.2")]
        assert (await verdict(sessionmaker)).valid
        await append_events(sessionmaker, 1)
        report = await verdict(sessionmaker)
        assert (report.valid, report.rows_checked) == (True, 4)
        with pytest.raises(DBAPIError, match="append-only"):
            await as_attacker(engine, "DELETE FROM audit_event")
    finally:
        await engine.dispose()


# --- query and export -----------------------------------------------------------------------------


async def test_query_filters_and_pages_with_a_stable_cursor(hub: Hub) -> None:
    towns = [await create_tenant(hub, f"Stadt {n}", f"1300{n:04d}") for n in range(5)]
    first_of_mine = datetime.now(UTC)
    await hub.client.patch(f"/api/admin/tenants/{towns[0]['id']}", json={"enabled": False}, headers=hub.auth())
    get = hub.client.get
    auth = hub.auth()

    everything = (await get("/api/admin/audit", headers=auth)).json()
    assert [e["seq"] for e in everything] == list(range(8, 0, -1)), "newest first"
    assert set(everything[0]) == {
        "id",
        "seq",
        "created_at",
        "actor",
        "actor_tenant_id",
        "action",
        "target_type",
        "target_id",
        "before",
        "after",
        "details",
        "prev_hash",
        "hash",
    }
    update_event = everything[0]
    assert update_event["before"]["enabled"] is True and update_event["after"]["enabled"] is False

    pages, params = [], {"limit": 3, "action": "tenant.create"}
    while True:
        response = await get("/api/admin/audit", params=params, headers=auth)
        assert response.status_code == 200
        pages.append([e["seq"] for e in response.json()])
        if "link" not in response.headers:
            break
        assert 'rel="next"' in response.headers["link"]
        params = {**params, "before_seq": response.json()[-1]["seq"]}
    assert pages == [[7, 6, 5], [4, 3, 1]]

    async def seqs(**filters: Any) -> list[int]:
        response = await get("/api/admin/audit", params=filters, headers=auth)
        assert response.status_code == 200, response.text
        return [e["seq"] for e in response.json()]

    actor = f"key:{hub.operator_prefix}"
    assert await seqs(actor=actor) == [8, 7, 6, 5, 4, 3]
    assert await seqs(actor=actor, action="tenant.update") == [8]
    assert await seqs(target_type="api_key") == [2]
    assert await seqs(target_id=towns[0]["id"]) == [8, 3]
    assert await seqs(tenant=str(hub.state_tenant_id)) == [8, 7, 6, 5, 4, 3]
    assert await seqs(since=(first_of_mine - timedelta(seconds=1)).isoformat(), action="tenant.update") == [8]
    assert await seqs(until="2000-01-01T00:00:00") == []
    assert await seqs(since="2000-01-01T00:00:00Z", until="2100-01-01T00:00:00+01:00", limit=2) == [8, 7]


async def test_bad_query_values_are_400_in_the_error_envelope(hub: Hub) -> None:
    for path, params, param in [
        ("/api/admin/audit", {"tenant": "not-a-uuid"}, None),
        ("/api/admin/audit", {"since": "yesterday"}, None),
        ("/api/admin/audit", {"limit": 0}, None),
        ("/api/admin/audit", {"limit": 1001}, None),
        ("/api/admin/audit", {"before_seq": 0}, None),
        ("/api/admin/audit", {"before_seq": "last"}, None),
        ("/api/admin/audit", {"since": "2026-02-01T00:00:00", "until": "2026-01-01T00:00:00"}, "since"),
        ("/api/admin/audit", {"action": "x" * 101}, None),
        ("/api/admin/audit", {"actor": "key:\x00"}, "actor"),
        ("/api/admin/audit", {"before_seq": 10**20}, None),
        ("/api/admin/audit/export", {"format": "xml"}, None),
        ("/api/admin/audit/export", {"since": "2026-02-01T00:00:00+01:00", "until": "2026-01-31T23:00:00Z"}, "since"),
        ("/api/admin/audit/verify", {"expect_head": "12"}, "expect_head"),
        ("/api/admin/audit/verify", {"expect_head": "x:" + "0" * 64}, "expect_head"),
    ]:
        assert_error(await hub.client.get(path, params=params, headers=hub.auth()), 400, param=param)


async def test_export_as_json_lines_and_csv_can_be_rechecked(hub: Hub, cli: Callable[..., Any], tmp_path: Any) -> None:
    town = await create_tenant(hub, "Exportstadt", "13009999")
    await hub.client.patch(f"/api/admin/tenants/{town['id']}", json={"name": "=HYPERLINK(1)"}, headers=hub.auth())
    response = await hub.client.get("/api/admin/audit/export", headers=hub.auth())
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/x-ndjson")
    assert response.headers["content-disposition"].startswith('attachment; filename="kiverbund-audit-')
    lines = [json.loads(line) for line in response.text.splitlines()]
    assert [e["seq"] for e in lines] == [1, 2, 3, 4], "chain order"
    prev = GENESIS
    for line in lines:
        assert line["prev_hash"] == prev
        assert event_hash({**line, "created_at": datetime.fromisoformat(line["created_at"])}) == line["hash"]
        prev = line["hash"]

    filtered = await hub.client.get(
        "/api/admin/audit/export", params={"format": "csv", "action": "tenant.update"}, headers=hub.auth()
    )
    assert filtered.headers["content-type"].startswith("text/csv")
    assert filtered.headers["content-disposition"].endswith('.csv"')
    rows = list(csv.DictReader(io.StringIO(filtered.text)))
    assert [(r["seq"], r["action"], r["target_id"]) for r in rows] == [("4", "tenant.update", town["id"])]
    assert json.loads(rows[0]["after"])["name"] == "=HYPERLINK(1)"
    assert rows[0]["hash"] == lines[3]["hash"]

    out = tmp_path / "audit.jsonl"
    done = await cli("audit", "export", "--output", str(out), "--action", "tenant.create")
    assert done.exit_code == 0, done.output
    assert [json.loads(line)["seq"] for line in out.read_text(encoding="utf-8").splitlines()] == [1, 3]
    assert "2 events written" in done.stderr
    by_tenant = await cli("audit", "export", "--format", "csv", "--tenant", "Land Mecklenburg-Vorpommern")
    assert by_tenant.exit_code == 0, by_tenant.output
    assert [r["seq"] for r in csv.DictReader(io.StringIO(by_tenant.stdout))] == ["3", "4"]  # the operator key's
    by_key = await cli(
        "audit", "export", "--format", "csv", "--actor", f"key:{hub.operator_prefix}", "--until", "2000-01-01"
    )
    assert [r["seq"] for r in csv.DictReader(io.StringIO(by_key.stdout))] == []
    refused = await cli("audit", "export", "--since", "gestern")
    assert refused.exit_code == 2 and "ISO 8601" in refused.output
    unknown = await cli("audit", "export", "--tenant", "Atlantis")
    assert unknown.exit_code == 1 and "Atlantis" in unknown.output
