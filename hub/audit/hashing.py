"""The audit trail's hash chain: canonical JSON and the hash of one event.

Pure functions without database access, shared by the append hook, the verification and the
migration that back-filled the chain, so all three hash an event the same way.

An event's hash is ``sha256(canonical JSON of HASHED_FIELDS)``; each event names the hash of the
one before it (``prev_hash``; the first names :data:`GENESIS`), so changing, removing or inserting
a row breaks the chain at that row.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from datetime import UTC, date, datetime
from enum import Enum
from typing import Any
from uuid import UUID

GENESIS = "0" * 64
"""The ``prev_hash`` of the first event."""

HASHED_FIELDS = (
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
)
"""What an event's hash covers. ``id`` and ``updated_at`` are handles, not content."""


def format_time(value: datetime) -> str:
    """UTC, ISO 8601 with microseconds (a naive time counts as UTC), e.g. ``2026-11-22T10:00:00.000001+00:00``."""
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    return aware.astimezone(UTC).isoformat(timespec="microseconds")


def to_json_value(value: Any) -> Any:
    """``value`` as plain JSON data that survives SQLite's JSON and PostgreSQL's JSONB unchanged.

    - A float without a fractional part becomes an int: JSONB prints ``1e20`` as
      ``100000000000000000000``, which reads back as an int.
    - NaN and infinities become strings: neither is JSON.
    - NUL characters become U+FFFD: JSONB refuses them.
    - Times become ISO text (UTC with microseconds), dates ISO text, UUIDs and other objects their
      text, enums their value, tuples and sets lists.

    Applying it twice changes nothing, so stored (and re-read) values hash like the originals.
    """
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, Enum):
        return to_json_value(value.value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        return int(value) if value.is_integer() else value
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, datetime):
        return format_time(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {to_json_value(str(k)): to_json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = [to_json_value(v) for v in value]
        return sorted(items, key=canonical_json) if isinstance(value, set | frozenset) else items
    if isinstance(value, UUID):
        return str(value)
    return to_json_value(str(value))


def canonical_json(value: Any) -> str:
    """One exact text for ``value``: normalised (:func:`to_json_value`), keys sorted, no spaces, UTF-8 as is."""
    return json.dumps(to_json_value(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def digest(value: Any) -> str:
    """SHA-256 (hex) of ``value``'s canonical JSON."""
    return hashlib.sha256(canonical_json(value).encode("utf-8")).hexdigest()


def event_hash(fields: Mapping[str, Any]) -> str:
    """The hash of one event from its :data:`HASHED_FIELDS` (``created_at`` a datetime, the rest as stored)."""
    content = {name: fields[name] for name in HASHED_FIELDS}
    content["created_at"] = format_time(content["created_at"])
    return digest(content)
