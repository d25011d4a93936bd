"""The request path: validate, resolve the model, admit, forward, relay, record.

Each step is small and delegates: :mod:`gateway.schemas` validates, :mod:`gateway.registry` knows the
models, :mod:`gateway.admission` applies quotas and the fair queue (which picks the backend),
:mod:`gateway.streaming` relays streams, and :mod:`gateway.ledger` writes the usage rows.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import aiohttp
import msgspec
from litestar import Request, Response
from litestar.background_tasks import BackgroundTask
from litestar.exceptions import HTTPException
from litestar.response import Stream

from gateway.admission import Admission, AdmissionControl
from gateway.call import Call
from gateway.ledger import Ledger
from gateway.metrics import GatewayMetrics
from gateway.registry import ModelEntry, Registry
from gateway.routing import BackendMonitor
from gateway.schemas import ChatParams, Endpoint, parse_request
from gateway.streaming import StreamRelay
from gateway.tracing import GatewayTracer
from gateway.upstream import CONNECT_ERRORS, UpstreamClient
from gateway.upstream_errors import upstream_error
from hub.auth.principal import Principal
from hub.backends.models import ModelKind
from hub.errors import HubError, error_response

_encode = msgspec.json.Encoder()
_decode_object = msgspec.json.Decoder(dict[str, Any])
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def _bad_gateway(message: str) -> HubError:
    """A backend failed in a way the client could not cause: 502 ``upstream_error``."""
    return HubError(message, status_code=502, code="upstream_error", error_type="server_error")


def _ledger_status(http_status: int) -> str:
    if http_status == 503:
        return "unavailable"
    if http_status >= 500:
        return "upstream_error"
    return "client_error"


class Gateway:
    """Forwards OpenAI requests of authenticated tenants to the best backend and books their usage."""

    def __init__(
        self,
        *,
        registry: Registry,
        monitor: BackendMonitor,
        ledger: Ledger,
        http: UpstreamClient,
        admission: AdmissionControl,
        tracer: GatewayTracer,
        metrics: GatewayMetrics,
    ) -> None:
        self.registry = registry
        self.monitor = monitor
        self.ledger = ledger
        self.http = http
        self.admission = admission
        self.quotas = admission.quotas
        self.tracer = tracer
        self.metrics = metrics
        self._finishing: set[asyncio.Task[None]] = set()

    async def drain(self) -> None:
        """Wait for quota settlements still running after their streams ended (shutdown)."""
        if self._finishing:
            await asyncio.gather(*self._finishing, return_exceptions=True)

    def healthy_backends_by_model(self) -> dict[str, int]:
        """For every enabled model, how many of its backends passed their last health check (readiness)."""
        return {
            name: sum(
                1
                for state in self.monitor.states.values()
                if state.healthy is True and model.upstream_name in state.entry.served_models
            )
            for name, model in self.registry.models.items()
        }

    async def forward(self, request: Request, endpoint: Endpoint) -> Response:
        """Handle one inference request end to end."""
        principal: Principal = request.user
        call = Call(
            request_id=f"req_{uuid.uuid4().hex}",
            principal=principal,
            endpoint=endpoint,
            created_at=datetime.now(UTC),
            started=time.perf_counter(),
        )
        self.tracer.start_request(call)
        try:
            self.ledger.check_capacity()
        except HubError as exc:
            return self._error(call, exc, record=False)
        try:
            try:
                body = await request.body()
            except HTTPException as exc:  # body over the size limit, bad Content-Length
                raise HubError(str(exc.detail), status_code=exc.status_code) from None
            payload, params = parse_request(endpoint, body)
            call.stream = bool(getattr(params, "stream", False))
            model = self._resolve_model(principal, params.model, endpoint)
            call.model = model.name
            self.tracer.describe_request(call, model.name, payload, params)
            self._check_context_window(model, params)
            admission = await self.admission.admit(call, model, endpoint, payload, params)
        except HubError as exc:
            return self._error(call, exc)
        handed_over = False
        try:
            payload["model"] = model.upstream_name
            if call.stream:
                payload["stream_options"] = {"include_usage": True, "continuous_usage_stats": True}
                response = await self._stream(call, admission, params, _encode.encode(payload))
                handed_over = True  # the relay finishes the admission when the stream ends
                return response
            return await self._complete(call, admission, _encode.encode(payload))
        except HubError as exc:
            return self._error(call, exc)
        finally:
            if not handed_over:
                await self.admission.finish(admission, call)

    def _resolve_model(self, principal: Principal, name: str, endpoint: Endpoint) -> ModelEntry:
        model = self.registry.model_for(name, principal.tenant_id)
        wants_embedding = endpoint is Endpoint.EMBEDDINGS
        if wants_embedding != (model.kind == ModelKind.EMBEDDING.value):
            what = "an embedding model" if model.kind == ModelKind.EMBEDDING.value else "a generative model"
            raise HubError(
                f"The model `{name}` is {what} and does not support /v1/{endpoint.value.replace('.', '/')}",
                param="model",
                code="model_not_supported",
            )
        return model

    def _check_context_window(self, model: ModelEntry, params: Any) -> None:
        max_tokens = getattr(params, "max_tokens", None)
        if isinstance(params, ChatParams):
            max_tokens = params.max_completion_tokens or max_tokens
            param = "max_completion_tokens" if params.max_completion_tokens else "max_tokens"
        else:
            param = "max_tokens"
        if max_tokens is None:
            return
        window = model.max_model_len or self.monitor.context_window(model.upstream_name)
        if window is not None and max_tokens >= window:
            raise HubError(
                f"{param}={max_tokens} does not fit the context window of `{model.name}` ({window} tokens, "
                "prompt included)",
                param=param,
                code="context_length_exceeded",
            )

    async def _send(self, call: Call, admission: Admission, body: bytes) -> aiohttp.ClientResponse:
        """Send to the backend the queue gave us; on a connection failure try the next (nothing reached
        an engine)."""
        model, state = admission.model, admission.ticket.slot
        while state is not None:
            call.backend = state
            headers = {"Content-Type": "application/json", "X-Request-Id": call.request_id}
            if state.entry.api_key:
                headers["Authorization"] = f"Bearer {state.entry.api_key}"
            self.tracer.start_upstream(call, state, model.upstream_name, headers)
            try:
                return await self.http.post(state.entry.base_url + call.endpoint.path, body, headers)
            except CONNECT_ERRORS as exc:
                self.tracer.end_upstream(call, None, exc.__class__.__name__)
                self.monitor.mark_down(state, f"{exc.__class__.__name__}: {exc}")
                state = self.admission.dispatcher.reroute(model.upstream_name, admission.ticket)
            except (aiohttp.ClientError, TimeoutError) as exc:
                raise _bad_gateway(f"The model backend did not answer ({exc.__class__.__name__})") from None
        call.backend = None
        raise HubError(
            f"No backend for model `{model.name}` is reachable at the moment; try again later",
            status_code=503,
            code="backend_unavailable",
            error_type="server_error",
        )

    async def _complete(self, call: Call, admission: Admission, body: bytes) -> Response:
        response = await self._send(call, admission, body)
        try:
            content = await response.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise _bad_gateway(f"The model backend broke off its answer ({exc.__class__.__name__})") from None
        finally:
            response.release()
        if response.status != 200:
            raise upstream_error(response.status, content)
        try:
            data = _decode_object.decode(content)
        except msgspec.DecodeError:
            raise _bad_gateway("The model backend sent an invalid answer") from None
        call.take_usage(data.get("usage"))
        if call.span is not None:
            call.take_response(data)
        data["model"] = admission.model.name
        self._record(call, "ok", 200)
        return Response(
            content=_encode.encode(data),
            status_code=200,
            media_type="application/json",
            headers={"x-request-id": call.request_id},
        )

    async def _stream(self, call: Call, admission: Admission, params: Any, body: bytes) -> Response:
        upstream = await self._send(call, admission, body)
        if upstream.status != 200:
            try:
                content = await upstream.read()
            except (aiohttp.ClientError, TimeoutError):
                content = b""
            finally:
                upstream.release()
            raise upstream_error(upstream.status, content)
        options = params.stream_options

        def finished(_relay: StreamRelay, outcome: str) -> None:
            status = 200 if outcome in ("ok", "client_disconnected") else 502
            self._record(call, outcome, status, None if outcome == "ok" else outcome)
            task = asyncio.ensure_future(self.admission.finish(admission, call))
            self._finishing.add(task)
            task.add_done_callback(self._finishing.discard)

        relay = StreamRelay(
            upstream=upstream,
            call=call,
            model_name=admission.model.name,
            client_wants_usage=bool(options and options.include_usage),
            client_wants_continuous_usage=bool(options and options.continuous_usage_stats),
            on_finish=finished,
        )
        return Stream(
            relay.events(),
            media_type="text/event-stream",
            headers={**SSE_HEADERS, "x-request-id": call.request_id},
            background=BackgroundTask(relay.finish),
        )

    def _record(
        self, call: Call, outcome: str, http_status: int, error_code: str | None = None, *, ledger: bool = True
    ) -> None:
        """The request ended: book it in the ledger and close its spans and metrics with the same figures."""
        if ledger:
            self.ledger.add(call.entry(outcome, http_status, error_code))
        self.tracer.finish(call, outcome, http_status, error_code)
        self.metrics.request_finished(call, outcome, http_status, error_code)

    def _error(self, call: Call, exc: HubError, *, record: bool = True) -> Response:
        self._record(call, _ledger_status(exc.status_code), exc.status_code, exc.code, ledger=record)
        response = error_response(exc)
        response.headers["x-request-id"] = call.request_id
        return response
