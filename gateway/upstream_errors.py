"""Turning a backend's error answer into an OpenAI error for the client.

vLLM answers errors with an int ``code`` (OpenAI uses strings) and sometimes with FastAPI's
``{"detail": ...}``. Client mistakes the engine found (4xx) stay 4xx; anything that means the backend
or its configuration is broken becomes 502, because the client cannot fix it.
"""

from __future__ import annotations

from typing import Any

import msgspec

from hub.errors import HubError


def _message_and_param(body: bytes) -> tuple[str, str | None]:
    try:
        data: Any = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return body[:500].decode(errors="replace") or "no details", None
    if isinstance(data, dict):
        error = data.get("error", data)
        if isinstance(error, dict):
            message = error.get("message") or error.get("detail") or str(error)
            param = error.get("param")
            return str(message), param if isinstance(param, str) else None
    return str(data)[:500], None


def upstream_error(status: int, body: bytes) -> HubError:
    """The client-facing error for a backend's non-2xx answer."""
    message, param = _message_and_param(body)
    if status in (400, 422):
        code = "context_length_exceeded" if "context length" in message.lower() else "invalid_request"
        return HubError(message, status_code=400, code=code, param=param)
    if status == 413:
        return HubError(message, status_code=413)
    return HubError(
        f"The model backend failed (HTTP {status}): {message}",
        status_code=502,
        code="upstream_error",
        error_type="server_error",
    )
