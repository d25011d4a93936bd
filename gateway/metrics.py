"""Prometheus metrics of the gateway's admission: queue wait, queue length and quota rejections.

Each app has its own registry (tests build several apps in one process). Labels are bounded: model
aliases and fixed reason codes, never tenants' keys or users.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

QUEUE_WAIT_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class GatewayMetrics:
    """The gateway's own metrics, exposed at ``/metrics``."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._queue_wait = Histogram(
            "kiverbund_queue_wait_seconds",
            "Time requests waited in the fair queue for backend capacity",
            ["model"],
            buckets=QUEUE_WAIT_BUCKETS,
            registry=self.registry,
        )
        self._rejections = Counter(
            "kiverbund_admission_rejections",
            "Requests refused by a quota or a full or timed-out tenant queue, by reason",
            ["reason"],
            registry=self.registry,
        )
        self._waiting = Gauge(
            "kiverbund_queue_waiting",
            "Requests waiting in the fair queue now, by upstream model",
            ["upstream_model"],
            registry=self.registry,
        )
        self._waiting_source: Callable[[], dict[str, int]] | None = None

    def watch_queues(self, source: Callable[[], dict[str, int]]) -> None:
        """Where the current queue lengths come from (read at scrape time)."""
        self._waiting_source = source

    def queue_waited(self, model: str, seconds: float) -> None:
        """Record one dispatched request's wait."""
        self._queue_wait.labels(model).observe(seconds)

    def quota_rejected(self, reason: str) -> None:
        """Count one refusal (``rate_limit_exceeded``, ``insufficient_quota``, ``queue_full``...)."""
        self._rejections.labels(reason).inc()

    def render(self) -> bytes:
        """The Prometheus text exposition."""
        if self._waiting_source is not None:
            for name, waiting in self._waiting_source().items():
                self._waiting.labels(name).set(waiting)
        return generate_latest(self.registry)
