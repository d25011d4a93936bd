"""Environment-backed settings for the hub and its gateway.

Every setting can be given as an environment variable named ``KIVERBUND_<FIELD>`` (upper case).
The defaults are the embedded single-machine setup: SQLite in ``./var`` and one process.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ENV_PREFIX = "KIVERBUND_"


def _default_database_url() -> str:
    data_dir = Path(os.environ.get(f"{ENV_PREFIX}DATA_DIR", "var")).resolve()
    return f"sqlite+aiosqlite:///{data_dir / 'kiverbund.db'}"


@dataclass(frozen=True, slots=True)
class Settings:
    """All runtime configuration of one hub process."""

    database_url: str = field(default_factory=_default_database_url)
    """SQLAlchemy async URL: ``sqlite+aiosqlite:///...`` (default) or ``postgresql+asyncpg://...``."""
    data_dir: str = "var"
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 1
    log_level: str = "info"
    debug: bool = False

    max_body_bytes: int = 8 * 1024 * 1024
    """Largest accepted request body; larger bodies get 413 in OpenAI's error format."""
    key_cache_ttl_s: float = 5.0
    """How long a verified API key is trusted from memory before the database is asked again.
    Revocation on the same replica is immediate; other replicas see it within this time."""
    registry_refresh_s: float = 5.0
    """How often the model/backend registry is reloaded from the database (other replicas' changes)."""
    health_interval_s: float = 2.0
    """How often each backend's ``/health`` and ``/metrics`` are scraped."""
    health_timeout_s: float = 2.0
    upstream_connect_timeout_s: float = 5.0
    upstream_read_timeout_s: float = 600.0
    upstream_max_connections: int = 512
    ledger_flush_interval_s: float = 0.2
    ledger_batch_size: int = 500
    ledger_queue_limit: int = 100_000

    quota_store: str = "memory"
    """Where quota counters live: ``memory`` (one replica, the embedded default) or ``redis`` (shared by
    several replicas; needs ``redis_url``)."""
    redis_url: str = ""
    """E.g. ``redis://127.0.0.1:6379/0``."""
    quota_reservation_ttl_s: float = 30.0
    """A replica renews its open reservations; if it dies, they come free after at most this long."""
    scheduler: str = "fair"
    """Order of requests waiting for backend capacity: ``fair`` (weighted Virtual Token Counter across
    tenants) or ``fcfs`` (first come, first served; for comparison)."""
    fair_burst_slots: int = 1
    """Requests a backend may take beyond its ``max_concurrency`` for tenants with nothing running
    there, so that a light tenant need not wait for a flood's request to end (0: never)."""
    queue_limit_per_tenant: int = 100
    """Requests one tenant may have waiting per model; more get 429 ``queue_full``."""
    queue_timeout_s: float = 60.0
    """Longest wait for backend capacity; then 429 ``queue_timeout``."""

    @classmethod
    def from_env(cls, **overrides: Any) -> Settings:
        """Build settings from ``KIVERBUND_*`` environment variables, then apply explicit overrides."""
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            raw = os.environ.get(ENV_PREFIX + f.name.upper())
            if raw is None:
                continue
            values[f.name] = _coerce(raw, f.type)
        values.update(overrides)
        return cls(**values)

    def __post_init__(self) -> None:
        if self.quota_store not in ("memory", "redis"):
            raise ValueError("KIVERBUND_QUOTA_STORE must be 'memory' or 'redis'")
        if self.quota_store == "redis" and not self.redis_url:
            raise ValueError("KIVERBUND_QUOTA_STORE=redis needs KIVERBUND_REDIS_URL")
        if self.scheduler not in ("fair", "fcfs"):
            raise ValueError("KIVERBUND_SCHEDULER must be 'fair' or 'fcfs'")

    @property
    def is_sqlite(self) -> bool:
        """True when the database is an embedded SQLite file."""
        return self.database_url.startswith("sqlite")


def _coerce(raw: str, type_name: Any) -> Any:
    name = type_name if isinstance(type_name, str) else getattr(type_name, "__name__", str(type_name))
    if name == "bool":
        return raw.strip().lower() in {"1", "true", "yes", "on"}
    if name == "int":
        return int(raw)
    if name == "float":
        return float(raw)
    return raw
