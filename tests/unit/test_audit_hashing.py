"""The audit chain's canonical JSON and event hash: fixed, so stored chains stay verifiable."""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, timedelta, timezone
from uuid import UUID

import pytest

from hub.audit.chain import parse_head
from hub.audit.hashing import GENESIS, canonical_json, event_hash, format_time, to_json_value
from hub.errors import HubError

EVENT = {
    "seq": 1,
    "created_at": datetime(2026, 11, 22, 10, 0, 0, 123456, tzinfo=UTC),
    "actor": "cli:root",
    "actor_tenant_id": UUID("01900000-0000-7000-8000-000000000001"),
    "action": "tenant.create",
    "target_type": "tenant",
    "target_id": "abc",
    "before": None,
    "after": {"weight": 1.0, "name": "Güstrow"},
    "details": {},
    "prev_hash": GENESIS,
}
CANONICAL = (
    '{"action":"tenant.create","actor":"cli:root","actor_tenant_id":"01900000-0000-7000-8000-000000000001",'
    '"after":{"name":"Güstrow","weight":1},"before":null,"created_at":"2026-11-22T10:00:00.123456+00:00",'
    '"details":{},"prev_hash":"0000000000000000000000000000000000000000000000000000000000000000","seq":1,'
    '"target_id":"abc","target_type":"tenant"}'
)


def test_the_hash_is_sha256_of_the_canonical_json_of_the_event() -> None:
    expected = hashlib.sha256(CANONICAL.encode("utf-8")).hexdigest()
    assert event_hash(EVENT) == expected == "88e393f04aa2c8911dcd5c232d145b51be5e949e868d3f6627cce9960a5c8807"
    assert event_hash({**EVENT, "id": "ignored", "updated_at": "ignored"}) == expected
    for field, other in [("seq", 2), ("actor", "cli:x"), ("details", {"a": 1}), ("prev_hash", "1" * 64)]:
        assert event_hash({**EVENT, field: other}) != expected, field


def test_times_are_utc_with_microseconds() -> None:
    berlin = timezone(timedelta(hours=1))
    assert format_time(datetime(2026, 11, 22, 11, 0, tzinfo=berlin)) == "2026-11-22T10:00:00.000000+00:00"
    assert format_time(datetime(2026, 11, 22, 10, 0)) == "2026-11-22T10:00:00.000000+00:00"
    same_instant = {**EVENT, "created_at": EVENT["created_at"].astimezone(berlin)}
    assert event_hash(same_instant) == event_hash(EVENT)


@pytest.mark.parametrize(
    ("value", "normal"),
    [
        (1.0, 1),
        (1e20, 10**20),
        (-0.0, 0),
        (0.1, 0.1),
        (float("nan"), "nan"),
        (float("-inf"), "-inf"),
        ("a\x00b", "a\ufffdb"),
        (date(2026, 1, 31), "2026-01-31"),
        ((1, 2), [1, 2]),
        ({3, 1, 2}, [1, 2, 3]),
        ({1: {"x": (2.0,)}}, {"1": {"x": [2]}}),
        (True, True),
        (None, None),
    ],
)
def test_values_are_normalised_once_and_for_all(value: object, normal: object) -> None:
    assert to_json_value(value) == normal
    assert to_json_value(to_json_value(value)) == to_json_value(value)
    assert canonical_json(to_json_value(value)) == canonical_json(value)


def test_canonical_json_sorts_keys_and_keeps_unicode() -> None:
    assert canonical_json({"b": 1, "a": [True, None, "ä"]}) == '{"a":[true,null,"ä"],"b":1}'


def test_expected_heads_are_parsed_strictly() -> None:
    assert parse_head(f" 12:{'A' * 64} ") == (12, "a" * 64)
    for bad in ("12", f"x:{'a' * 64}", f"12:{'a' * 63}", f"-1:{'a' * 64}", f"12:{'g' * 64}"):
        with pytest.raises(HubError):
            parse_head(bad)
