"""Admission of a request: the rollout gate (is the model released for the caller's use case?), its
quotas (cheap to refuse), then its turn in the fair queue.

:meth:`AdmissionControl.admit` returns an :class:`Admission` holding the quota reservation and the
dispatched queue ticket (whose slot is the backend to use); :meth:`AdmissionControl.finish` settles
the quotas with the real usage and frees the backend, exactly once, however the request ended.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from gateway.call import Call
from gateway.dispatch import Dispatcher
from gateway.metrics import GatewayMetrics
from gateway.quotas import QuotaExceeded, QuotaScope, QuotaStore, Reservation
from gateway.registry import ModelEntry, Registry
from gateway.routing import BackendMonitor
from gateway.scheduler import QueuedRequest, weighted_tokens
from gateway.schemas import Endpoint
from gateway.tokens import TokenCounter, estimate_prompt_tokens, output_allowance
from gateway.tracing import GatewayTracer
from hub.errors import HubError
from hub.telemetry import semconv

log = logging.getLogger("kiverbund.gateway.admission")


def _limits_tokens(scope: QuotaScope) -> bool:
    return scope.limits.tokens_per_minute is not None or scope.limits.monthly_tokens is not None


@dataclass(slots=True)
class Admission:
    """What an admitted request holds until it ends."""

    model: ModelEntry
    reservation: Reservation | None
    ticket: QueuedRequest
    done: bool = False


class AdmissionControl:
    """Quotas and fair queuing in front of the backends."""

    def __init__(
        self,
        *,
        registry: Registry,
        monitor: BackendMonitor,
        quotas: QuotaStore,
        dispatcher: Dispatcher,
        tokens: TokenCounter,
        metrics: GatewayMetrics,
        tracer: GatewayTracer,
    ) -> None:
        self.registry = registry
        self.monitor = monitor
        self.quotas = quotas
        self.dispatcher = dispatcher
        self.tokens = tokens
        self.metrics = metrics
        self.tracer = tracer

    async def admit(
        self, call: Call, model: ModelEntry, endpoint: Endpoint, payload: dict[str, Any], params: Any
    ) -> Admission:
        """Check the release, reserve quota and wait for a backend; may rewrite the payload's output limit."""
        try:
            self.registry.check_release(call.principal, model)
        except HubError as exc:
            self.metrics.quota_rejected(exc.code or "model_not_released", call.principal.tenant_name)
            raise
        scopes = self.registry.quota_scopes(call.principal, model.name)
        counts_tokens = any(
            s.limits.tokens_per_minute is not None or s.limits.monthly_tokens is not None for s in scopes
        )
        if counts_tokens:
            prompt = await self.tokens.prompt_tokens(model, endpoint, payload)
        else:  # nothing to charge: a guess is enough for the scheduler, which corrects it afterwards
            prompt = estimate_prompt_tokens(endpoint, payload)
        window = model.max_model_len or self.monitor.context_window(model.upstream_name)
        allowance, parameter, per_choice = output_allowance(model, params, prompt, window)
        if parameter is not None and (counts_tokens or model.default_max_tokens is not None):
            # The engine must not produce more than was reserved.
            payload[parameter] = per_choice
        reservation = None
        if scopes:
            try:
                with self.tracer.step(call, semconv.SPAN_QUOTA_RESERVE):
                    reservation = await self.quotas.reserve(scopes, prompt + allowance)
            except QuotaExceeded as exc:
                self.metrics.quota_rejected(exc.code or "rate_limit_exceeded", call.principal.tenant_name)
                raise
            except HubError:
                raise
            except Exception as exc:
                # Fail closed: without its counters the gateway cannot tell whether a limit is reached.
                log.error("quota store unavailable: %s", exc)
                raise HubError(
                    "Quota counters are unavailable at the moment; try again shortly",
                    status_code=503,
                    code="quota_store_unavailable",
                    error_type="server_error",
                    headers={"Retry-After": "1"},
                ) from None
        try:
            # Charged to the tenant's virtual counter now: the prompt. The output is added when the
            # request ends, as VTC counts generated tokens when they are served.
            with self.tracer.step(call, semconv.SPAN_QUEUE_WAIT) as span:
                ticket = await self.dispatcher.acquire(
                    model.upstream_name, call.principal.tenant_id, weighted_tokens(prompt, 0)
                )
                span.set_attribute(semconv.HUB_QUEUE_WAIT_S, ticket.wait_s)
        except BaseException as exc:
            if reservation is not None:
                await self.quotas.release(reservation, 0)
            if isinstance(exc, HubError) and exc.code in ("queue_full", "queue_timeout"):
                self.metrics.quota_rejected(exc.code, call.principal.tenant_name)
            raise
        call.queue_wait_ms = ticket.wait_s * 1000.0
        call.backend = ticket.slot
        self.metrics.queue_waited(model.name, ticket.wait_s)
        return Admission(model=model, reservation=reservation, ticket=ticket)

    async def finish(self, admission: Admission, call: Call) -> None:
        """Free the backend and settle the quotas with what the call really used (idempotent)."""
        if admission.done:
            return
        admission.done = True
        self.dispatcher.release(
            admission.model.upstream_name,
            admission.ticket,
            weighted_tokens(call.prompt_tokens, call.completion_tokens),
        )
        if admission.reservation is None:
            return
        used = call.prompt_tokens + call.completion_tokens
        try:
            if used > 0:
                await self.quotas.settle(admission.reservation, used)
            else:
                await self.quotas.release(admission.reservation, 0)
        except Exception:
            # The store is unreachable: the reservation expires by itself and keeps its tokens charged.
            log.exception("settling quota reservation %s failed", admission.reservation.id)
