"""Session fixtures: real vLLM CPU engines and a real hub process wired to them."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.engines import Engine, start_engines, stop_engines
from tests.support.hub import HubProcess
from tests.support.otlp import OtlpReceiver
from tests.support.ports import free_port

MAX_BODY_BYTES = 256 * 1024
VLLM_SERVICE_NAME = "vllm-tiny"


@dataclass(frozen=True)
class Tenant:
    """A municipality tenant with a client key."""

    id: str
    name: str
    key: str
    key_id: str


@dataclass(frozen=True)
class Deployment:
    """The hub under test, its engines and its tenants."""

    hub: HubProcess
    engines: dict[str, Engine]
    schwerin: Tenant
    luebeck: Tenant


@pytest.fixture(scope="session")
def otlp_receiver() -> Iterator[OtlpReceiver]:
    """Where the tiny engine (and hubs under test that trace) send their spans over OTLP/HTTP."""
    receiver = OtlpReceiver().start()
    yield receiver
    receiver.stop()


@pytest.fixture(scope="session")
def engines(otlp_receiver: OtlpReceiver) -> Iterator[dict[str, Engine]]:
    """tiny-llama (wire protocol), SmolLM2 (a real model) and MiniLM (embeddings), started in parallel.

    tiny-llama traces its requests (vLLM's ``--otlp-traces-endpoint``), so tests can check that its
    spans join the gateway's trace.
    """
    started = start_engines(
        ["tiny", "minilm", "smollm2"],
        extra_args={"tiny": ["--otlp-traces-endpoint", f"{otlp_receiver.endpoint}/v1/traces"]},
        extra_env={
            "tiny": {
                "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf",
                "OTEL_SERVICE_NAME": VLLM_SERVICE_NAME,
                "OTEL_BSP_SCHEDULE_DELAY": "200",
            }
        },
    )
    yield started
    stop_engines(started)


@pytest.fixture(scope="session")
def deployment(engines: dict[str, Engine], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """A hub on SQLite with three backends, five model aliases and two municipalities."""
    hub = HubProcess(
        data_dir=Path(tmp_path_factory.mktemp("hub")),
        env_overrides={"KIVERBUND_MAX_BODY_BYTES": str(MAX_BODY_BYTES)},
    ).start()
    try:
        for engine in engines.values():
            # No served_models given: the hub asks the engine's /v1/models.
            response = hub.admin(
                "POST",
                "/api/admin/backends",
                json={
                    "name": f"local-{engine.model}",
                    "base_url": engine.base_url,
                    "location": "DE-MV-Schwerin",
                    "operator": "Landes-IT",
                },
            )
            assert response.status_code == 201, response.text
            assert response.json()["served_models"] == [engine.served_name]
        dead = hub.admin(
            "POST",
            "/api/admin/backends",
            json={
                "name": "down",
                "base_url": f"http://127.0.0.1:{free_port()}",
                "location": "DE-MV-Schwerin",
                "served_models": ["offline-model"],
            },
        )
        assert dead.status_code == 201, dead.text
        models = [
            {"name": "tiny", "upstream_name": "tiny-llama"},
            {"name": "smollm2", "upstream_name": "SmolLM2-135M-Instruct"},
            {"name": "minilm", "upstream_name": "all-MiniLM-L6-v2", "kind": "embedding"},
            {"name": "tiny-schwerin-only", "upstream_name": "tiny-llama", "visibility": "granted"},
            {"name": "offline", "upstream_name": "offline-model"},
        ]
        created = {}
        for body in models:
            response = hub.admin("POST", "/api/admin/models", json=body)
            assert response.status_code == 201, response.text
            created[body["name"]] = response.json()["id"]
        tenants = {}
        for name, ags in (("Schwerin", "13004000"), ("Lübeck", "01003000")):
            tenant = hub.create_tenant(name, ags)
            key = hub.issue_key(tenant["id"], label="integration tests")
            tenants[name] = Tenant(id=tenant["id"], name=name, key=key["secret"], key_id=key["id"])
        grant = hub.admin(
            "POST",
            f"/api/admin/models/{created['tiny-schwerin-only']}/grants",
            json={"tenant_id": tenants["Schwerin"].id},
        )
        assert grant.status_code == 204, grant.text
        for model in ("tiny", "smollm2", "minilm"):
            hub.wait_model_ready(tenants["Schwerin"].key, model)
        yield Deployment(hub=hub, engines=engines, schwerin=tenants["Schwerin"], luebeck=tenants["Lübeck"])
    finally:
        hub.stop()
