"""Spans of one gateway request, named and attributed as OpenTelemetry's GenAI conventions ask.

Per request: a span ``{operation} {model}`` (child of the HTTP server span) carrying the GenAI request,
response and usage attributes plus tenant and backend; below it ``kiverbund.quota.reserve``,
``kiverbund.queue.wait`` and the CLIENT span of the upstream call (``{operation} {upstream model}``),
whose context travels to vLLM as ``traceparent``. No prompt or completion text is ever set.

Spans are started with explicit parents rather than as "current" spans: a stream's end is handled in
another task than its start, where the context variables of the request are gone.
"""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from opentelemetry import propagate, trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer

from gateway.call import Call
from gateway.routing import BackendState
from gateway.schemas import Endpoint
from hub.telemetry import semconv

OPERATIONS = {
    Endpoint.CHAT: semconv.OPERATION_CHAT,
    Endpoint.COMPLETIONS: semconv.OPERATION_TEXT_COMPLETION,
    Endpoint.EMBEDDINGS: semconv.OPERATION_EMBEDDINGS,
}
_NUMERIC_PARAMETERS = {
    "temperature": semconv.GEN_AI_REQUEST_TEMPERATURE,
    "top_p": semconv.GEN_AI_REQUEST_TOP_P,
    "seed": semconv.GEN_AI_REQUEST_SEED,
}


def operation_name(endpoint: Endpoint) -> str:
    """The ``gen_ai.operation.name`` of an endpoint."""
    return OPERATIONS[endpoint]


@functools.lru_cache(maxsize=256)
def server_endpoint(base_url: str) -> tuple[str, int]:
    """``server.address`` and ``server.port`` of a backend URL (parsed once per backend, not per request)."""
    url = urlsplit(base_url)
    return url.hostname or "", url.port or (443 if url.scheme == "https" else 80)


class GatewayTracer:
    """Starts and ends the spans of gateway requests.

    While tracing is off (``enabled`` False) nothing is started: ``call.span`` stays None, which also
    tells the relay not to collect span-only details on the hot path.
    """

    def __init__(self, tracer: Tracer, *, enabled: bool) -> None:
        self._tracer = tracer
        self._enabled = enabled

    def start_request(self, call: Call) -> None:
        """Open the request's span under the current (HTTP server) span."""
        if not self._enabled:
            return
        operation = operation_name(call.endpoint)
        call.span = self._tracer.start_span(
            operation,
            kind=SpanKind.INTERNAL,
            attributes={
                semconv.GEN_AI_OPERATION_NAME: operation,
                semconv.GEN_AI_PROVIDER_NAME: semconv.PROVIDER_VLLM,
                semconv.HUB_REQUEST_ID: call.request_id,
                semconv.HUB_TENANT_ID: str(call.principal.tenant_id),
                semconv.HUB_TENANT: call.principal.tenant_name,
                semconv.HUB_CALLER_KIND: call.principal.kind.value,
            },
        )
        if call.principal.use_case:
            call.span.set_attribute(semconv.HUB_USE_CASE, call.principal.use_case)

    def describe_request(self, call: Call, model: str, payload: dict[str, Any], params: Any) -> None:
        """Name the span after the model and note the request parameters (never the messages)."""
        span = call.span
        if span is None or not span.is_recording():
            return
        span.update_name(f"{operation_name(call.endpoint)} {model}")
        span.set_attribute(semconv.GEN_AI_REQUEST_MODEL, model)
        span.set_attribute(semconv.GEN_AI_REQUEST_STREAM, call.stream)
        max_tokens = getattr(params, "max_completion_tokens", None) or getattr(params, "max_tokens", None)
        if max_tokens is not None:
            span.set_attribute(semconv.GEN_AI_REQUEST_MAX_TOKENS, max_tokens)
        choices = getattr(params, "n", 1)
        if choices != 1:
            span.set_attribute(semconv.GEN_AI_REQUEST_CHOICE_COUNT, choices)
        encoding = getattr(params, "encoding_format", None)
        if encoding is not None:
            span.set_attribute(semconv.GEN_AI_REQUEST_ENCODING_FORMATS, [encoding])
        for key, attribute in _NUMERIC_PARAMETERS.items():
            value = payload.get(key)
            if isinstance(value, int | float) and not isinstance(value, bool):
                span.set_attribute(attribute, value)

    @contextlib.contextmanager
    def step(self, call: Call, name: str) -> Iterator[Span]:
        """A child span for one step of admission (quota reservation, queue wait)."""
        if call.span is None:
            yield trace.INVALID_SPAN
            return
        parent = trace.set_span_in_context(call.span)
        with self._tracer.start_as_current_span(name, context=parent, record_exception=False) as span:
            try:
                yield span
            except Exception as exc:
                span.set_attribute(semconv.ERROR_TYPE, getattr(exc, "code", None) or exc.__class__.__name__)
                span.set_status(Status(StatusCode.ERROR))
                raise

    def start_upstream(self, call: Call, state: BackendState, upstream_model: str, headers: dict[str, str]) -> None:
        """Open the CLIENT span of the call to ``state`` and put its ``traceparent`` into ``headers``."""
        call.upstream_started = time.perf_counter()
        if call.span is None:
            return
        self.end_upstream(call, None)  # a retry on another backend: the first attempt's span ends here
        operation = operation_name(call.endpoint)
        address, port = server_endpoint(state.entry.base_url)
        span = self._tracer.start_span(
            f"{operation} {upstream_model}",
            context=trace.set_span_in_context(call.span),
            kind=SpanKind.CLIENT,
            attributes={
                semconv.GEN_AI_OPERATION_NAME: operation,
                semconv.GEN_AI_PROVIDER_NAME: semconv.PROVIDER_VLLM,
                semconv.GEN_AI_REQUEST_MODEL: upstream_model,
                semconv.SERVER_ADDRESS: address,
                semconv.SERVER_PORT: port,
                semconv.HUB_BACKEND: state.entry.name,
            },
        )
        call.upstream_span = span
        propagate.inject(headers, context=trace.set_span_in_context(span))

    def end_upstream(self, call: Call, http_status: int | None, error_type: str | None = None) -> None:
        """Close the upstream span (idempotent)."""
        span = call.upstream_span
        if span is None:
            return
        call.upstream_span = None
        if span.is_recording():
            if http_status is not None:
                span.set_attribute(semconv.HTTP_RESPONSE_STATUS_CODE, http_status)
            if call.upstream_model is not None:
                span.set_attribute(semconv.GEN_AI_RESPONSE_MODEL, call.upstream_model)
            _set_usage(span, call)
            if error_type is not None:
                span.set_attribute(semconv.ERROR_TYPE, error_type)
                span.set_status(Status(StatusCode.ERROR))
        span.end()

    def finish(self, call: Call, outcome: str, http_status: int, error_code: str | None) -> None:
        """Close the request's spans with the usage the ledger books."""
        error_type = error_code or (None if outcome in ("ok", "client_disconnected") else outcome)
        self.end_upstream(call, http_status if call.backend is not None else None, error_type)
        span = call.span
        if span is None:
            return
        call.span = None
        if span.is_recording():
            span.set_attribute(semconv.HUB_OUTCOME, outcome)
            span.set_attribute(semconv.HTTP_RESPONSE_STATUS_CODE, http_status)
            if call.model is not None:
                span.set_attribute(semconv.GEN_AI_RESPONSE_MODEL, call.model)
            if call.response_id:
                span.set_attribute(semconv.GEN_AI_RESPONSE_ID, call.response_id)
            if call.finish_reasons:
                span.set_attribute(semconv.GEN_AI_RESPONSE_FINISH_REASONS, sorted(call.finish_reasons))
            if call.backend is not None:
                span.set_attribute(semconv.HUB_BACKEND, call.backend.entry.name)
            if call.queue_wait_ms is not None:
                span.set_attribute(semconv.HUB_QUEUE_WAIT_S, call.queue_wait_ms / 1000.0)
            if call.ttft_ms is not None:
                span.set_attribute(semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK, call.ttft_ms / 1000.0)
            _set_usage(span, call)
            if error_type is not None:
                span.set_attribute(semconv.ERROR_TYPE, error_type)
                if http_status >= 500:
                    span.set_status(Status(StatusCode.ERROR))
        span.end()


def _set_usage(span: Span, call: Call) -> None:
    if call.prompt_tokens or call.completion_tokens:
        span.set_attribute(semconv.GEN_AI_USAGE_INPUT_TOKENS, call.prompt_tokens)
        span.set_attribute(semconv.GEN_AI_USAGE_OUTPUT_TOKENS, call.completion_tokens)
