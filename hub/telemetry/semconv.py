"""Every telemetry name the hub emits, in one place.

The GenAI names follow OpenTelemetry semantic conventions 1.44.0 (``opentelemetry-semantic-conventions``
0.66b2), whose ``gen_ai.*`` entries are marked "Development" and are moving to the separate
semantic-conventions-genai repository. The Python constants in ``opentelemetry.semconv._incubating``
may disappear, so the hub pins the names here and nowhere else; when the conventions settle, this is
the only module to change.

Prompt and completion text (``gen_ai.input.messages``, ``gen_ai.output.messages``,
``gen_ai.system_instructions``) are deliberately absent: the hub never records them.
"""

from __future__ import annotations

# --- GenAI span and metric attributes (semconv 1.44.0) -----------------------------------------
GEN_AI_OPERATION_NAME = "gen_ai.operation.name"
GEN_AI_PROVIDER_NAME = "gen_ai.provider.name"
GEN_AI_REQUEST_MODEL = "gen_ai.request.model"
GEN_AI_REQUEST_MAX_TOKENS = "gen_ai.request.max_tokens"
GEN_AI_REQUEST_TEMPERATURE = "gen_ai.request.temperature"
GEN_AI_REQUEST_TOP_P = "gen_ai.request.top_p"
GEN_AI_REQUEST_SEED = "gen_ai.request.seed"
GEN_AI_REQUEST_CHOICE_COUNT = "gen_ai.request.choice.count"
GEN_AI_REQUEST_STREAM = "gen_ai.request.stream"
GEN_AI_REQUEST_ENCODING_FORMATS = "gen_ai.request.encoding_formats"
GEN_AI_RESPONSE_ID = "gen_ai.response.id"
GEN_AI_RESPONSE_MODEL = "gen_ai.response.model"
GEN_AI_RESPONSE_FINISH_REASONS = "gen_ai.response.finish_reasons"
GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK = "gen_ai.response.time_to_first_chunk"
GEN_AI_USAGE_INPUT_TOKENS = "gen_ai.usage.input_tokens"
GEN_AI_USAGE_OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
GEN_AI_OUTPUT_TYPE = "gen_ai.output.type"
GEN_AI_TOKEN_TYPE = "gen_ai.token.type"

# Well-known values.
OPERATION_CHAT = "chat"
OPERATION_TEXT_COMPLETION = "text_completion"
OPERATION_EMBEDDINGS = "embeddings"
PROVIDER_VLLM = "vllm"
"""Not a well-known value (there is none for vLLM); custom values are allowed. ``openai`` would claim
OpenAI-specific ``openai.*`` attributes."""
TOKEN_TYPE_INPUT = "input"
TOKEN_TYPE_OUTPUT = "output"

# --- General attributes (stable semconv) --------------------------------------------------------
ERROR_TYPE = "error.type"
SERVER_ADDRESS = "server.address"
SERVER_PORT = "server.port"
HTTP_ROUTE = "http.route"
HTTP_REQUEST_METHOD = "http.request.method"
HTTP_RESPONSE_STATUS_CODE = "http.response.status_code"

# --- The hub's own attributes (no semconv exists for tenants or backends) ------------------------
HUB_TENANT_ID = "kiverbund.tenant.id"
"""On spans only: ids are unbounded over time, so never a metric label."""
HUB_TENANT = "kiverbund.tenant"
"""The tenant's name: a metric label (bounded by the number of tenants, low hundreds)."""
HUB_CALLER_KIND = "kiverbund.caller.kind"
HUB_USE_CASE = "kiverbund.use_case"
HUB_REQUEST_ID = "kiverbund.request.id"
HUB_BACKEND = "kiverbund.backend"
"""The backend's name as registered by state IT."""
HUB_UPSTREAM_MODEL = "kiverbund.upstream_model"
HUB_OUTCOME = "kiverbund.outcome"
"""How a request ended: ``ok``, ``client_error``, ``upstream_error``, ``unavailable``, ``client_disconnected``."""
HUB_REASON = "kiverbund.reason"
"""Why admission refused a request: an OpenAI error code such as ``rate_limit_exceeded``."""
HUB_QUEUE_WAIT_S = "kiverbund.queue.wait_s"

# --- Span names ----------------------------------------------------------------------------------
SPAN_QUOTA_RESERVE = "kiverbund.quota.reserve"
SPAN_QUEUE_WAIT = "kiverbund.queue.wait"
SPAN_UPSTREAM = "kiverbund.upstream"
"""Prefix only: the upstream CLIENT span is named ``{operation} {upstream model}`` as semconv asks."""

# --- Metrics (OpenTelemetry instrument names; Prometheus names below) ----------------------------
METRIC_OPERATION_DURATION = "gen_ai.client.operation.duration"
METRIC_TOKEN_USAGE = "gen_ai.client.token.usage"
METRIC_TIME_TO_FIRST_CHUNK = "gen_ai.client.operation.time_to_first_chunk"
METRIC_REQUESTS = "kiverbund.gateway.requests"
METRIC_QUEUE_WAIT = "kiverbund.gateway.queue.wait"
METRIC_QUEUE_WAITING = "kiverbund.gateway.queue.waiting"
METRIC_REJECTIONS = "kiverbund.gateway.admission.rejections"
METRIC_BACKEND_UP = "kiverbund.backend.up"
METRIC_BACKEND_IN_FLIGHT = "kiverbund.backend.in_flight"
METRIC_BACKEND_RUNNING = "kiverbund.backend.engine.running"
METRIC_BACKEND_WAITING = "kiverbund.backend.engine.waiting"
METRIC_LEDGER_PENDING = "kiverbund.ledger.pending"
METRIC_HTTP_SERVER_DURATION = "http.server.request.duration"

DURATION_BUCKETS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92)
"""Semconv's advice for GenAI durations (seconds)."""
TOKEN_BUCKETS = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304)
"""Semconv's advice for token counts (cut at 4M: no request here is larger)."""
QUEUE_WAIT_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)

PROMETHEUS_METRICS: dict[str, str] = {
    METRIC_OPERATION_DURATION: "gen_ai_client_operation_duration_seconds",
    METRIC_TOKEN_USAGE: "gen_ai_client_token_usage",
    METRIC_TIME_TO_FIRST_CHUNK: "gen_ai_client_operation_time_to_first_chunk_seconds",
    METRIC_REQUESTS: "kiverbund_gateway_requests_total",
    METRIC_QUEUE_WAIT: "kiverbund_gateway_queue_wait_seconds",
    METRIC_QUEUE_WAITING: "kiverbund_gateway_queue_waiting",
    METRIC_REJECTIONS: "kiverbund_gateway_admission_rejections_total",
    METRIC_BACKEND_UP: "kiverbund_backend_up",
    METRIC_BACKEND_IN_FLIGHT: "kiverbund_backend_in_flight",
    METRIC_BACKEND_RUNNING: "kiverbund_backend_engine_running",
    METRIC_BACKEND_WAITING: "kiverbund_backend_engine_waiting",
    METRIC_LEDGER_PENDING: "kiverbund_ledger_pending",
    METRIC_HTTP_SERVER_DURATION: "http_server_request_duration_seconds",
}
"""How each instrument appears at ``/metrics`` (OpenTelemetry's Prometheus translation: dots become
underscores, seconds add ``_seconds``, counters add ``_total``; histograms add ``_bucket``/``_sum``/``_count``).
A test checks every one of these against the real exposition; the Grafana dashboard uses only these."""

PROMETHEUS_LABELS: dict[str, str] = {
    GEN_AI_OPERATION_NAME: "gen_ai_operation_name",
    GEN_AI_PROVIDER_NAME: "gen_ai_provider_name",
    GEN_AI_REQUEST_MODEL: "gen_ai_request_model",
    GEN_AI_RESPONSE_MODEL: "gen_ai_response_model",
    GEN_AI_TOKEN_TYPE: "gen_ai_token_type",
    ERROR_TYPE: "error_type",
    SERVER_ADDRESS: "server_address",
    SERVER_PORT: "server_port",
    HUB_TENANT: "kiverbund_tenant",
    HUB_BACKEND: "kiverbund_backend",
    HUB_UPSTREAM_MODEL: "kiverbund_upstream_model",
    HUB_OUTCOME: "kiverbund_outcome",
    HUB_REASON: "kiverbund_reason",
    HTTP_ROUTE: "http_route",
    HTTP_REQUEST_METHOD: "http_request_method",
    HTTP_RESPONSE_STATUS_CODE: "http_response_status_code",
}
"""Label names at ``/metrics``; all bounded (no key, user, request or tenant ids)."""
