"""The admin API in-process against SQLite and PostgreSQL: tenants, keys, registry, audit, chargeback."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
from sqlalchemy import inspect as sa_inspect
from sqlalchemy import select, update

from hub.audit.services import Actor
from hub.tenants.models import ApiKey, Tenant
from hub.tenants.schemas import KeyCreate
from hub.tenants.services import ApiKeyService
from hub.usage.services import CHARGEBACK_COLUMNS, UsageEntry, write_usage
from tests.db.conftest import Hub
from tests.db.helpers import assert_error, row_counts
from tests.support.ports import free_port

MV = "Mecklenburg-Vorpommern"
UNKNOWN_ID = "01900000-0000-7000-8000-000000000000"


async def create_tenant(hub: Hub, name: str, ags: str | None, **extra: Any) -> dict[str, Any]:
    response = await hub.client.post(
        "/api/admin/tenants", json={"name": name, "state": MV, "ags": ags, **extra}, headers=hub.auth()
    )
    assert response.status_code == 201, response.text
    return response.json()


async def issue_key(hub: Hub, tenant_id: str, **body: Any) -> dict[str, Any]:
    response = await hub.client.post(f"/api/admin/tenants/{tenant_id}/keys", json=body, headers=hub.auth())
    assert response.status_code == 201, response.text
    return response.json()


async def audit_events(hub: Hub) -> list[dict[str, Any]]:
    response = await hub.client.get("/api/admin/audit", params={"limit": 1000}, headers=hub.auth())
    assert response.status_code == 200, response.text
    return response.json()


def find_event(events: list[dict[str, Any]], action: str, target_id: str) -> dict[str, Any]:
    matches = [e for e in events if e["action"] == action and e["target_id"] == target_id]
    assert len(matches) == 1, f"expected one {action} event for {target_id}, got {matches}"
    return matches[0]


# --- authentication and authorization ------------------------------------------------------------


async def test_requests_without_a_valid_key_get_401(hub: Hub) -> None:
    assert (await hub.client.get("/health")).status_code == 200
    for path in ("/v1/models", "/api/admin/tenants", "/api/admin/audit"):
        assert_error(await hub.client.get(path), 401, code="missing_api_key")
        assert_error(await hub.client.get(path, headers={"Authorization": "Basic abc"}), 401, code="missing_api_key")
        assert_error(
            await hub.client.get(path, headers=hub.auth("kvb_00000000_" + "x" * 43)), 401, code="invalid_api_key"
        )
    assert (await hub.client.get("/v1/models", headers=hub.auth())).status_code == 200


async def test_client_keys_may_not_call_admin_routes(hub: Hub) -> None:
    town = await create_tenant(hub, "Wismar", "13074087")
    client_key = await issue_key(hub, town["id"], label="Bürgerchat")
    auth = hub.auth(client_key["secret"])
    assert (await hub.client.get("/v1/models", headers=auth)).status_code == 200
    before = await row_counts(hub.sessionmaker)
    some_id = town["id"]
    calls = [
        ("GET", "/api/admin/tenants", None),
        ("POST", "/api/admin/tenants", {"name": "Evil", "state": MV, "ags": "13000001"}),
        ("GET", f"/api/admin/tenants/{some_id}", None),
        ("PATCH", f"/api/admin/tenants/{some_id}", {"enabled": False}),
        ("GET", f"/api/admin/tenants/{some_id}/keys", None),
        ("POST", f"/api/admin/tenants/{some_id}/keys", {"role": "client"}),
        ("POST", f"/api/admin/keys/{client_key['id']}/revoke", None),
        ("GET", "/api/admin/backends", None),
        ("POST", "/api/admin/backends", {"name": "b", "base_url": "http://x:1", "location": "DE", "served_models": []}),
        ("GET", "/api/admin/models", None),
        ("POST", "/api/admin/models", {"name": "m"}),
        ("GET", "/api/admin/audit", None),
        ("GET", "/api/admin/usage/chargeback.csv?month=2026-11", None),
    ]
    for method, path, body in calls:
        response = await hub.client.request(method, path, json=body, headers=auth)
        error = assert_error(response, 403, code="permission_denied")
        assert error["type"] == "permission_error"
    assert await row_counts(hub.sessionmaker) == before


# --- tenants ---------------------------------------------------------------------------------------


async def test_tenant_crud_validation_and_audit(hub: Hub) -> None:
    schwerin = await create_tenant(hub, "Schwerin", "13004000")
    assert (schwerin["name"], schwerin["kind"], schwerin["ags"], schwerin["state"], schwerin["enabled"]) == (
        "Schwerin",
        "municipality",
        "13004000",
        MV,
        True,
    )
    before = await row_counts(hub.sessionmaker)
    post = hub.client.post
    auth = hub.auth()
    assert_error(
        await post("/api/admin/tenants", json={"name": "Ohne AGS", "state": MV}, headers=auth), 400, param="ags"
    )
    assert_error(
        await post("/api/admin/tenants", json={"name": "Kurz", "state": MV, "ags": "1300400"}, headers=auth), 400
    )
    assert_error(
        await post("/api/admin/tenants", json={"name": "Buchstaben", "state": MV, "ags": "1300400x"}, headers=auth), 400
    )
    assert_error(
        await post(
            "/api/admin/tenants", json={"name": "Land 2", "state": MV, "kind": "state", "ags": "13000000"}, headers=auth
        ),
        400,
        param="ags",
    )
    assert_error(
        await post("/api/admin/tenants", json={"name": "Schwerin", "state": MV, "ags": "13004001"}, headers=auth),
        409,
        code="conflict",
        param="name",
    )
    assert_error(
        await post("/api/admin/tenants", json={"name": "Schwerin 2", "state": MV, "ags": "13004000"}, headers=auth),
        409,
        param="ags",
    )
    assert await row_counts(hub.sessionmaker) == before

    rostock = await create_tenant(hub, "Rostock", "13003000")
    listed = (await hub.client.get("/api/admin/tenants", headers=auth)).json()
    assert [t["name"] for t in listed] == sorted(["Land Mecklenburg-Vorpommern", "Rostock", "Schwerin"])
    got = await hub.client.get(f"/api/admin/tenants/{rostock['id']}", headers=auth)
    assert got.status_code == 200
    assert got.json() == rostock
    missing = await hub.client.get(f"/api/admin/tenants/{UNKNOWN_ID}", headers=auth)
    assert missing.status_code == 404  # the envelope of such 404s: test_unknown_ids_get_the_404_envelope

    patched = await hub.client.patch(
        f"/api/admin/tenants/{rostock['id']}", json={"name": "Hansestadt Rostock", "enabled": False}, headers=auth
    )
    assert patched.status_code == 200, patched.text
    assert (patched.json()["name"], patched.json()["enabled"], patched.json()["ags"]) == (
        "Hansestadt Rostock",
        False,
        "13003000",
    )
    async with hub.sessionmaker() as session:
        row = await session.get(Tenant, UUID(rostock["id"]))
        assert row is not None
        assert (row.name, row.enabled) == ("Hansestadt Rostock", False)
    assert_error(
        await hub.client.patch(f"/api/admin/tenants/{rostock['id']}", json={"name": "Schwerin"}, headers=auth),
        409,
        param="name",
    )

    events = await audit_events(hub)
    actor = f"key:{hub.operator_prefix}"
    for tenant in (schwerin, rostock):
        event = find_event(events, "tenant.create", tenant["id"])
        assert (event["actor"], event["actor_tenant_id"], event["target_type"]) == (
            actor,
            str(hub.state_tenant_id),
            "tenant",
        )
        assert event["details"]["name"] == tenant["name"]
    update_event = find_event(events, "tenant.update", rostock["id"])
    assert update_event["actor"] == actor
    assert update_event["details"] == {"name": "Hansestadt Rostock", "enabled": False}
    # the state tenant was created by the CLI
    assert find_event(events, "tenant.create", str(hub.state_tenant_id))["actor"].startswith("cli:")


async def test_disabling_a_tenant_locks_out_its_keys(hub: Hub) -> None:
    town = await create_tenant(hub, "Stralsund", "13073088")
    key = await issue_key(hub, town["id"])
    assert (await hub.client.get("/v1/models", headers=hub.auth(key["secret"]))).status_code == 200
    response = await hub.client.patch(f"/api/admin/tenants/{town['id']}", json={"enabled": False}, headers=hub.auth())
    assert response.status_code == 200
    assert_error(await hub.client.get("/v1/models", headers=hub.auth(key["secret"])), 401, code="tenant_disabled")
    response = await hub.client.patch(f"/api/admin/tenants/{town['id']}", json={"enabled": True}, headers=hub.auth())
    assert response.status_code == 200
    assert (await hub.client.get("/v1/models", headers=hub.auth(key["secret"]))).status_code == 200


# --- keys ------------------------------------------------------------------------------------------


async def test_keys_are_shown_once_stored_hashed_and_revocable(hub: Hub) -> None:
    town = await create_tenant(hub, "Neubrandenburg", "13071107")
    issued = await issue_key(hub, town["id"], label="Bürgerchat", role="client")
    secret = issued["secret"]
    assert secret.startswith(issued["prefix"] + "_")
    assert len(secret) > 40
    assert (issued["role"], issued["label"], issued["tenant_id"], issued["revoked_at"]) == (
        "client",
        "Bürgerchat",
        town["id"],
        None,
    )
    second = await issue_key(hub, town["id"], label="Intranet", role="tenant-admin")

    listed = await hub.client.get(f"/api/admin/tenants/{town['id']}/keys", headers=hub.auth())
    assert listed.status_code == 200
    assert [k["id"] for k in listed.json()] == [issued["id"], second["id"]]
    for k in listed.json():
        assert "secret" not in k
        assert "key_hash" not in k
    assert secret not in listed.text
    assert second["secret"] not in listed.text

    async with hub.sessionmaker() as session:
        row = (await session.execute(select(ApiKey).where(ApiKey.prefix == issued["prefix"]))).scalar_one()
        assert row.key_hash == hashlib.sha256(secret.encode()).hexdigest()
        stored = [str(getattr(row, attr.key)) for attr in sa_inspect(ApiKey).column_attrs]
        assert len(stored) >= 8
        assert all(secret not in value for value in stored)
        assert secret.split("_")[-1] not in "".join(stored)

    auth = hub.auth(secret)
    assert (await hub.client.get("/v1/models", headers=auth)).status_code == 200  # now cached in the key store
    revoked = await hub.client.post(f"/api/admin/keys/{issued['id']}/revoke", headers=hub.auth())
    assert revoked.status_code == 200, revoked.text
    revoked_at = revoked.json()["revoked_at"]
    assert revoked_at is not None
    assert "secret" not in revoked.json()
    assert_error(await hub.client.get("/v1/models", headers=auth), 401, code="revoked_api_key")
    again = await hub.client.post(f"/api/admin/keys/{issued['id']}/revoke", headers=hub.auth())
    assert again.status_code == 200
    assert again.json()["revoked_at"] == revoked_at
    assert (await hub.client.get("/v1/models", headers=hub.auth(second["secret"]))).status_code == 200
    assert (await hub.client.post(f"/api/admin/keys/{UNKNOWN_ID}/revoke", headers=hub.auth())).status_code == 404

    events = await audit_events(hub)
    actor = f"key:{hub.operator_prefix}"
    issue_event = find_event(events, "key.issue", issued["id"])
    assert (issue_event["actor"], issue_event["target_type"]) == (actor, "api_key")
    assert issue_event["details"]["prefix"] == issued["prefix"]
    assert issue_event["details"]["tenant_id"] == town["id"]
    # one event per accepted request: the repeated revocation is recorded too, and changed nothing
    revokes = [e for e in events if e["action"] == "key.revoke" and e["target_id"] == issued["id"]]
    first, repeated = sorted(revokes, key=lambda e: e["seq"])
    assert first["actor"] == repeated["actor"] == actor
    assert first["before"]["revoked_at"] is None
    assert datetime.fromisoformat(first["after"]["revoked_at"]) == datetime.fromisoformat(revoked_at)
    assert repeated["before"] == repeated["after"] == first["after"]
    dump = json.dumps(events)
    for s in (secret, second["secret"], hub.operator_secret):
        assert s not in dump
        assert hashlib.sha256(s.encode()).hexdigest() not in dump


async def test_expired_key_gets_401(hub: Hub) -> None:
    async with hub.sessionmaker() as session, session.begin():
        tenant = await session.get(Tenant, hub.state_tenant_id)
        key, new = await ApiKeyService(session=session).issue(
            tenant, KeyCreate(label="short", expires_at=datetime.now(UTC) + timedelta(days=1)), Actor.cli()
        )
    async with hub.sessionmaker() as session, session.begin():
        await session.execute(
            update(ApiKey).where(ApiKey.id == key.id).values(expires_at=datetime.now(UTC) - timedelta(minutes=1))
        )
    assert_error(await hub.client.get("/v1/models", headers=hub.auth(new.secret)), 401, code="expired_api_key")


async def test_key_issue_rules(hub: Hub) -> None:
    town = await create_tenant(hub, "Güstrow", "13072049")
    before = await row_counts(hub.sessionmaker)
    auth = hub.auth()
    post = hub.client.post
    assert_error(
        await post(f"/api/admin/tenants/{town['id']}/keys", json={"role": "operator"}, headers=auth), 400, param="role"
    )
    past = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    assert_error(
        await post(f"/api/admin/tenants/{town['id']}/keys", json={"expires_at": past}, headers=auth),
        400,
        param="expires_at",
    )
    assert_error(await post(f"/api/admin/tenants/{town['id']}/keys", json={"role": "root"}, headers=auth), 400)
    assert (await post(f"/api/admin/tenants/{UNKNOWN_ID}/keys", json={}, headers=auth)).status_code == 404
    assert await row_counts(hub.sessionmaker) == before

    operator = await issue_key(hub, str(hub.state_tenant_id), role="operator", label="second operator")
    assert operator["role"] == "operator"
    response = await hub.client.get("/api/admin/tenants", headers=hub.auth(operator["secret"]))
    assert response.status_code == 200
    future = (datetime.now(UTC) + timedelta(days=30)).replace(microsecond=0)
    expiring = await issue_key(hub, town["id"], expires_at=future.isoformat())
    assert datetime.fromisoformat(expiring["expires_at"]) == future
    assert (await hub.client.get("/v1/models", headers=hub.auth(expiring["secret"]))).status_code == 200


# --- backends and models ---------------------------------------------------------------------------


async def test_backend_and_model_registry_with_audit(hub: Hub) -> None:
    auth = hub.auth()
    upstream_secret = "upstream-secret-9f8e7d6c5b4a"
    base_url = f"http://127.0.0.1:{free_port()}"  # nothing listens there: no network
    created = await hub.client.post(
        "/api/admin/backends",
        json={
            "name": "gpu1",
            "base_url": base_url + "/",
            "location": "DE-MV-Schwerin",
            "operator": "Landesrechenzentrum",
            "served_models": ["meta-llama/Llama-3.3-70B", "meta-llama/Llama-3.3-70B", "bge-m3"],
            "api_key": upstream_secret,
            "max_concurrency": 64,
        },
        headers=auth,
    )
    assert created.status_code == 201, created.text
    backend = created.json()
    assert backend["base_url"] == base_url
    assert backend["served_models"] == ["meta-llama/Llama-3.3-70B", "bge-m3"]
    assert backend["has_api_key"] is True
    assert "api_key" not in backend
    assert upstream_secret not in created.text
    assert_error(
        await hub.client.post(
            "/api/admin/backends",
            json={"name": "gpu1", "base_url": base_url, "location": "DE", "served_models": []},
            headers=auth,
        ),
        409,
        param="name",
    )

    patched = await hub.client.patch(
        f"/api/admin/backends/{backend['id']}",
        json={"location": "DE-MV-Rostock", "api_key": "rotated-upstream-secret", "enabled": False},
        headers=auth,
    )
    assert patched.status_code == 200, patched.text
    assert (patched.json()["location"], patched.json()["enabled"], patched.json()["has_api_key"]) == (
        "DE-MV-Rostock",
        False,
        True,
    )
    listed = await hub.client.get("/api/admin/backends", headers=auth)
    assert [b["name"] for b in listed.json()] == ["gpu1"]
    assert upstream_secret not in listed.text
    assert "rotated-upstream-secret" not in listed.text

    town = await create_tenant(hub, "Greifswald", "13075039")
    model_resp = await hub.client.post(
        "/api/admin/models",
        json={"name": "llama", "upstream_name": "meta-llama/Llama-3.3-70B", "max_model_len": 32768},
        headers=auth,
    )
    assert model_resp.status_code == 201, model_resp.text
    model = model_resp.json()
    assert (model["name"], model["upstream_name"], model["kind"], model["visibility"], model["granted_tenants"]) == (
        "llama",
        "meta-llama/Llama-3.3-70B",
        "chat",
        "all",
        [],
    )
    assert_error(await hub.client.post("/api/admin/models", json={"name": "llama"}, headers=auth), 409, param="name")
    model_patch = await hub.client.patch(
        f"/api/admin/models/{model['id']}", json={"visibility": "granted", "description": "70B"}, headers=auth
    )
    assert model_patch.status_code == 200, model_patch.text
    assert (model_patch.json()["visibility"], model_patch.json()["description"]) == ("granted", "70B")

    grant = await hub.client.post(
        f"/api/admin/models/{model['id']}/grants", json={"tenant_id": town["id"]}, headers=auth
    )
    assert grant.status_code == 204, grant.text
    regrant = await hub.client.post(
        f"/api/admin/models/{model['id']}/grants", json={"tenant_id": town["id"]}, headers=auth
    )
    assert regrant.status_code == 204
    before = await row_counts(hub.sessionmaker)
    assert_error(
        await hub.client.post(
            f"/api/admin/models/{model['id']}/grants",
            json={"tenant_id": UNKNOWN_ID},
            headers=auth,
        ),
        404,
        param="tenant_id",
    )
    unknown_model = await hub.client.post(
        f"/api/admin/models/{UNKNOWN_ID}/grants", json={"tenant_id": town["id"]}, headers=auth
    )
    assert unknown_model.status_code == 404
    assert await row_counts(hub.sessionmaker) == before
    got = await hub.client.get(f"/api/admin/models/{model['id']}", headers=auth)
    assert got.json()["granted_tenants"] == [town["id"]]
    ungrant = await hub.client.delete(f"/api/admin/models/{model['id']}/grants/{town['id']}", headers=auth)
    assert ungrant.status_code == 204, ungrant.text
    got = await hub.client.get(f"/api/admin/models/{model['id']}", headers=auth)
    assert got.json()["granted_tenants"] == []

    deleted = await hub.client.delete(f"/api/admin/backends/{backend['id']}", headers=auth)
    assert deleted.status_code == 204, deleted.text
    assert (await hub.client.get(f"/api/admin/backends/{backend['id']}", headers=auth)).status_code == 404
    assert (await hub.client.get("/api/admin/backends", headers=auth)).json() == []

    events = await audit_events(hub)
    actor = f"key:{hub.operator_prefix}"
    expected = [
        ("backend.register", backend["id"], "backend"),
        ("backend.update", backend["id"], "backend"),
        ("backend.delete", backend["id"], "backend"),
        ("model.create", model["id"], "model"),
        ("model.update", model["id"], "model"),
        ("model.ungrant", model["id"], "model"),
    ]
    for action, target, target_type in expected:
        event = find_event(events, action, target)
        assert (event["actor"], event["target_type"]) == (actor, target_type), event
    assert find_event(events, "backend.update", backend["id"])["details"]["api_key"] == "<changed>"
    # granting twice: two events (one per accepted request), the second one changed nothing
    grants = sorted((e for e in events if e["action"] == "model.grant"), key=lambda e: e["seq"])
    assert [e["details"] for e in grants] == [{"tenant_id": town["id"]}] * 2
    assert [(e["before"]["granted"], e["after"]["granted"]) for e in grants] == [(False, True), (True, True)]
    assert find_event(events, "model.ungrant", model["id"])["details"] == {"tenant_id": town["id"]}
    dump = json.dumps(events)
    for secret in (upstream_secret, "rotated-upstream-secret", hub.operator_secret):
        assert secret not in dump


# --- bad request bodies ----------------------------------------------------------------------------


async def test_bad_bodies_are_400_and_write_nothing(hub: Hub) -> None:
    town = await create_tenant(hub, "Wismar", "13074087")
    backend = await hub.client.post(
        "/api/admin/backends",
        json={"name": "gpu1", "base_url": "http://127.0.0.1:1", "location": "DE-MV", "served_models": ["m"]},
        headers=hub.auth(),
    )
    model = await hub.client.post("/api/admin/models", json={"name": "m"}, headers=hub.auth())
    assert backend.status_code == model.status_code == 201
    bid, mid, tid = backend.json()["id"], model.json()["id"], town["id"]
    before = await row_counts(hub.sessionmaker)

    cases: list[tuple[str, str, Any]] = [
        ("POST", "/api/admin/tenants", b'{"name": "X", "state": '),
        ("POST", "/api/admin/tenants", b"not json"),
        ("POST", "/api/admin/tenants", {"name": "X", "state": MV, "ags": "13000001", "admin": True}),
        ("POST", "/api/admin/tenants", {"name": 5, "state": MV, "ags": "13000001"}),
        ("POST", "/api/admin/tenants", {"name": "X", "state": MV, "ags": 13000001}),
        ("POST", "/api/admin/tenants", {"name": "X", "state": MV, "ags": "13000001", "kind": "county"}),
        ("POST", "/api/admin/tenants", {"state": MV, "ags": "13000001"}),
        ("POST", "/api/admin/tenants", ["Schwerin"]),
        ("PATCH", f"/api/admin/tenants/{tid}", {"enabled": "no"}),
        ("PATCH", f"/api/admin/tenants/{tid}", {"ags": "13000002"}),
        ("PATCH", f"/api/admin/tenants/{tid}", {"name": ""}),
        ("PATCH", f"/api/admin/tenants/{tid}", b"{"),
        ("POST", f"/api/admin/tenants/{tid}/keys", {"role": "client", "secret": "mine"}),
        ("POST", f"/api/admin/tenants/{tid}/keys", {"expires_at": "tomorrow"}),
        ("POST", f"/api/admin/tenants/{tid}/keys", b"[1,"),
        ("POST", "/api/admin/backends", {"name": "gpu2", "base_url": "ftp://x", "location": "DE", "served_models": []}),
        (
            "POST",
            "/api/admin/backends",
            {"name": "gpu2", "base_url": "http://x:1", "location": "DE", "served_models": "m"},
        ),
        (
            "POST",
            "/api/admin/backends",
            {"name": "gpu2", "base_url": "http://x:1", "location": "DE", "served_models": [], "max_concurrency": 0},
        ),
        (
            "POST",
            "/api/admin/backends",
            {"name": "gpu2", "base_url": "http://x:1", "location": "DE", "served_models": [], "region": "eu"},
        ),
        ("PATCH", f"/api/admin/backends/{bid}", {"name": "renamed"}),
        ("PATCH", f"/api/admin/backends/{bid}", {"max_concurrency": "many"}),
        ("PATCH", f"/api/admin/backends/{bid}", b"}"),
        ("POST", "/api/admin/models", {"name": "m2", "kind": "image"}),
        ("POST", "/api/admin/models", {"name": "m2", "max_model_len": -1}),
        ("POST", "/api/admin/models", {"name": "m2", "owner": "x"}),
        ("POST", "/api/admin/models", {"name": "bad name with spaces"}),
        ("PATCH", f"/api/admin/models/{mid}", {"visibility": "public"}),
        ("PATCH", f"/api/admin/models/{mid}", {"name": "renamed"}),
        ("POST", f"/api/admin/models/{mid}/grants", {"tenant_id": "not-a-uuid"}),
        ("POST", f"/api/admin/models/{mid}/grants", {"tenant_id": tid, "extra": 1}),
        ("POST", f"/api/admin/models/{mid}/grants", b""),
    ]
    for method, path, body in cases:
        if isinstance(body, bytes):
            response = await hub.client.request(
                method, path, content=body, headers={**hub.auth(), "Content-Type": "application/json"}
            )
        else:
            response = await hub.client.request(method, path, json=body, headers=hub.auth())
        error = assert_error(response, 400)
        assert error["type"] == "invalid_request_error", (method, path, body, error)
    assert await row_counts(hub.sessionmaker) == before
    # and the objects are unchanged
    assert (await hub.client.get(f"/api/admin/tenants/{tid}", headers=hub.auth())).json() == town
    assert (await hub.client.get(f"/api/admin/backends/{bid}", headers=hub.auth())).json() == backend.json()
    assert (await hub.client.get(f"/api/admin/models/{mid}", headers=hub.auth())).json() == model.json()


# --- chargeback export -----------------------------------------------------------------------------


@pytest.mark.parametrize("month", ["2026-13", "2026-1x", "11-2026", ""])
async def test_chargeback_rejects_bad_months(hub: Hub, month: str) -> None:
    response = await hub.client.get(f"/api/admin/usage/chargeback.csv?month={month}", headers=hub.auth())
    assert_error(response, 400)


async def test_chargeback_endpoint_returns_csv(hub: Hub) -> None:
    town = await create_tenant(hub, "Schwerin", "13004000")
    moment = datetime(2026, 11, 12, 8, 0, tzinfo=UTC)
    entries = [
        UsageEntry(
            request_id=f"cb-{i}",
            created_at=moment,
            tenant_id=UUID(town["id"]),
            api_key_id=None,
            endpoint="chat.completions",
            model="llama",
            backend_id=None,
            stream=True,
            status="ok" if i else "upstream_error",
            http_status=200 if i else 502,
            error_code=None,
            prompt_tokens=10 * i,
            completion_tokens=i,
            latency_ms=1.0,
            ttft_ms=0.5,
        )
        for i in range(4)
    ]
    async with hub.sessionmaker() as session, session.begin():
        await write_usage(session, entries)
    response = await hub.client.get("/api/admin/usage/chargeback.csv", params={"month": "2026-11"}, headers=hub.auth())
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert "kiverbund-chargeback-2026-11.csv" in response.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(response.text)))
    assert tuple(rows[0]) == CHARGEBACK_COLUMNS
    assert rows[1:] == [["2026-11", town["id"], "Schwerin", "13004000", "llama", "4", "1", "60", "6", "66"]]
    december = await hub.client.get("/api/admin/usage/chargeback.csv?month=2026-12", headers=hub.auth())
    assert december.status_code == 200
    assert december.text.splitlines() == [",".join(CHARGEBACK_COLUMNS)]


# --- unknown ids -------------------------------------------------------------------------------------


async def test_unknown_ids_get_the_404_envelope(hub: Hub) -> None:
    auth = hub.auth()
    calls = [
        ("GET", f"/api/admin/tenants/{UNKNOWN_ID}", None),
        ("PATCH", f"/api/admin/tenants/{UNKNOWN_ID}", {"enabled": False}),
        ("GET", f"/api/admin/tenants/{UNKNOWN_ID}/keys", None),
        ("POST", f"/api/admin/tenants/{UNKNOWN_ID}/keys", {}),
        ("POST", f"/api/admin/keys/{UNKNOWN_ID}/revoke", None),
        ("GET", f"/api/admin/backends/{UNKNOWN_ID}", None),
        ("PATCH", f"/api/admin/backends/{UNKNOWN_ID}", {"enabled": False}),
        ("DELETE", f"/api/admin/backends/{UNKNOWN_ID}", None),
        ("GET", f"/api/admin/models/{UNKNOWN_ID}", None),
        ("PATCH", f"/api/admin/models/{UNKNOWN_ID}", {"enabled": False}),
        ("DELETE", f"/api/admin/models/{UNKNOWN_ID}", None),
        ("POST", f"/api/admin/models/{UNKNOWN_ID}/grants", {"tenant_id": str(hub.state_tenant_id)}),
    ]
    for method, path, body in calls:
        assert_error(await hub.client.request(method, path, json=body, headers=auth), 404, code="not_found")
