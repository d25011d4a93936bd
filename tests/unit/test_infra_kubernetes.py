"""The Kubernetes manifests in ``infra/kubernetes``: rendered like ``kubectl kustomize`` does and checked
against the Kubernetes 1.32 JSON schemas (``kubernetes-validate``, strict: unknown fields are errors),
then against what the hub and vLLM need (probes, replicas, GPUs, one model per engine, secrets only as
placeholders, Services and policies that select the pods they mean).

No cluster and no kustomize binary are needed: the kustomizations use only ``resources``, ``images``
and ``replicas``, which :func:`render` implements; anything else fails the test instead of being
silently ignored.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "infra" / "kubernetes"
BASE = K8S / "base"
OVERLAYS = sorted(p.parent for p in (K8S / "overlays").glob("*/kustomization.yaml"))
KUBERNETES_VERSION = "1.32"
SUPPORTED_KEYS = {"apiVersion", "kind", "resources", "images", "replicas"}
WORKLOAD_KINDS = {"Deployment", "StatefulSet", "Job", "DaemonSet"}

Doc = dict[str, Any]


def render(directory: Path) -> list[Doc]:
    """The documents ``kubectl kustomize directory`` prints (for the subset of kustomize used here)."""
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    unsupported = set(kustomization) - SUPPORTED_KEYS
    assert not unsupported, f"{directory}: render() does not implement {sorted(unsupported)}"
    docs: list[Doc] = []
    for entry in kustomization.get("resources", []):
        path = (directory / entry).resolve()
        if path.is_dir():
            docs.extend(render(path))
        else:
            docs.extend(doc for doc in yaml.safe_load_all(path.read_text()) if doc)
    for image in kustomization.get("images", []):
        for container in _containers(docs):
            name, tag = _split_image(container["image"])
            if name == image["name"]:
                new_name = image.get("newName", name)
                new_tag = image.get("newTag", tag)
                container["image"] = f"{new_name}@{image['digest']}" if "digest" in image else f"{new_name}:{new_tag}"
    for replicas in kustomization.get("replicas", []):
        targets = [d for d in docs if d["kind"] in {"Deployment", "StatefulSet"} and _name(d) == replicas["name"]]
        assert targets, f"{directory}: replicas names {replicas['name']!r}, which is not rendered"
        for doc in targets:
            doc["spec"]["replicas"] = replicas["count"]
    ids = [(d["kind"], d["metadata"].get("namespace"), _name(d)) for d in docs]
    assert len(ids) == len(set(ids)), f"{directory}: duplicate resources {sorted(i for i in ids if ids.count(i) > 1)}"
    return docs


def _name(doc: Doc) -> str:
    return doc["metadata"]["name"]


def _split_image(image: str) -> tuple[str, str]:
    name, _, tag = image.rpartition(":") if ":" in image.rsplit("/", 1)[-1] else (image, "", "")
    return name, tag


def _pod_spec(doc: Doc) -> Doc:
    return doc["spec"]["template"]["spec"]


def _containers(docs: list[Doc]) -> Iterator[Doc]:
    for doc in docs:
        if doc["kind"] in WORKLOAD_KINDS:
            spec = _pod_spec(doc)
            yield from spec.get("initContainers", [])
            yield from spec["containers"]


def _one(docs: list[Doc], kind: str, name: str) -> Doc:
    found = [d for d in docs if d["kind"] == kind and _name(d) == name]
    assert len(found) == 1, f"expected one {kind}/{name}, found {len(found)}"
    return found[0]


def _selects(selector: Doc, labels: dict[str, str]) -> bool:
    """Whether a label selector (matchLabels / matchExpressions, or a Service's plain map) matches."""
    match_labels = (
        selector.get("matchLabels", {}) if "matchLabels" in selector or "matchExpressions" in selector else selector
    )
    if any(labels.get(k) != v for k, v in match_labels.items()):
        return False
    for expression in selector.get("matchExpressions", []):
        value = labels.get(expression["key"])
        operator = expression["operator"]
        if (operator == "In" and value not in expression["values"]) or (
            operator == "NotIn" and value in expression["values"]
        ):
            return False
        if (operator == "Exists" and value is None) or (operator == "DoesNotExist" and value is not None):
            return False
    return True


def _arg(args: list[str], flag: str) -> list[str]:
    """The values given for ``flag`` (each occurrence's next argument)."""
    return [args[i + 1] for i, a in enumerate(args) if a == flag]


@pytest.fixture(scope="module")
def base() -> list[Doc]:
    return render(BASE)


def test_kustomization_lists_exactly_the_manifests_present() -> None:
    listed = yaml.safe_load((BASE / "kustomization.yaml").read_text())["resources"]
    present = sorted(p.name for p in BASE.glob("*.y*ml") if p.name != "kustomization.yaml")
    assert sorted(listed) == present, "add new manifests to base/kustomization.yaml (and remove stale entries)"
    assert len(listed) == len(set(listed))
    assert OVERLAYS, "expected at least one overlay"
    for overlay in OVERLAYS:
        for entry in yaml.safe_load((overlay / "kustomization.yaml").read_text())["resources"]:
            assert (overlay / entry).exists(), f"{overlay.name}: {entry} does not exist"


@pytest.mark.parametrize("directory", [BASE, *OVERLAYS], ids=lambda p: str(p.relative_to(K8S)))
def test_every_document_validates_against_the_kubernetes_schemas(directory: Path) -> None:
    docs = render(directory)
    assert docs
    failures = []
    for doc in docs:
        where = f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
        try:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            failures.append(f"{where}: {'.'.join(map(str, exc.path))}: {exc.message}")
        except kubernetes_validate.SchemaNotFoundError as exc:
            failures.append(f"{where}: {exc.message}")
    assert not failures, "\n".join(failures)


def test_the_expected_resources_are_rendered(base: list[Doc]) -> None:
    kinds = {(d["kind"], _name(d)) for d in base}
    expected = {
        ("Namespace", "kiverbund"),
        ("ConfigMap", "kiverbund-hub-config"),
        ("Secret", "kiverbund-secrets"),
        ("Deployment", "kiverbund-hub"),
        ("Service", "kiverbund-hub"),
        ("HorizontalPodAutoscaler", "kiverbund-hub"),
        ("PodDisruptionBudget", "kiverbund-hub"),
        ("Job", "kiverbund-migrate"),
        ("StatefulSet", "postgres"),
        ("Service", "postgres"),
        ("Deployment", "redis"),
        ("Service", "redis"),
        ("Deployment", "vllm-chat"),
        ("Service", "vllm-chat"),
        ("Deployment", "vllm-embed"),
        ("Service", "vllm-embed"),
        ("Deployment", "otel-collector"),
        ("ConfigMap", "otel-collector-config"),
        ("Service", "otel-collector"),
        ("NetworkPolicy", "vllm-from-hub-only"),
    }
    assert expected <= kinds, f"missing: {sorted(expected - kinds)}"
    namespaced = [d for d in base if d["kind"] != "Namespace"]
    assert {d["metadata"].get("namespace") for d in namespaced} == {"kiverbund"}


def test_hub_runs_several_probed_hardened_replicas(base: list[Doc]) -> None:
    hub = _one(base, "Deployment", "kiverbund-hub")
    assert hub["spec"]["replicas"] >= 2
    pod = _pod_spec(hub)
    (container,) = pod["containers"]
    assert container["args"] == ["serve"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/health/live"
    assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready"
    assert container["startupProbe"]["httpGet"]["path"] == "/health/live"
    port_names = {p["name"]: p["containerPort"] for p in container["ports"]}
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        assert container[probe]["httpGet"]["port"] in port_names
    assert port_names["http"] == 8080
    assert container["resources"]["requests"] and container["resources"]["limits"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert pod["topologySpreadConstraints"] and pod["affinity"]["podAntiAffinity"]
    annotations = hub["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/path"] == "/metrics"

    config = _one(base, "ConfigMap", "kiverbund-hub-config")["data"]
    env = {e["name"]: e for e in container["env"]}
    assert config["KIVERBUND_QUOTA_STORE"] == "redis", "several replicas must share quota counters"
    assert config["KIVERBUND_HOST"] == "0.0.0.0"  # noqa: S104 (the pod's address, reached through the Service)
    assert config["KIVERBUND_PORT"] == str(port_names["http"])
    assert env["KIVERBUND_DATABASE_URL"]["value"].startswith("postgresql+asyncpg://")
    assert "@postgres:5432/" in env["KIVERBUND_DATABASE_URL"]["value"]
    assert env["KIVERBUND_REDIS_URL"]["value"].startswith("redis://")
    assert "@redis:6379/" in env["KIVERBUND_REDIS_URL"]["value"]
    assert config["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://otel-collector:4318"
    assert config["OTEL_EXPORTER_OTLP_PROTOCOL"] == "http/protobuf"
    assert config["KIVERBUND_OTEL_ENABLED"] == "true"


def test_every_hub_setting_in_the_config_map_exists() -> None:
    """A misspelt KIVERBUND_ variable would be ignored without a word."""
    from hub.settings import ENV_PREFIX, Settings

    fields = {f"{ENV_PREFIX}{name.upper()}" for name in Settings.__dataclass_fields__}
    config = yaml.safe_load((BASE / "hub-config.yaml").read_text())["data"]
    docs = render(BASE)
    env_names = {e["name"] for c in _containers(docs) if "kiverbund/hub" in c["image"] for e in c.get("env", [])}
    unknown = {k for k in {*config, *env_names} if k.startswith(ENV_PREFIX)} - fields
    assert not unknown, f"not settings of hub/settings.py: {sorted(unknown)}"


def test_hub_autoscaling_disruption_budget_and_migration(base: list[Doc]) -> None:
    hub = _one(base, "Deployment", "kiverbund-hub")
    pod_labels = hub["spec"]["template"]["metadata"]["labels"]
    hpa = _one(base, "HorizontalPodAutoscaler", "kiverbund-hub")
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "kiverbund-hub"}
    assert hpa["spec"]["minReplicas"] >= 2
    pdb = _one(base, "PodDisruptionBudget", "kiverbund-hub")
    assert _selects(pdb["spec"]["selector"], pod_labels)
    assert pdb["spec"]["minAvailable"] < hpa["spec"]["minReplicas"], "the budget must allow draining a node"

    job = _one(base, "Job", "kiverbund-migrate")
    (migrate,) = _pod_spec(job)["containers"]
    (serve,) = _pod_spec(hub)["containers"]
    assert migrate["args"] == ["migrate"]
    assert migrate["image"] == serve["image"]
    job_labels = job["spec"]["template"]["metadata"]["labels"]
    for doc in base:
        if doc["kind"] in {"Service", "PodDisruptionBudget"} and _name(doc) == "kiverbund-hub":
            selector = doc["spec"]["selector"]
            assert not _selects(selector, job_labels), f"{doc['kind']} of the hub would select the migration pod"


def test_every_service_selects_pods_and_named_ports(base: list[Doc]) -> None:
    pods = [(d, d["spec"]["template"]["metadata"]["labels"]) for d in base if d["kind"] in WORKLOAD_KINDS]
    for service in (d for d in base if d["kind"] == "Service"):
        matched = [d for d, labels in pods if _selects(service["spec"]["selector"], labels)]
        assert len(matched) == 1, f"Service/{_name(service)} selects {[_name(d) for d in matched]}"
        ports = {p["name"] for c in _pod_spec(matched[0])["containers"] for p in c.get("ports", [])}
        for port in service["spec"]["ports"]:
            target = port.get("targetPort", port["port"])
            assert isinstance(target, int) or target in ports, f"Service/{_name(service)}: no port {target!r}"


def test_env_references_are_defined_before_use(base: list[Doc]) -> None:
    """Kubernetes expands $(VAR) only from variables defined earlier; a typo stays literal text."""
    for doc in (d for d in base if d["kind"] in WORKLOAD_KINDS):
        for container in _pod_spec(doc)["containers"]:
            defined: set[str] = set()
            for source in container.get("envFrom", []):
                if "configMapRef" in source:
                    config = _one(base, "ConfigMap", source["configMapRef"]["name"])
                    defined |= set(config["data"])
            for var in container.get("env", []):
                for ref in re.findall(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", var.get("value", "")):
                    assert ref in defined, f"{_name(doc)}: {var['name']} uses $({ref}) before it is defined"
                defined.add(var["name"])
            for arg in container.get("args", []):
                for ref in re.findall(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", arg):
                    assert ref in defined, f"{_name(doc)}: an argument uses undefined $({ref})"


def test_secret_references_exist_and_hold_placeholders_only(base: list[Doc]) -> None:
    secrets = {_name(d): d for d in base if d["kind"] == "Secret"}
    for secret in secrets.values():
        assert "data" not in secret, "use stringData placeholders, not encoded values"
        for key, value in secret["stringData"].items():
            assert value == "" or value.startswith("CHANGE-ME"), f"{_name(secret)}.{key} looks like a real secret"
    for container in _containers(base):
        for var in container.get("env", []):
            ref = var.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                assert ref["key"] in secrets[ref["name"]]["stringData"], f"{container['name']}: {ref}"


def test_vllm_deployments_serve_one_model_each_on_gpu_nodes(base: list[Doc]) -> None:
    engines = [
        d for d in base if d["kind"] == "Deployment" and "vllm/vllm-openai:" in _pod_spec(d)["containers"][0]["image"]
    ]
    assert {_name(d) for d in engines} == {"vllm-chat", "vllm-embed"}
    served_names = []
    tensor_parallel = {}
    for engine in engines:
        pod = _pod_spec(engine)
        (container,) = pod["containers"]
        args = container["args"]
        assert "latest" not in container["image"]
        models = _arg(args, "--model")
        served = _arg(args, "--served-model-name")
        assert len(models) == 1 and models[0].startswith("/models/"), f"{_name(engine)}: one model from the volume"
        assert len(served) == 1 and not served[0].startswith("--"), f"{_name(engine)}: one served model name"
        index = args.index("--served-model-name")
        assert index + 2 >= len(args) or args[index + 2].startswith("--"), "exactly one served name"
        served_names.append(served[0])
        gpus = int(container["resources"]["limits"]["nvidia.com/gpu"])
        assert gpus >= 1
        assert (
            container["resources"]["requests"]["nvidia.com/gpu"] == container["resources"]["limits"]["nvidia.com/gpu"]
        )
        (tp,) = _arg(args, "--tensor-parallel-size")
        assert int(tp) == gpus, f"{_name(engine)}: tensor parallelism must use exactly the pod's GPUs"
        tensor_parallel[_name(engine)] = int(tp)
        assert _arg(args, "--port") == ["8000"]
        assert pod["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
        assert any(t["key"] == "nvidia.com/gpu" for t in pod["tolerations"])
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert env["HF_HUB_OFFLINE"] == "1", "no downloads from the state data centre"
        mounts = {m["name"]: m for m in container["volumeMounts"]}
        assert mounts["models"]["readOnly"] is True and mounts["models"]["mountPath"] == "/models"
        assert any(v.get("emptyDir", {}).get("medium") == "Memory" for v in pod["volumes"]), "shared memory for NCCL"
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert container[probe]["httpGet"]["path"] == "/health"
        assert pod["securityContext"]["runAsNonRoot"] is True
        service = _one(base, "Service", _name(engine))
        assert _selects(service["spec"]["selector"], engine["spec"]["template"]["metadata"]["labels"])
        assert [p["port"] for p in service["spec"]["ports"]] == [8000]
    assert len(served_names) == len(set(served_names)), "one Deployment per model"
    assert max(tensor_parallel.values()) >= 2, "the example shows tensor parallelism"
    embed_args = _pod_spec(_one(base, "Deployment", "vllm-embed"))["containers"][0]["args"]
    assert _arg(embed_args, "--runner") == ["pooling"]


def test_network_policy_lets_only_the_hub_reach_the_engines(base: list[Doc]) -> None:
    hub_labels = _one(base, "Deployment", "kiverbund-hub")["spec"]["template"]["metadata"]["labels"]
    engine_labels = [
        d["spec"]["template"]["metadata"]["labels"]
        for d in base
        if _name(d) in {"vllm-chat", "vllm-embed"} and d["kind"] == "Deployment"
    ]
    other_pods = [
        d["spec"]["template"]["metadata"]["labels"]
        for d in base
        if d["kind"] in WORKLOAD_KINDS and _name(d) not in {"kiverbund-hub", "vllm-chat", "vllm-embed"}
    ]
    policies = [d for d in base if d["kind"] == "NetworkPolicy"]
    deny_all = [p for p in policies if p["spec"]["podSelector"] == {} and "ingress" not in p["spec"]]
    assert deny_all, "a default-deny ingress policy"
    for labels in engine_labels:
        applying = [p for p in policies if _selects(p["spec"]["podSelector"], labels) and p["spec"]["podSelector"]]
        assert applying
        for policy in applying:
            for rule in policy["spec"].get("ingress", []):
                assert [p["port"] for p in rule["ports"]] == [8000]
                for peer in rule["from"]:
                    if "podSelector" in peer:
                        assert _selects(peer["podSelector"], hub_labels)
                        assert not any(_selects(peer["podSelector"], other) for other in other_pods)
                    else:
                        assert peer["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": "monitoring"}
            assert policy["spec"].get("egress") == [] and "Egress" in policy["spec"]["policyTypes"]


def test_collector_config_map_is_a_copy_of_the_collector_config(base: list[Doc]) -> None:
    config_map = _one(base, "ConfigMap", "otel-collector-config")
    source = (REPO / "infra" / "otel-collector" / "config.yaml").read_text()
    assert config_map["data"]["config.yaml"] == source, "copy infra/otel-collector/config.yaml into the ConfigMap"
    collector = _pod_spec(_one(base, "Deployment", "otel-collector"))["containers"][0]
    env = {e["name"] for e in collector.get("env", [])}
    assert set(re.findall(r"\$\{env:([A-Z0-9_]+)\}", source)) <= env


def test_every_image_is_pinned(base: list[Doc]) -> None:
    for container in _containers(base):
        _, tag = _split_image(container["image"])
        assert tag and tag != "latest", f"{container['name']}: pin {container['image']}"


def test_the_production_overlay_changes_only_what_it_says() -> None:
    production = K8S / "overlays" / "production"
    docs = render(production)
    base = render(BASE)
    assert [(d["kind"], _name(d)) for d in docs] == [(d["kind"], _name(d)) for d in base]
    assert _one(docs, "Deployment", "vllm-chat")["spec"]["replicas"] == 2
    kustomization = yaml.safe_load((production / "kustomization.yaml").read_text())
    (image,) = kustomization["images"]
    hub_image = _pod_spec(_one(docs, "Deployment", "kiverbund-hub"))["containers"][0]["image"]
    assert hub_image == f"{image['name']}:{image['newTag']}"
