"""The observability files in ``infra/``: the OpenTelemetry Collector config (no collector binary here, so
its structure is checked), the Grafana dashboard (every metric and label in its PromQL must be one the
hub or vLLM really exposes) and the Prometheus scrape config (its targets are compose services).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from hub.telemetry import semconv

REPO = Path(__file__).resolve().parents[2]
INFRA = REPO / "infra"
COLLECTOR = INFRA / "otel-collector" / "config.yaml"
DASHBOARD = INFRA / "grafana" / "dashboards" / "kiverbund-gateway.json"
PROMETHEUS = INFRA / "prometheus" / "prometheus.yml"
COMPOSE = INFRA / "compose" / "docker-compose.yml"
GRAFANA_PROVISIONING = INFRA / "grafana" / "provisioning"

CONTENT_ATTRIBUTES = ("gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.system_instructions")

# --- the metrics a dashboard may use -------------------------------------------------------------

_GENAI = {
    semconv.GEN_AI_OPERATION_NAME,
    semconv.GEN_AI_PROVIDER_NAME,
    semconv.GEN_AI_REQUEST_MODEL,
    semconv.GEN_AI_RESPONSE_MODEL,
}
HUB_METRIC_ATTRIBUTES: dict[str, set[str]] = {
    semconv.METRIC_OPERATION_DURATION: {*_GENAI, semconv.SERVER_ADDRESS, semconv.SERVER_PORT, semconv.ERROR_TYPE},
    # gateway/metrics.py records token usage without server.address / server.port.
    semconv.METRIC_TOKEN_USAGE: {*_GENAI, semconv.GEN_AI_TOKEN_TYPE, semconv.HUB_TENANT},
    semconv.METRIC_TIME_TO_FIRST_CHUNK: _GENAI,
    semconv.METRIC_REQUESTS: {
        semconv.HUB_TENANT,
        semconv.GEN_AI_REQUEST_MODEL,
        semconv.GEN_AI_OPERATION_NAME,
        semconv.HUB_OUTCOME,
        semconv.HTTP_RESPONSE_STATUS_CODE,
    },
    semconv.METRIC_QUEUE_WAIT: {semconv.GEN_AI_REQUEST_MODEL},
    semconv.METRIC_QUEUE_WAITING: {semconv.HUB_UPSTREAM_MODEL},
    semconv.METRIC_REJECTIONS: {semconv.HUB_REASON, semconv.HUB_TENANT},
    semconv.METRIC_BACKEND_UP: {semconv.HUB_BACKEND},
    semconv.METRIC_BACKEND_IN_FLIGHT: {semconv.HUB_BACKEND},
    semconv.METRIC_BACKEND_RUNNING: {semconv.HUB_BACKEND},
    semconv.METRIC_BACKEND_WAITING: {semconv.HUB_BACKEND},
    semconv.METRIC_LEDGER_PENDING: set(),
    semconv.METRIC_HTTP_SERVER_DURATION: {
        semconv.HTTP_REQUEST_METHOD,
        semconv.HTTP_ROUTE,
        semconv.HTTP_RESPONSE_STATUS_CODE,
    },
}
"""Which attributes each instrument records (the label table of the issue)."""
HUB_HISTOGRAMS = {
    semconv.METRIC_OPERATION_DURATION,
    semconv.METRIC_TOKEN_USAGE,
    semconv.METRIC_TIME_TO_FIRST_CHUNK,
    semconv.METRIC_QUEUE_WAIT,
    semconv.METRIC_HTTP_SERVER_DURATION,
}
VLLM_LABELS = {"model_name", "engine"}
VLLM_METRICS = {
    "vllm:num_requests_running": False,
    "vllm:num_requests_waiting": False,
    "vllm:kv_cache_usage_perc": False,
    "vllm:prompt_tokens_total": False,
    "vllm:generation_tokens_total": False,
    "vllm:time_to_first_token_seconds": True,
    "vllm:inter_token_latency_seconds": True,
    "vllm:e2e_request_latency_seconds": True,
}
"""vLLM's own metrics the dashboard may read (name: is a histogram)."""
TARGET_LABELS = {"instance", "job"}
"""Added by Prometheus to every scraped series."""


def exposed_series() -> dict[str, set[str]]:
    """Every series name a dashboard may query, with the labels it carries."""
    series: dict[str, set[str]] = {}
    for instrument, attributes in HUB_METRIC_ATTRIBUTES.items():
        name = semconv.PROMETHEUS_METRICS[instrument]
        labels = {semconv.PROMETHEUS_LABELS[a] for a in attributes} | TARGET_LABELS
        if instrument in HUB_HISTOGRAMS:
            series[f"{name}_bucket"] = labels | {"le"}
            series[f"{name}_sum"] = labels
            series[f"{name}_count"] = labels
        else:
            series[name] = labels
    for name, histogram in VLLM_METRICS.items():
        labels = VLLM_LABELS | TARGET_LABELS
        if histogram:
            series[f"{name}_bucket"] = labels | {"le"}
            series[f"{name}_sum"] = labels
            series[f"{name}_count"] = labels
        else:
            series[name] = labels
    return series


# --- a small PromQL reader (enough for dashboards: selectors, ranges, aggregations) ------------------

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_RANGE = re.compile(r"\[[^\]]*\]")
_SELECTOR = re.compile(r"([A-Za-z_:][\w:]*)?\s*\{([^}]*)\}")
_MATCHER = re.compile(r"([A-Za-z_]\w*)\s*(?:=~|!~|!=|=)")
_GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
_IDENT = re.compile(r"(?<![\w:$.])([A-Za-z_:][\w:]*)(\s*\()?")
_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset", "and", "or", "unless"}


def parse_promql(expr: str) -> tuple[dict[str, set[str]], set[str]]:
    """``({metric: labels matched in its selector}, labels used in by/on/without clauses)``."""
    text = _RANGE.sub("", _STRING.sub('""', expr))
    metrics: dict[str, set[str]] = {}
    for name, body in _SELECTOR.findall(text):
        assert name, f"a selector without a metric name in {expr!r}"
        metrics.setdefault(name, set()).update(_MATCHER.findall(body))
    grouping = {label.strip() for _, labels in _GROUPING.findall(text) for label in labels.split(",") if label.strip()}
    rest = _SELECTOR.sub(lambda m: f" {m.group(1)} ", _GROUPING.sub(" ", text))
    for name, call in _IDENT.findall(rest):
        if not call and name not in _KEYWORDS:
            metrics.setdefault(name, set())
    return metrics, grouping


def test_the_promql_reader() -> None:
    metrics, grouping = parse_promql(
        'histogram_quantile(0.95, sum by (le, a) (rate(m_bucket{b=~"$x", c!="y{z}"}[$__rate_interval]))) / on(a) n'
    )
    assert metrics == {"m_bucket": {"b", "c"}, "n": set()}
    assert grouping == {"le", "a"}
    assert parse_promql("sum(vllm:num_requests_running) by (model_name)") == (
        {"vllm:num_requests_running": set()},
        {"model_name"},
    )


# --- the collector -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def collector() -> dict[str, Any]:
    return yaml.safe_load(COLLECTOR.read_text())


def test_every_pipeline_component_is_defined_and_every_defined_one_used(collector: dict[str, Any]) -> None:
    pipelines = collector["service"]["pipelines"]
    assert {"traces", "metrics"} <= set(pipelines)
    for section in ("receivers", "processors", "exporters"):
        used = {name for pipeline in pipelines.values() for name in pipeline.get(section, [])}
        defined = set(collector.get(section) or {})
        assert used <= defined, f"{section} used but not defined: {sorted(used - defined)}"
        assert defined <= used, f"{section} defined but unused: {sorted(defined - used)}"
    assert set(collector.get("extensions") or {}) == set(collector["service"].get("extensions", []))
    for name, pipeline in pipelines.items():
        kind = name.split("/")[0]
        assert kind in {"traces", "metrics", "logs"}
        assert pipeline["receivers"] and pipeline["exporters"], name
        assert pipeline["processors"][0] == "memory_limiter", f"{name}: memory_limiter first"
        assert pipeline["processors"][-1] == "batch", f"{name}: batch last"


def test_the_collector_listens_where_the_hub_sends(collector: dict[str, Any]) -> None:
    protocols = collector["receivers"]["otlp"]["protocols"]
    assert protocols["grpc"]["endpoint"] == "0.0.0.0:4317"
    assert protocols["http"]["endpoint"] == "0.0.0.0:4318"
    assert collector["extensions"]["health_check"]["endpoint"] == "0.0.0.0:13133"
    reader = collector["service"]["telemetry"]["metrics"]["readers"][0]["pull"]["exporter"]["prometheus"]
    assert reader["port"] == 8888
    compose = yaml.safe_load(COMPOSE.read_text())["services"]
    assert {"4317", "4318", "8888", "13133"} <= set(compose["otel-collector"]["expose"])
    hub_endpoint = compose["hub"]["environment"]["OTEL_EXPORTER_OTLP_ENDPOINT"]
    assert hub_endpoint == "http://otel-collector:4318", "the hub exports OTLP over HTTP (port 4318)"
    referenced = set(re.findall(r"\$\{env:([A-Z0-9_]+)\}", COLLECTOR.read_text()))
    assert referenced <= set(compose["otel-collector"]["environment"])


def test_the_collector_deletes_prompt_and_completion_text_in_every_pipeline(collector: dict[str, Any]) -> None:
    redactors = {
        name: config
        for name, config in collector["processors"].items()
        if name.split("/")[0] in {"transform", "attributes"}
    }
    assert redactors, "a redaction processor"
    for pipeline_name, pipeline in collector["service"]["pipelines"].items():
        in_pipeline = [name for name in pipeline["processors"] if name in redactors]
        assert in_pipeline, f"{pipeline_name} has no redaction processor"
        assert pipeline["processors"].index(in_pipeline[0]) < pipeline["processors"].index("batch")
    (name, transform) = next((n, c) for n, c in redactors.items() if n.startswith("transform"))
    contexts = {
        group["context"]: " ".join(group["statements"])
        for group in [*transform["trace_statements"], *transform.get("metric_statements", [])]
    }
    for context in ("span", "spanevent", "datapoint"):
        for attribute in CONTENT_ATTRIBUTES:
            assert f'delete_key(attributes, "{attribute}")' in contexts[context], f"{name}: {context} keeps {attribute}"


def test_the_collector_does_not_export_metrics_to_prometheus_twice(collector: dict[str, Any]) -> None:
    """Prometheus scrapes the hub's /metrics; a second copy through the collector would double every sum."""
    assert not any(name.split("/")[0] in {"prometheus", "prometheusremotewrite"} for name in collector["exporters"])
    assert collector["service"]["pipelines"]["metrics"]["exporters"] == ["debug"]


# --- the dashboard -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text())


def _panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    panels = []
    for panel in dashboard["panels"]:
        panels.append(panel)
        panels.extend(panel.get("panels", []))
    return panels


def _expressions(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    return [(p["title"], t["expr"]) for p in _panels(dashboard) for t in p.get("targets", [])]


def test_the_dashboard_is_provisionable(dashboard: dict[str, Any]) -> None:
    assert dashboard["uid"] == "kiverbund-gateway"
    assert dashboard["schemaVersion"] >= 36
    ids = [p["id"] for p in _panels(dashboard)]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    for panel in _panels(dashboard):
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}"
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
    cells = [
        (x, y)
        for p in _panels(dashboard)
        for x in range(p["gridPos"]["x"], p["gridPos"]["x"] + p["gridPos"]["w"])
        for y in range(p["gridPos"]["y"], p["gridPos"]["y"] + p["gridPos"]["h"])
    ]
    assert len(cells) == len(set(cells)), "panels overlap"


def test_template_variables_read_existing_labels(dashboard: dict[str, Any]) -> None:
    series = exposed_series()
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert {"tenant", "model"} <= set(variables)
    for variable in variables.values():
        if variable["type"] != "query":
            continue
        assert variable["datasource"]["uid"] == "${datasource}"
        match = re.fullmatch(r"label_values\(([\w:]+),\s*(\w+)\)", variable["definition"])
        assert match, variable["definition"]
        metric, label = match.groups()
        assert metric in series and label in series[metric], variable["definition"]
        assert variable["query"]["query"] == variable["definition"]
    assert variables["tenant"]["definition"].endswith(", kiverbund_tenant)")
    assert variables["model"]["definition"].endswith(", gen_ai_request_model)")


def test_every_metric_and_label_in_the_dashboard_exists(dashboard: dict[str, Any]) -> None:
    series = exposed_series()
    problems = []
    for title, expr in _expressions(dashboard):
        metrics, grouping = parse_promql(expr)
        assert metrics, f"{title}: no metric in {expr!r}"
        for metric, labels in metrics.items():
            if metric not in series:
                problems.append(f"{title}: unknown metric {metric}")
                continue
            problems += [f"{title}: {metric} has no label {label}" for label in labels - series[metric]]
            problems += [f"{title}: {metric} has no label {label} (by/on)" for label in grouping - series[metric]]
        for variable in re.findall(r"\$(\w+)", expr):
            assert variable.startswith("__") or variable in {v["name"] for v in dashboard["templating"]["list"]}, (
                f"{title}: unknown variable ${variable}"
            )
    assert not problems, "\n".join(problems)


def test_every_hub_metric_has_a_panel(dashboard: dict[str, Any]) -> None:
    used = {metric for _, expr in _expressions(dashboard) for metric in parse_promql(expr)[0]}
    for instrument, name in semconv.PROMETHEUS_METRICS.items():
        if instrument in HUB_METRIC_ATTRIBUTES:
            assert any(m == name or m.startswith(f"{name}_") for m in used), f"no panel shows {name}"
    assert set(HUB_METRIC_ATTRIBUTES) == set(semconv.PROMETHEUS_METRICS), (
        "hub/telemetry/semconv.py has a new or removed metric: update HUB_METRIC_ATTRIBUTES and the dashboard"
    )


def test_the_required_panels_are_there(dashboard: dict[str, Any]) -> None:
    titles = {p["title"] for p in _panels(dashboard)}
    for title in (
        "Requests/s by tenant and outcome",
        "Error ratio",
        "Tokens/s by tenant and type",
        "Operation duration p50 / p95 by model",
        "Time to first chunk p95 by model",
        "Queue wait p95 by model",
        "Queue length by upstream model",
        "Admission rejections by reason",
        "Backend up",
        "Backend in flight",
        "Engine running / waiting",
        "HTTP p95 by route",
        "Ledger pending",
    ):
        assert title in titles


# --- Prometheus and Grafana provisioning ---------------------------------------------------------


def test_prometheus_scrapes_compose_services_on_their_ports() -> None:
    compose = yaml.safe_load(COMPOSE.read_text())["services"]
    config = yaml.safe_load(PROMETHEUS.read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert {"kiverbund-hub", "vllm"} <= set(jobs)
    targets: list[tuple[str, str]] = []
    for job in jobs.values():
        for static in job.get("static_configs", []):
            targets += [tuple(t.rsplit(":", 1)) for t in static["targets"]]
        for dns in job.get("dns_sd_configs", []):
            assert dns["type"] == "A"
            targets += [(name, str(dns["port"])) for name in dns["names"]]
    for host, port in targets:
        if host == "localhost":
            continue
        assert host in compose, f"{host} is not a compose service"
        assert port in compose[host].get("expose", []), f"{host} does not expose {port}"
    assert jobs["kiverbund-hub"]["metrics_path"] == "/metrics"
    assert jobs["kiverbund-hub"]["dns_sd_configs"][0]["names"] == ["hub"], "every replica, not one through a proxy"


def test_grafana_provisioning_matches_the_compose_mounts() -> None:
    compose = yaml.safe_load(COMPOSE.read_text())["services"]
    mounts = {v.split(":")[1]: v.split(":")[0] for v in compose["grafana"]["volumes"] if v.startswith("../")}
    (datasources_file,) = (GRAFANA_PROVISIONING / "datasources").glob("*.yml")
    datasources = {d["type"]: d for d in yaml.safe_load(datasources_file.read_text())["datasources"]}
    host = re.match(r"http://([\w-]+):(\d+)", datasources["prometheus"]["url"])
    assert host and host.group(1) in compose and host.group(2) in compose[host.group(1)]["expose"]
    (providers_file,) = (GRAFANA_PROVISIONING / "dashboards").glob("*.yml")
    (provider,) = yaml.safe_load(providers_file.read_text())["providers"]
    assert mounts[provider["options"]["path"]] == "../grafana/dashboards"
    assert mounts["/etc/grafana/provisioning"] == "../grafana/provisioning"
