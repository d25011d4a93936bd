"""Spans and metrics of gateway requests, captured with the OpenTelemetry SDK's in-memory exporter and
read from ``/metrics`` with prometheus_client's parser (fake vLLM upstream; the real engine is covered
in tests/integration/test_telemetry_vllm.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from prometheus_client.parser import text_string_to_metric_families

from hub.app import create_app
from hub.telemetry import semconv
from hub.telemetry.providers import build_telemetry
from tests.unit.conftest import FakeUpstream, Hub, migrated_settings, seed_keys
from tests.unit.test_admission import all_ledger_rows, set_policy
from tests.unit.test_gateway_relay import register, sse_chunks

SECRET_WORDS = "Bürgerin Erika Mustermann wohnt Gartenweg 7"
"""Prompt text that must never appear in a span or a metric."""
CLIENT_TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CLIENT_TRACEPARENT = f"00-{CLIENT_TRACE_ID}-00f067aa0ba902b7-01"


@dataclass
class TracedHub(Hub):
    """The hub with its spans going to an in-memory exporter."""

    spans: InMemorySpanExporter


@pytest.fixture
async def traced_hub(tmp_path: Path) -> AsyncIterator[TracedHub]:
    settings = migrated_settings(tmp_path)
    keys = await seed_keys(settings)
    exporter = InMemorySpanExporter()
    app = create_app(settings, telemetry=build_telemetry(settings, span_exporters=[exporter]))
    async with AsyncTestClient(app) as client:
        yield TracedHub(client=client, keys=keys, spans=exporter)


def _chat_body(**extra: Any) -> dict[str, Any]:
    return {"model": "chat", "messages": [{"role": "user", "content": SECRET_WORDS}], "max_tokens": 5, **extra}


def _by_name(spans: list[ReadableSpan], name: str) -> ReadableSpan:
    matching = [s for s in spans if s.name == name]
    assert len(matching) == 1, [s.name for s in spans]
    return matching[0]


def _request_spans(hub: TracedHub, request_id: str) -> dict[str, ReadableSpan]:
    """The gateway request's span and everything in its trace, by name."""
    spans = list(hub.spans.get_finished_spans())
    request_span = next(s for s in spans if s.attributes.get(semconv.HUB_REQUEST_ID) == request_id)
    trace_id = request_span.context.trace_id
    return {s.name: s for s in spans if s.context.trace_id == trace_id}


def _assert_no_text(spans: list[ReadableSpan]) -> None:
    for span in spans:
        for value in span.attributes.values():
            text = str(value)
            assert "Mustermann" not in text and "tok tok" not in text, (span.name, value)
        assert not any(key.startswith(("gen_ai.input", "gen_ai.output.messages")) for key in span.attributes)


async def test_non_streaming_chat_span_carries_genai_attributes_equal_to_the_ledger(
    traced_hub: TracedHub, fake_upstream: FakeUpstream
) -> None:
    hub = traced_hub
    await register(hub, "fake-a", fake_upstream.server.url)
    await set_policy(hub, "Schwerin", tokens_per_minute=10_000)  # makes admission reserve quota
    response = await hub.client.post(
        "/v1/chat/completions",
        json=_chat_body(temperature=0.2, seed=7),
        headers={**hub.auth(hub.keys.schwerin), "traceparent": CLIENT_TRACEPARENT},
    )
    assert response.status_code == 200, response.text
    request_id = response.headers["x-request-id"]
    ledger = next(r for r in await all_ledger_rows(hub, hub.keys.schwerin, 1) if r["request_id"] == request_id)
    spans = _request_spans(hub, request_id)

    server = spans["POST /v1/chat/completions"]
    assert server.kind is SpanKind.SERVER
    assert server.attributes[semconv.HTTP_ROUTE] == "/v1/chat/completions"
    assert format(server.context.trace_id, "032x") == CLIENT_TRACE_ID  # the client's trace goes on

    request = spans["chat chat"]
    assert request.parent is not None and request.parent.span_id == server.context.span_id
    attrs = request.attributes
    assert attrs[semconv.GEN_AI_OPERATION_NAME] == "chat"
    assert attrs[semconv.GEN_AI_PROVIDER_NAME] == "vllm"
    assert attrs[semconv.GEN_AI_REQUEST_MODEL] == "chat"
    assert attrs[semconv.GEN_AI_RESPONSE_MODEL] == "chat"
    assert attrs[semconv.GEN_AI_REQUEST_MAX_TOKENS] == 5
    assert attrs[semconv.GEN_AI_REQUEST_TEMPERATURE] == 0.2
    assert attrs[semconv.GEN_AI_REQUEST_SEED] == 7
    assert attrs[semconv.GEN_AI_REQUEST_STREAM] is False
    assert attrs[semconv.GEN_AI_RESPONSE_FINISH_REASONS] == ("length",)
    assert str(attrs[semconv.GEN_AI_RESPONSE_ID]).startswith("cmpl-")
    assert attrs[semconv.GEN_AI_USAGE_INPUT_TOKENS] == ledger["prompt_tokens"] == len(SECRET_WORDS.split())
    assert attrs[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == ledger["completion_tokens"] == 5
    assert attrs[semconv.HUB_TENANT] == "Schwerin"
    assert attrs[semconv.HUB_BACKEND] == "fake-a"
    assert attrs[semconv.HUB_OUTCOME] == "ok"
    assert attrs[semconv.HUB_REQUEST_ID] == request_id
    assert request.status.status_code is StatusCode.UNSET

    quota, queue = spans[semconv.SPAN_QUOTA_RESERVE], spans[semconv.SPAN_QUEUE_WAIT]
    upstream = spans["chat fake"]
    for child in (quota, queue, upstream):
        assert child.parent is not None and child.parent.span_id == request.context.span_id, child.name
    assert queue.attributes[semconv.HUB_QUEUE_WAIT_S] >= 0
    assert upstream.kind is SpanKind.CLIENT
    assert upstream.attributes[semconv.GEN_AI_REQUEST_MODEL] == "fake"  # the engine's name, not the alias
    assert upstream.attributes[semconv.GEN_AI_RESPONSE_MODEL] == "fake"
    assert upstream.attributes[semconv.SERVER_ADDRESS] == "127.0.0.1"
    assert upstream.attributes[semconv.SERVER_PORT] == int(fake_upstream.server.url.rsplit(":", 1)[1])
    assert upstream.attributes[semconv.HTTP_RESPONSE_STATUS_CODE] == 200
    assert upstream.attributes[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == 5
    assert quota.start_time <= queue.start_time <= upstream.start_time

    # vLLM received the upstream span's context, so its own spans join this trace.
    sent = fake_upstream.app.seen_headers[-1]["traceparent"]
    assert sent == f"00-{CLIENT_TRACE_ID}-{format(upstream.context.span_id, '016x')}-01"
    _assert_no_text(list(spans.values()))


async def test_streaming_chat_span_ends_with_the_stream_and_books_the_same_tokens(
    traced_hub: TracedHub, fake_upstream: FakeUpstream
) -> None:
    hub = traced_hub
    await register(hub, "fake-a", fake_upstream.server.url)
    response = await hub.client.post(
        "/v1/chat/completions", json=_chat_body(stream=True), headers=hub.auth(hub.keys.luebeck)
    )
    assert response.status_code == 200
    assert sse_chunks(response.text)[-1] == "[DONE]"
    request_id = response.headers["x-request-id"]
    ledger = next(r for r in await all_ledger_rows(hub, hub.keys.luebeck, 1) if r["request_id"] == request_id)
    spans = _request_spans(hub, request_id)
    request = spans["chat chat"]
    attrs = request.attributes
    assert attrs[semconv.GEN_AI_REQUEST_STREAM] is True
    assert attrs[semconv.GEN_AI_USAGE_INPUT_TOKENS] == ledger["prompt_tokens"]
    assert attrs[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == ledger["completion_tokens"] == 5
    assert attrs[semconv.HUB_TENANT] == "Lübeck"
    assert attrs[semconv.GEN_AI_RESPONSE_FINISH_REASONS] == ("length",)
    ttft = attrs[semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK]
    assert ttft == pytest.approx(ledger["ttft_ms"] / 1000.0, abs=1e-3)
    upstream = spans["chat fake"]
    assert upstream.end_time <= request.end_time and upstream.parent.span_id == request.context.span_id
    assert semconv.SPAN_QUOTA_RESERVE not in spans  # Lübeck has no quota policy: nothing to reserve
    assert semconv.SPAN_QUEUE_WAIT in spans
    assert fake_upstream.app.seen_headers[-1]["traceparent"].split("-")[1] == format(request.context.trace_id, "032x")
    _assert_no_text(list(spans.values()))


async def test_refused_request_span_names_the_error_and_the_route_template(
    traced_hub: TracedHub, fake_upstream: FakeUpstream
) -> None:
    hub = traced_hub
    await register(hub, "fake-a", fake_upstream.server.url)
    response = await hub.client.post(
        "/v1/chat/completions", json={**_chat_body(), "model": "nope"}, headers=hub.auth(hub.keys.schwerin)
    )
    assert response.status_code == 404
    spans = _request_spans(hub, response.headers["x-request-id"])
    request = spans["chat"]  # never resolved to a model
    assert request.attributes[semconv.ERROR_TYPE] == "model_not_found"
    assert request.attributes[semconv.HUB_OUTCOME] == "client_error"
    assert "chat fake" not in spans  # nothing went upstream

    response = await hub.client.get("/v1/models/chat", headers=hub.auth(hub.keys.schwerin))
    assert response.status_code == 200
    names = {s.name for s in hub.spans.get_finished_spans() if s.kind is SpanKind.SERVER}
    assert "GET /v1/models/{model_id}" in names and "GET /v1/models/chat" not in names


def _families(text: str) -> dict[str, Any]:
    return {f.name: f for f in text_string_to_metric_families(text)}


def _samples(families: dict[str, Any], sample_name: str, **labels: str) -> list[Any]:
    return [
        s
        for family in families.values()
        for s in family.samples
        if s.name == sample_name and all(s.labels.get(k) == v for k, v in labels.items())
    ]


async def test_prometheus_endpoint_parses_and_token_counts_equal_the_ledger(
    traced_hub: TracedHub, fake_upstream: FakeUpstream
) -> None:
    hub = traced_hub
    await register(hub, "fake-a", fake_upstream.server.url)
    await set_policy(hub, "Schwerin", requests_per_minute=3)
    statuses = []
    for stream in (False, True, False, False):  # the fourth exceeds 3 per minute
        r = await hub.client.post(
            "/v1/chat/completions", json=_chat_body(stream=stream), headers=hub.auth(hub.keys.schwerin)
        )
        statuses.append(r.status_code)
    assert statuses == [200, 200, 200, 429]
    assert (
        await hub.client.post(
            "/v1/embeddings", json={"model": "chat", "input": "x"}, headers=hub.auth(hub.keys.luebeck)
        )
    ).status_code == 400
    rows = await all_ledger_rows(hub, hub.keys.schwerin, 4)

    response = await hub.client.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    families = _families(response.text)

    exposed = {s.name for f in families.values() for s in f.samples}
    for instrument, name in semconv.PROMETHEUS_METRICS.items():
        histogram = name.endswith("_seconds") or instrument == semconv.METRIC_TOKEN_USAGE
        assert (f"{name}_count" if histogram else name) in exposed, name

    allowed_labels = set(semconv.PROMETHEUS_LABELS.values()) | {"le"}
    for family in families.values():
        if family.name in ("target", "target_info"):  # OpenTelemetry's resource info: one series
            continue
        for sample in family.samples:
            assert set(sample.labels) <= allowed_labels, (sample.name, sample.labels)
            assert not any(k in v for v in sample.labels.values() for k in ("sk-", "key:", "req_")), sample

    for token_type, column in (("input", "prompt_tokens"), ("output", "completion_tokens")):
        booked = sum(r[column] for r in rows)
        measured = _samples(
            families, "gen_ai_client_token_usage_sum", gen_ai_token_type=token_type, kiverbund_tenant="Schwerin"
        )
        assert sum(s.value for s in measured) == booked > 0, token_type

    ok = _samples(families, "kiverbund_gateway_requests_total", kiverbund_tenant="Schwerin", kiverbund_outcome="ok")
    assert sum(s.value for s in ok) == 3
    refused = _samples(
        families,
        "kiverbund_gateway_admission_rejections_total",
        kiverbund_tenant="Schwerin",
        kiverbund_reason="rate_limit_exceeded",
    )
    assert [s.value for s in refused] == [1.0]
    client_errors = _samples(
        families, "kiverbund_gateway_requests_total", kiverbund_tenant="Lübeck", kiverbund_outcome="client_error"
    )
    assert [s.labels["http_response_status_code"] for s in client_errors] == ["400"]
    first_chunk = _samples(families, "gen_ai_client_operation_time_to_first_chunk_seconds_count")
    assert sum(s.value for s in first_chunk) == 1  # one stream
    backend_up = _samples(families, "kiverbund_backend_up", kiverbund_backend="fake-a")
    assert [s.value for s in backend_up] == [1.0]
    routes = {s.labels["http_route"] for s in _samples(families, "http_server_request_duration_seconds_count")}
    assert "/v1/chat/completions" in routes and "/api/admin/tenants/{tenant_id}/quotas" in routes
    durations = _samples(families, "gen_ai_client_operation_duration_seconds_count", server_address="127.0.0.1")
    assert sum(s.value for s in durations) == 3


async def test_tracing_is_off_by_default_and_metrics_still_work(hub: Hub, fake_upstream: FakeUpstream) -> None:
    await register(hub, "fake-a", fake_upstream.server.url)
    response = await hub.client.post(
        "/v1/chat/completions",
        json=_chat_body(),
        headers={**hub.auth(hub.keys.schwerin), "traceparent": CLIENT_TRACEPARENT},
    )
    assert response.status_code == 200
    assert "traceparent" not in fake_upstream.app.seen_headers[-1]
    families = _families((await hub.client.get("/metrics")).text)
    assert sum(s.value for s in _samples(families, "kiverbund_gateway_requests_total", kiverbund_outcome="ok")) == 1
