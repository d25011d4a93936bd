"""One error shape for the whole hub: OpenAI's envelope ``{"error": {message, type, param, code}}``.

The /v1 gateway must answer in OpenAI's format so unchanged OpenAI clients raise the right exception;
the admin API uses the same envelope so every client parses one shape.
"""

from __future__ import annotations

import logging
from typing import Any

import msgspec
from advanced_alchemy.exceptions import DuplicateKeyError, IntegrityError, NotFoundError
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR

log = logging.getLogger("kiverbund.errors")

_TYPE_BY_STATUS = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    403: "permission_error",
    404: "invalid_request_error",
    405: "invalid_request_error",
    409: "invalid_request_error",
    413: "invalid_request_error",
    415: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
}
_CODE_BY_STATUS = {
    400: "invalid_request",
    401: "invalid_api_key",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "request_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "rate_limit_exceeded",
}


class HubError(Exception):
    """An error meant for the client, rendered as OpenAI's error envelope."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int = 400,
        code: str | None = None,
        param: str | None = None,
        error_type: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.code = code or _CODE_BY_STATUS.get(status_code, "server_error")
        self.param = param
        self.error_type = error_type or _TYPE_BY_STATUS.get(status_code, "server_error")
        self.headers = headers or {}


def error_body(message: str, error_type: str, code: str | None, param: str | None = None) -> dict[str, Any]:
    """The OpenAI error envelope as a dict."""
    return {"error": {"message": message, "type": error_type, "param": param, "code": code}}


def error_response(error: HubError) -> Response:
    """Render a :class:`HubError` as a response."""
    return Response(
        content=msgspec.json.encode(error_body(error.message, error.error_type, error.code, error.param)),
        status_code=error.status_code,
        media_type="application/json",
        headers=error.headers,
    )


def handle_exception(request: Request, exc: Exception) -> Response:
    """App-wide exception handler: every error leaves in the same envelope, never with a stack trace."""
    if isinstance(exc, HubError):
        return error_response(exc)
    if isinstance(exc, ValidationException):
        detail = exc.detail
        if exc.extra:
            detail = f"{detail}: {exc.extra}"
        return error_response(HubError(str(detail), status_code=400))
    if isinstance(exc, HTTPException):
        status = exc.status_code
        headers = dict(exc.headers or {})
        if status >= 500:
            log.error("server error on %s %s: %s", request.method, request.url.path, exc.detail)
            return error_response(HubError("Internal server error", status_code=status, error_type="server_error"))
        return error_response(HubError(str(exc.detail), status_code=status, headers=headers))
    if isinstance(exc, NotFoundError):
        return error_response(HubError("Not found", status_code=404))
    if isinstance(exc, DuplicateKeyError | IntegrityError):
        return error_response(HubError("Conflicts with an existing object", status_code=409))
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(
        HubError("Internal server error", status_code=HTTP_500_INTERNAL_SERVER_ERROR, error_type="server_error")
    )
