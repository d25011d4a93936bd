"""Helpers for msgspec request structs."""

from __future__ import annotations

from typing import Any

import msgspec


def set_fields(data: msgspec.Struct) -> dict[str, Any]:
    """The fields of a partial-update struct that the client actually sent (not ``UNSET``)."""
    return {k: v for k, v in msgspec.structs.asdict(data).items() if v is not msgspec.UNSET}
