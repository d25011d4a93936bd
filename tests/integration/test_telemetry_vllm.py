"""Tracing and metrics end to end: a hub process with OTLP export switched on, in front of a real vLLM
engine that traces too, driven by the official ``openai`` client. The spans of both arrive at a local
OTLP/HTTP receiver (what a Collector would get); vLLM's request span must hang below the gateway's
upstream span, and every token count must equal the ledger's."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from hub.telemetry import semconv
from tests.integration.conftest import VLLM_SERVICE_NAME
from tests.support.engines import Engine
from tests.support.hub import HubProcess
from tests.support.otlp import OtlpReceiver, ReceivedSpan

pytestmark = pytest.mark.integration

HUB_SERVICE_NAME = "kiverbund-hub-traced"
QUESTION = [{"role": "user", "content": "Wann hat das Bürgerbüro geöffnet?"}]
SPAN_KIND_CLIENT = 3  # OTLP's enum: INTERNAL 1, SERVER 2, CLIENT 3


@dataclass(frozen=True)
class TracedHub:
    hub: HubProcess
    key: str


@pytest.fixture(scope="module")
def traced_hub(
    engines: dict[str, Engine], otlp_receiver: OtlpReceiver, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TracedHub]:
    """A hub exporting spans and metrics to the receiver, with the tiny engine as its backend."""
    hub = HubProcess(
        data_dir=Path(tmp_path_factory.mktemp("traced-hub")),
        env_overrides={
            "KIVERBUND_OTEL_ENABLED": "true",
            "OTEL_EXPORTER_OTLP_ENDPOINT": otlp_receiver.endpoint,
            "OTEL_SERVICE_NAME": HUB_SERVICE_NAME,
            "OTEL_BSP_SCHEDULE_DELAY": "200",
            "OTEL_METRIC_EXPORT_INTERVAL": "500",
        },
    ).start()
    try:
        tiny = engines["tiny"]
        backend = {"name": "traced-tiny", "base_url": tiny.base_url, "location": "DE-MV-Schwerin"}
        assert hub.admin("POST", "/api/admin/backends", json=backend).status_code == 201
        model = {"name": "tiny", "upstream_name": tiny.served_name}
        assert hub.admin("POST", "/api/admin/models", json=model).status_code == 201
        tenant = hub.create_tenant("Northeim", "03155011", state="Niedersachsen")
        key = hub.issue_key(tenant["id"], label="telemetry")["secret"]
        hub.wait_model_ready(key, "tiny")
        yield TracedHub(hub=hub, key=key)
    finally:
        hub.stop()


def _wait_for(find: Callable[[], list[ReceivedSpan]], what: str, timeout_s: float = 20.0) -> list[ReceivedSpan]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = find()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"no {what} arrived within {timeout_s} s")


@pytest.mark.parametrize("stream", [False, True], ids=["non-streaming", "streaming"])
def test_vllm_span_joins_the_gateway_trace_with_the_same_tokens(
    traced_hub: TracedHub, otlp_receiver: OtlpReceiver, stream: bool
) -> None:
    hub, key = traced_hub.hub, traced_hub.key
    client = hub.openai(key)
    if stream:
        raw = client.chat.completions.with_raw_response.create(
            model="tiny", messages=QUESTION, max_tokens=8, stream=True, stream_options={"include_usage": True}
        )
        chunks = list(raw.parse())
        usage = chunks[-1].usage
    else:
        raw = client.chat.completions.with_raw_response.create(model="tiny", messages=QUESTION, max_tokens=8)
        usage = raw.parse().usage
    request_id = raw.headers["x-request-id"]
    row = hub.ledger_row(key, request_id)
    assert usage is not None and row["completion_tokens"] == usage.completion_tokens > 0

    request_span = _wait_for(
        lambda: [s for s in otlp_receiver.spans if s.attributes.get(semconv.HUB_REQUEST_ID) == request_id],
        "gateway request span",
    )[0]
    assert request_span.service == HUB_SERVICE_NAME
    assert request_span.name == "chat tiny"
    attrs = request_span.attributes
    assert attrs[semconv.GEN_AI_USAGE_INPUT_TOKENS] == row["prompt_tokens"]
    assert attrs[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == row["completion_tokens"]
    assert attrs[semconv.GEN_AI_REQUEST_STREAM] is stream
    assert attrs[semconv.HUB_TENANT] == "Northeim" and attrs[semconv.HUB_BACKEND] == "traced-tiny"
    trace_spans = _wait_for(
        lambda: [s for s in otlp_receiver.spans if s.trace_id == request_span.trace_id and s.name == "llm_request"],
        "vLLM request span",
    )
    upstream = next(
        s
        for s in otlp_receiver.spans
        if s.trace_id == request_span.trace_id and s.kind == SPAN_KIND_CLIENT and s.service == HUB_SERVICE_NAME
    )
    assert upstream.name == "chat tiny-llama" and upstream.parent_span_id == request_span.span_id
    engine_span = trace_spans[0]
    assert engine_span.service == VLLM_SERVICE_NAME
    assert engine_span.parent_span_id == upstream.span_id  # traceparent reached vLLM
    # vLLM's own (older) attribute names; its counts equal what the gateway booked.
    assert engine_span.attributes["gen_ai.usage.completion_tokens"] == row["completion_tokens"]
    assert engine_span.attributes["gen_ai.usage.prompt_tokens"] == row["prompt_tokens"]
    names = {s.name for s in otlp_receiver.spans if s.trace_id == request_span.trace_id}
    assert {"POST /v1/chat/completions", semconv.SPAN_QUEUE_WAIT} <= names
    for span in otlp_receiver.spans:
        if span.trace_id == request_span.trace_id:
            assert "Bürgerbüro" not in str(span.attributes), span.name


def test_token_metrics_equal_the_ledger_in_prometheus_and_otlp(
    traced_hub: TracedHub, otlp_receiver: OtlpReceiver
) -> None:
    hub, key = traced_hub.hub, traced_hub.key
    client = hub.openai(key)
    for _ in range(2):
        client.chat.completions.create(model="tiny", messages=QUESTION, max_tokens=4)
    rows = httpx.get(
        f"{hub.url}/v1/usage/requests", headers={"Authorization": f"Bearer {key}"}, params={"limit": 1000}, timeout=10
    ).json()["data"]
    booked = {
        "input": sum(r["prompt_tokens"] for r in rows if r["status"] == "ok"),
        "output": sum(r["completion_tokens"] for r in rows if r["status"] == "ok"),
    }
    text = httpx.get(f"{hub.url}/metrics", timeout=10).text
    sums = {"input": 0.0, "output": 0.0}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "gen_ai_client_token_usage_sum" and sample.labels["kiverbund_tenant"] == "Northeim":
                sums[sample.labels["gen_ai_token_type"]] += sample.value
    assert sums == booked and booked["output"] > 0

    def exported() -> dict[str, float]:
        totals = {"input": 0.0, "output": 0.0}
        for attributes, value in otlp_receiver.histogram_sums(semconv.METRIC_TOKEN_USAGE):
            if attributes.get(semconv.HUB_TENANT) == "Northeim":
                totals[attributes[semconv.GEN_AI_TOKEN_TYPE]] += value
        return totals

    deadline = time.monotonic() + 15
    while exported() != booked and time.monotonic() < deadline:
        time.sleep(0.3)
    assert exported() == booked
