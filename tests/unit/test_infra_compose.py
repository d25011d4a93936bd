"""The single-host setup in ``infra/compose``, checked by the real ``docker compose config`` (Compose v2,
which scripts/test.sh installs into ``.tools/`` through scripts/bootstrap.sh; no Docker engine is
needed), and the hub image's Dockerfile, which cannot be built here, read as text.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
COMPOSE_DIR = REPO / "infra" / "compose"
COMPOSE_FILE = COMPOSE_DIR / "docker-compose.yml"
ENV_EXAMPLE = COMPOSE_DIR / ".env.example"
TOOLS = Path(os.environ.get("KIVERBUND_TOOLS_DIR", REPO / ".tools"))
DOCKERFILE = REPO / "infra" / "docker" / "Dockerfile"

EXPECTED_SERVICES = {
    "postgres",
    "redis",
    "vllm",
    "migrate",
    "hub",
    "proxy",
    "otel-collector",
    "jaeger",
    "prometheus",
    "grafana",
}


def compose_command() -> tuple[list[str], dict[str, str]]:
    """``docker compose`` with the plugin from .tools (or one installed system-wide) and a clean environment.

    The environment holds only PATH and HOME: variables of the developer's shell must not fill in what
    the .env file is meant to provide.
    """
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/tmp")}
    plugin = TOOLS / "docker" / "cli-plugins" / "docker-compose"
    docker = shutil.which("docker")
    if plugin.is_file():
        if docker:
            return [docker, "compose"], {**env, "DOCKER_CONFIG": str(plugin.parent.parent)}
        return [str(plugin)], env
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True, env=env).returncode == 0:
        return [docker, "compose"], env
    pytest.fail(
        "Docker Compose v2 is missing: run `bash scripts/test.sh` (it installs it into .tools/ through "
        "ensure_docker_compose in scripts/bootstrap.sh), or `source scripts/bootstrap.sh && ensure_docker_compose`"
    )


def run_compose(*args: str, env_file: Path | None = ENV_EXAMPLE) -> subprocess.CompletedProcess[str]:
    command, env = compose_command()
    files = ["-f", str(COMPOSE_FILE)] + (["--env-file", str(env_file)] if env_file else [])
    return subprocess.run([*command, *files, *args], capture_output=True, text=True, env=env, timeout=60, check=False)


@pytest.fixture(scope="module")
def resolved() -> dict[str, Any]:
    """``docker compose config --format json`` with the example .env file."""
    result = run_compose("config", "--format", "json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _env_example() -> dict[str, str]:
    lines = ENV_EXAMPLE.read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


def test_it_is_compose_v2() -> None:
    command, env = compose_command()
    result = subprocess.run([*command, "version", "--short"], capture_output=True, text=True, env=env, check=True)
    assert int(result.stdout.strip().lstrip("v").split(".")[0]) >= 2


def test_docker_compose_config_accepts_the_file(resolved: dict[str, Any]) -> None:
    assert resolved["name"] == "kiverbund"
    assert set(resolved["services"]) == EXPECTED_SERVICES
    assert set(resolved["volumes"]) == {"postgres-data", "redis-data", "prometheus-data", "grafana-data"}


def test_the_secrets_must_come_from_the_env_file(tmp_path: Path) -> None:
    empty = tmp_path / "empty.env"
    empty.write_text("")
    result = run_compose("config", "--quiet", env_file=empty)
    assert result.returncode != 0
    assert "set POSTGRES_PASSWORD in infra/compose/.env" in result.stderr or "PASSWORD" in result.stderr


def test_the_env_example_names_every_variable_the_file_uses() -> None:
    used = set(re.findall(r"\$\{([A-Z0-9_]+)", COMPOSE_FILE.read_text()))
    example = _env_example()
    assert used <= set(example), f"add to .env.example: {sorted(used - set(example))}"
    assert all(v.startswith("CHANGE-ME") for k, v in example.items() if "PASSWORD" in k or k.endswith("_KEY"))


def test_hub_replicas_wait_for_migration_database_and_counters(resolved: dict[str, Any]) -> None:
    services = resolved["services"]
    hub = services["hub"]
    assert hub["deploy"]["replicas"] == 2
    assert hub["build"]["context"] == str(REPO)
    assert hub["build"]["dockerfile"] == "infra/docker/Dockerfile"
    assert hub["command"] == ["serve"]
    assert services["migrate"]["command"] == ["migrate"]
    assert services["migrate"]["image"] == hub["image"]
    conditions = {name: dep["condition"] for name, dep in hub["depends_on"].items()}
    assert conditions["migrate"] == "service_completed_successfully"
    assert conditions["postgres"] == "service_healthy"
    assert conditions["redis"] == "service_healthy"
    env = hub["environment"]
    assert env["KIVERBUND_DATABASE_URL"] == (
        f"postgresql+asyncpg://kiverbund:{_env_example()['POSTGRES_PASSWORD']}@postgres:5432/kiverbund"
    )
    assert env["KIVERBUND_DATABASE_URL"] == services["migrate"]["environment"]["KIVERBUND_DATABASE_URL"]
    assert env["KIVERBUND_QUOTA_STORE"] == "redis"
    assert env["KIVERBUND_REDIS_URL"] == f"redis://:{_env_example()['REDIS_PASSWORD']}@redis:6379/0"
    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://otel-collector:4318"
    assert env["KIVERBUND_OTEL_ENABLED"] == "true"
    assert "/health/live" in " ".join(hub["healthcheck"]["test"])
    # Replicas cannot share a host port: only the proxy publishes the hub.
    assert "ports" not in hub
    assert [p["target"] for p in services["proxy"]["ports"]] == [8080]
    assert services["proxy"]["depends_on"]["hub"]["condition"] == "service_healthy"


def test_every_hub_setting_in_the_file_exists(resolved: dict[str, Any]) -> None:
    from hub.settings import ENV_PREFIX, Settings

    fields = {f"{ENV_PREFIX}{name.upper()}" for name in Settings.__dataclass_fields__}
    for name in ("hub", "migrate"):
        unknown = {k for k in resolved["services"][name]["environment"] if k.startswith(ENV_PREFIX)} - fields
        assert not unknown, f"{name}: not settings of hub/settings.py: {sorted(unknown)}"


def test_healthchecks_and_named_volumes(resolved: dict[str, Any]) -> None:
    services = resolved["services"]
    for name in ("postgres", "redis", "vllm", "hub", "prometheus"):
        assert services[name]["healthcheck"]["test"], f"{name} has no healthcheck"
    for name, volume in (("postgres", "postgres-data"), ("redis", "redis-data"), ("prometheus", "prometheus-data")):
        assert volume in {v["source"] for v in services[name]["volumes"] if v["type"] == "volume"}


def test_vllm_serves_one_model_offline_on_a_gpu(resolved: dict[str, Any]) -> None:
    vllm = resolved["services"]["vllm"]
    assert vllm["image"].startswith("vllm/vllm-openai:v")
    command = vllm["command"]
    assert command.count("--model") == 1 and command.count("--served-model-name") == 1
    example = _env_example()
    assert command[command.index("--model") + 1] == f"/models/{example['VLLM_MODEL_DIR']}"
    assert command[command.index("--served-model-name") + 1] == example["VLLM_SERVED_MODEL_NAME"]
    assert command[command.index("--tensor-parallel-size") + 1] == example["VLLM_TENSOR_PARALLEL_SIZE"]
    (device,) = vllm["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and device["capabilities"] == ["gpu"]
    assert device["count"] == int(example["VLLM_GPU_COUNT"])
    assert vllm["environment"]["HF_HUB_OFFLINE"] == "1"
    (models,) = [v for v in vllm["volumes"] if v["target"] == "/models"]
    assert models["read_only"] is True and models["source"] == example["MODELS_DIR"]
    assert "ports" not in vllm, "only the hub may reach the engine"


def test_bind_mounts_point_at_files_in_the_repository(resolved: dict[str, Any]) -> None:
    for name, service in resolved["services"].items():
        for volume in service.get("volumes", []):
            if volume["type"] == "bind" and volume["target"] != "/models":
                assert Path(volume["source"]).exists(), f"{name}: {volume['source']} does not exist"
                assert Path(volume["source"]).is_relative_to(REPO)


def test_monitoring_ports_are_published_on_loopback_only(resolved: dict[str, Any]) -> None:
    for name in ("grafana", "prometheus", "jaeger"):
        for port in resolved["services"][name]["ports"]:
            assert port["host_ip"] == "127.0.0.1", f"{name} published beyond this host"


def test_the_dockerfile_builds_a_non_root_image_of_the_whole_project() -> None:
    text = DOCKERFILE.read_text()
    stages = re.findall(r"^FROM\s+(\S+)(?:\s+AS\s+(\S+))?", text, flags=re.MULTILINE | re.IGNORECASE)
    assert len(stages) >= 3, "multi-stage: uv, build, runtime"
    assert stages[-1][1] == "runtime"
    assert re.search(r"^USER\s+10001", text, flags=re.MULTILINE)
    assert 'ENTRYPOINT ["kiverbund"]' in text and 'CMD ["serve"]' in text
    assert "uv sync --frozen" in text and "--extra postgres" in text and "--extra redis" in text
    assert "/health/live" in text
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    copied = set(re.findall(r"^COPY\s+(\w+)\s+\./\1$", text, flags=re.MULTILINE))
    assert copied == set(pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"])
    assert {"postgres", "redis"} <= set(pyproject["project"]["optional-dependencies"])
    uv_pin = re.search(r"ghcr\.io/astral-sh/uv:(\d+\.\d+\.\d+)", text)
    assert uv_pin, "pin the uv image"
    ignore = (DOCKERFILE.parent / "Dockerfile.dockerignore").read_text().split()
    assert all(f"!{package}" in ignore for package in copied)
