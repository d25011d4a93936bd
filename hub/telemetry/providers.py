"""The app's OpenTelemetry providers: traces (exported over OTLP when switched on) and metrics (always,
read by the Prometheus endpoint and, when switched on, exported over OTLP).

Each app gets its own providers instead of the process-global ones: tests build several apps in one
process, and a library's global provider must not pick up the hub's spans by accident.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

from opentelemetry import trace
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.metrics import Meter, MeterProvider, NoOpMeterProvider
from opentelemetry.sdk.metrics import MeterProvider as SdkMeterProvider
from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.metrics.view import ExplicitBucketHistogramAggregation, View
from opentelemetry.sdk.resources import SERVICE_NAME, SERVICE_VERSION, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter
from opentelemetry.trace import NoOpTracerProvider, Tracer
from prometheus_client import CollectorRegistry, generate_latest

from hub.settings import Settings
from hub.telemetry import semconv

INSTRUMENTATION_SCOPE = "kiverbund"
DEFAULT_SERVICE_NAME = "kiverbund-hub"


@dataclass(slots=True)
class Telemetry:
    """Tracer and meter of one app, and the registry its ``/metrics`` endpoint renders."""

    tracer_provider: trace.TracerProvider
    meter_provider: MeterProvider
    registry: CollectorRegistry
    tracing: bool
    """True when spans are recorded (OTLP export switched on, or a test's exporter given)."""

    @property
    def tracer(self) -> Tracer:
        """The hub's tracer (a no-op one while tracing is off, so instrumented code needs no branches)."""
        return self.tracer_provider.get_tracer(INSTRUMENTATION_SCOPE)

    @property
    def meter(self) -> Meter:
        """The hub's meter."""
        return self.meter_provider.get_meter(INSTRUMENTATION_SCOPE)

    def render_prometheus(self) -> bytes:
        """The Prometheus text exposition of every metric of this app."""
        return generate_latest(self.registry)

    def shutdown(self) -> None:
        """Flush and stop exporters (app shutdown)."""
        for provider in (self.tracer_provider, self.meter_provider):
            stop = getattr(provider, "shutdown", None)
            if stop is not None:
                stop()


def _views() -> list[View]:
    """Bucket boundaries from semconv's advice, so histograms are comparable across services."""
    durations = ExplicitBucketHistogramAggregation(semconv.DURATION_BUCKETS)
    return [
        View(instrument_name=semconv.METRIC_OPERATION_DURATION, aggregation=durations),
        View(instrument_name=semconv.METRIC_TIME_TO_FIRST_CHUNK, aggregation=durations),
        View(instrument_name=semconv.METRIC_HTTP_SERVER_DURATION, aggregation=durations),
        View(
            instrument_name=semconv.METRIC_TOKEN_USAGE,
            aggregation=ExplicitBucketHistogramAggregation(semconv.TOKEN_BUCKETS),
        ),
        View(
            instrument_name=semconv.METRIC_QUEUE_WAIT,
            aggregation=ExplicitBucketHistogramAggregation(semconv.QUEUE_WAIT_BUCKETS),
        ),
    ]


def build_telemetry(
    settings: Settings,
    *,
    span_exporters: Sequence[SpanExporter] = (),
    metric_readers: Sequence[MetricReader] = (),
) -> Telemetry:
    """Providers for one app.

    Spans are recorded when ``settings.otel_enabled`` (exported over OTLP/HTTP, configured by the
    standard ``OTEL_EXPORTER_OTLP_*`` variables) or when ``span_exporters`` are given (tests use the
    SDK's in-memory exporter, synchronously). Metrics are always kept for ``/metrics``; with
    ``otel_enabled`` they are also pushed over OTLP.
    """
    resource = Resource.create(
        {
            SERVICE_NAME: os.environ.get("OTEL_SERVICE_NAME") or DEFAULT_SERVICE_NAME,
            SERVICE_VERSION: _version(),
            "service.namespace": "kiverbund",
        }
    )
    registry = CollectorRegistry(auto_describe=True)
    readers: list[MetricReader] = [
        # Scope labels (otel_scope_name...) would add nothing but width: everything comes from one scope.
        PrometheusMetricReader(registry=registry, scope_info_enabled=False),
        *metric_readers,
    ]
    tracing = settings.otel_enabled or bool(span_exporters)
    tracer_provider: trace.TracerProvider = NoOpTracerProvider()
    if tracing:
        sdk_tracer_provider = TracerProvider(resource=resource)
        for exporter in span_exporters:
            sdk_tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
        if settings.otel_enabled:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            sdk_tracer_provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        tracer_provider = sdk_tracer_provider
    if settings.otel_enabled:
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter

        readers.append(PeriodicExportingMetricReader(OTLPMetricExporter()))
    meter_provider = SdkMeterProvider(resource=resource, metric_readers=readers, views=_views())
    return Telemetry(tracer_provider=tracer_provider, meter_provider=meter_provider, registry=registry, tracing=tracing)


def no_op_meter_provider() -> MeterProvider:
    """A meter provider that records nothing (for library instrumentation whose metrics the hub replaces)."""
    return NoOpMeterProvider()


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("kiverbund")
    except PackageNotFoundError:
        return "0+unknown"
