"""Real vLLM CPU engines for integration tests, started through ``infra/local-vllm/local-vllm``."""

from __future__ import annotations

import os
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.support.ports import free_port

LOCAL_VLLM = Path(__file__).resolve().parents[2] / "infra" / "local-vllm" / "local-vllm"
SERVED_NAMES = {"tiny": "tiny-llama", "smollm2": "SmolLM2-135M-Instruct", "minilm": "all-MiniLM-L6-v2"}


@dataclass(frozen=True)
class Engine:
    """One running vLLM server."""

    model: str
    served_name: str
    port: int

    @property
    def base_url(self) -> str:
        """Root URL (without /v1)."""
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self, lines: int = 60) -> str:
        """The end of this engine's log (``local-vllm`` keeps one per port), for failure messages."""
        cache = Path(os.environ.get("KIVERBUND_CACHE_DIR", Path.home() / ".cache" / "kiverbund"))
        path = cache / "local-vllm" / "run" / f"{self.port}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    def counter(self, name: str, **labels: str) -> float:
        """Sum of a Prometheus sample of this engine, e.g. ``vllm:generation_tokens_total``."""
        text = httpx.get(f"{self.base_url}/metrics", timeout=10).text
        total = 0.0
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                    total += sample.value
        return total


def start_engines(
    models: list[str],
    wait_s: int = 900,
    *,
    extra_args: dict[str, list[str]] | None = None,
    extra_env: dict[str, dict[str, str]] | None = None,
) -> dict[str, Engine]:
    """Start the given models concurrently (each ``local-vllm start`` waits until its /health is 200).

    ``extra_args`` / ``extra_env`` per model go to that engine's ``api_server`` (e.g. tracing flags).
    """
    engines = {m: Engine(model=m, served_name=SERVED_NAMES[m], port=free_port()) for m in models}

    def start(engine: Engine) -> None:
        extra = (extra_args or {}).get(engine.model, [])
        subprocess.run(
            [str(LOCAL_VLLM), "start", engine.model, "--port", str(engine.port), "--wait", str(wait_s)]
            + (["--", *extra] if extra else []),
            check=True,
            env={**os.environ, **(extra_env or {}).get(engine.model, {})},
        )

    with ThreadPoolExecutor(max_workers=len(engines)) as pool:
        futures = [pool.submit(start, e) for e in engines.values()]
        errors = [f.exception() for f in futures if f.exception() is not None]
    if errors:
        stop_engines(engines)
        raise RuntimeError(f"vLLM engines failed to start: {errors}")
    return engines


def stop_engines(engines: dict[str, Engine]) -> None:
    """Stop engines started by :func:`start_engines`."""
    for engine in engines.values():
        subprocess.run([str(LOCAL_VLLM), "stop", "--port", str(engine.port)], check=False)
