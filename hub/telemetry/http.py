"""Per-route HTTP telemetry: names the server span after the route template and records
``http.server.request.duration`` with bounded labels.

Litestar's OpenTelemetry plugin starts the server span before routing, so it only knows the raw path
(``/v1/models/abc``, ``/katalog/buerger-chatbot``): unbounded span names and metric labels. Litestar
middleware runs after routing, where ``scope["path_template"]`` holds the template.
"""

from __future__ import annotations

import time

from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from opentelemetry import trace
from opentelemetry.metrics import Histogram, Meter

from hub.telemetry import semconv


def server_span_details(scope: Scope) -> tuple[str, dict[str, str]]:
    """The server span's provisional name: the method alone, as semconv asks while the route is unknown."""
    return str(scope.get("method", "HTTP")), {}


def http_duration_histogram(meter: Meter) -> Histogram:
    """The stable-semconv HTTP server duration histogram."""
    return meter.create_histogram(
        semconv.METRIC_HTTP_SERVER_DURATION, unit="s", description="Duration of HTTP server requests"
    )


class RouteTelemetryMiddleware(ASGIMiddleware):
    """Span name ``{method} {route}``, ``http.route``, and the request duration by route and status."""

    scopes = (ScopeType.HTTP,)

    def __init__(self, duration: Histogram) -> None:
        self._duration = duration

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        """Time the request and label it with its route template."""
        started = time.perf_counter()
        method = scope.get("method", "GET")
        route = scope.get("path_template") or "unmatched"
        span = trace.get_current_span()
        if span.is_recording():
            span.update_name(f"{method} {route}")
            span.set_attribute(semconv.HTTP_ROUTE, route)
        status = 500

        async def send_and_note_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await next_app(scope, receive, send_and_note_status)
        finally:
            self._duration.record(
                time.perf_counter() - started,
                {
                    semconv.HTTP_REQUEST_METHOD: method,
                    semconv.HTTP_ROUTE: route,
                    semconv.HTTP_RESPONSE_STATUS_CODE: status,
                },
            )
