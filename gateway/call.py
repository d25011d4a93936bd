"""What the gateway tracks about one request on its way through, until it becomes a ledger entry."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from opentelemetry.trace import Span

from gateway.routing import BackendState
from gateway.schemas import Endpoint
from hub.auth.principal import Principal
from hub.usage.services import UsageEntry


@dataclass(slots=True)
class Call:
    """One gateway request: who, what, where it went, and the usage the backend reported."""

    request_id: str
    principal: Principal
    endpoint: Endpoint
    created_at: datetime
    started: float
    stream: bool = False
    model: str | None = None
    backend: BackendState | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    ttft_ms: float | None = None
    queue_wait_ms: float | None = None
    span: Span | None = None
    """The request's span (see :mod:`gateway.tracing`); None once ended."""
    upstream_span: Span | None = None
    upstream_started: float | None = None
    upstream_model: str | None = None
    """The model name the backend answered with (its served name, not the tenant's alias)."""
    response_id: str | None = None
    finish_reasons: set[str] | None = None

    def take_response(self, data: dict[str, Any]) -> None:
        """Note the answer's id, served model and finish reasons (for the spans; never its text)."""
        if self.response_id is None:
            response_id = data.get("id")
            if isinstance(response_id, str):
                self.response_id = response_id
        if self.upstream_model is None:
            model = data.get("model")
            if isinstance(model, str):
                self.upstream_model = model
        for choice in data.get("choices") or ():
            reason = choice.get("finish_reason") if isinstance(choice, dict) else None
            if isinstance(reason, str):
                if self.finish_reasons is None:
                    self.finish_reasons = set()
                self.finish_reasons.add(reason)

    def time_to_first_chunk_s(self) -> float | None:
        """Seconds from sending upstream to the first output chunk (streams only)."""
        if self.ttft_ms is None or self.upstream_started is None:
            return None
        return self.started + self.ttft_ms / 1000.0 - self.upstream_started

    def take_usage(self, usage: dict[str, Any] | None) -> None:
        """Adopt the backend's token counts (vLLM's ``usage`` object)."""
        if not usage:
            return
        self.prompt_tokens = int(usage.get("prompt_tokens") or 0)
        self.completion_tokens = int(usage.get("completion_tokens") or 0)

    def mark_first_token(self) -> None:
        """Remember the time to first token (streams only)."""
        if self.ttft_ms is None:
            self.ttft_ms = (time.perf_counter() - self.started) * 1000.0

    def entry(self, status: str, http_status: int, error_code: str | None = None) -> UsageEntry:
        """The ledger entry for this call as it ended."""
        return UsageEntry(
            request_id=self.request_id,
            created_at=self.created_at,
            tenant_id=self.principal.tenant_id,
            api_key_id=self.principal.key_id,
            caller_kind=self.principal.kind.value,
            use_case=self.principal.use_case,
            endpoint=self.endpoint.value,
            model=self.model,
            backend_id=self.backend.entry.id if self.backend else None,
            stream=self.stream,
            status=status,
            http_status=http_status,
            error_code=error_code,
            prompt_tokens=self.prompt_tokens,
            completion_tokens=self.completion_tokens,
            latency_ms=(time.perf_counter() - self.started) * 1000.0,
            ttft_ms=self.ttft_ms,
            queue_wait_ms=self.queue_wait_ms,
        )
