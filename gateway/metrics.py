"""The gateway's metrics, as OpenTelemetry instruments: GenAI operation duration, token usage and time
to first chunk (semconv names), requests by tenant/model/outcome, queue wait and length, admission
rejections, backend health and load, and the ledger's backlog.

They reach Prometheus through the app's reader (``/metrics``) and, when switched on, OTLP. Labels are
bounded: tenant names, model aliases, backend names and fixed codes; never keys, users or request ids.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from opentelemetry.metrics import CallbackOptions, Meter, Observation

from gateway.call import Call
from gateway.tracing import operation_name, server_endpoint
from hub.telemetry import semconv


@dataclass(frozen=True, slots=True)
class BackendReading:
    """What the backend gauges show for one backend."""

    name: str
    up: bool
    in_flight: int
    running: float
    waiting: float


class GatewayMetrics:
    """Records the gateway's metrics on ``meter``."""

    def __init__(self, meter: Meter) -> None:
        self._duration = meter.create_histogram(
            semconv.METRIC_OPERATION_DURATION, unit="s", description="GenAI operation duration (gateway to backend)"
        )
        self._tokens = meter.create_histogram(
            semconv.METRIC_TOKEN_USAGE, unit="{token}", description="Input and output tokens used per request"
        )
        self._first_chunk = meter.create_histogram(
            semconv.METRIC_TIME_TO_FIRST_CHUNK,
            unit="s",
            description="Time from sending a streamed request to the backend until its first output chunk",
        )
        self._requests = meter.create_counter(
            semconv.METRIC_REQUESTS, unit="{request}", description="Gateway requests by tenant, model and outcome"
        )
        self._queue_wait = meter.create_histogram(
            semconv.METRIC_QUEUE_WAIT, unit="s", description="Time requests waited in the fair queue for a backend"
        )
        self._rejections = meter.create_counter(
            semconv.METRIC_REJECTIONS,
            unit="{request}",
            description="Requests refused by the rollout gate, a quota, or a full or timed-out tenant queue",
        )
        self._queue_source: Callable[[], dict[str, int]] = dict
        self._backend_source: Callable[[], Iterable[BackendReading]] = list
        self._ledger_source: Callable[[], int] = int
        meter.create_observable_gauge(
            semconv.METRIC_QUEUE_WAITING,
            callbacks=[self._observe_queues],
            unit="{request}",
            description="Requests waiting in this replica's fair queue, by upstream model",
        )
        for name, field, description in (
            (semconv.METRIC_BACKEND_UP, "up", "1 if the backend's last health check passed"),
            (semconv.METRIC_BACKEND_IN_FLIGHT, "in_flight", "Requests this replica has running on the backend"),
            (semconv.METRIC_BACKEND_RUNNING, "running", "Requests the engine reports running (vLLM /metrics)"),
            (semconv.METRIC_BACKEND_WAITING, "waiting", "Requests waiting in the engine's own queue (vLLM /metrics)"),
        ):
            meter.create_observable_gauge(name, callbacks=[self._backend_callback(field)], description=description)
        meter.create_observable_gauge(
            semconv.METRIC_LEDGER_PENDING,
            callbacks=[lambda _options: [Observation(self._ledger_source())]],
            unit="{entry}",
            description="Usage ledger entries not yet written to the database",
        )

    def watch_queues(self, source: Callable[[], dict[str, int]]) -> None:
        """Where the current queue lengths come from (read at collection time)."""
        self._queue_source = source

    def watch_backends(self, source: Callable[[], Iterable[BackendReading]]) -> None:
        """Where the backends' current state comes from."""
        self._backend_source = source

    def watch_ledger(self, source: Callable[[], int]) -> None:
        """Where the ledger's backlog comes from."""
        self._ledger_source = source

    def queue_waited(self, model: str, seconds: float) -> None:
        """Record one dispatched request's wait."""
        self._queue_wait.record(seconds, {semconv.GEN_AI_REQUEST_MODEL: model})

    def quota_rejected(self, reason: str, tenant: str) -> None:
        """Count one refusal (``rate_limit_exceeded``, ``insufficient_quota``, ``queue_full``...)."""
        self._rejections.add(1, {semconv.HUB_REASON: reason, semconv.HUB_TENANT: tenant})

    def request_finished(self, call: Call, outcome: str, http_status: int, error_code: str | None) -> None:
        """Record a finished request: its count, and for requests that reached a backend, the GenAI metrics."""
        operation = operation_name(call.endpoint)
        model = call.model or "unknown"
        tenant = call.principal.tenant_name
        self._requests.add(
            1,
            {
                semconv.HUB_TENANT: tenant,
                semconv.GEN_AI_REQUEST_MODEL: model,
                semconv.GEN_AI_OPERATION_NAME: operation,
                semconv.HUB_OUTCOME: outcome,
                semconv.HTTP_RESPONSE_STATUS_CODE: http_status,
            },
        )
        if call.upstream_started is None or call.backend is None:
            return
        attributes: dict[str, Any] = {
            semconv.GEN_AI_OPERATION_NAME: operation,
            semconv.GEN_AI_PROVIDER_NAME: semconv.PROVIDER_VLLM,
            semconv.GEN_AI_REQUEST_MODEL: model,
            semconv.GEN_AI_RESPONSE_MODEL: model,
        }
        first_chunk = call.time_to_first_chunk_s()
        if first_chunk is not None:
            self._first_chunk.record(first_chunk, attributes)
        if call.prompt_tokens:
            self._tokens.record(
                call.prompt_tokens,
                {**attributes, semconv.GEN_AI_TOKEN_TYPE: semconv.TOKEN_TYPE_INPUT, semconv.HUB_TENANT: tenant},
            )
        if call.completion_tokens:
            self._tokens.record(
                call.completion_tokens,
                {**attributes, semconv.GEN_AI_TOKEN_TYPE: semconv.TOKEN_TYPE_OUTPUT, semconv.HUB_TENANT: tenant},
            )
        attributes[semconv.SERVER_ADDRESS], attributes[semconv.SERVER_PORT] = server_endpoint(
            call.backend.entry.base_url
        )
        if error_code is not None or outcome not in ("ok", "client_disconnected"):
            attributes[semconv.ERROR_TYPE] = error_code or outcome
        self._duration.record(time.perf_counter() - call.upstream_started, attributes)

    def _observe_queues(self, _options: CallbackOptions) -> Iterable[Observation]:
        return [Observation(n, {semconv.HUB_UPSTREAM_MODEL: name}) for name, n in self._queue_source().items()]

    def _backend_callback(self, field: str) -> Callable[[CallbackOptions], Iterable[Observation]]:
        def observe(_options: CallbackOptions) -> Iterable[Observation]:
            return [
                Observation(float(getattr(reading, field)), {semconv.HUB_BACKEND: reading.name})
                for reading in self._backend_source()
            ]

        return observe
