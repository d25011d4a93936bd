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
SAFE_ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EDDSA"})
"""Asymmetric signature algorithms only: ``none`` and HMAC (a shared secret) can never be configured."""


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

    oidc_server_url: str = ""
    """Keycloak's base URL (what python-keycloak calls ``server_url``, e.g. ``https://login.land.de/``).
    Empty: sign-in with Keycloak is off and only API keys are accepted."""
    oidc_realm: str = "kiverbund"
    oidc_client_id: str = "kiverbund-hub"
    """The hub's own client: used for the web sign-in, and accepted as ``azp`` of API tokens."""
    oidc_client_secret: str = ""
    """Secret of the hub client (confidential client; the web sign-in needs it)."""
    oidc_audience: str = "kiverbund"
    """The audience API tokens must name in ``aud`` (Keycloak's audience mapper), unless their ``azp``
    is one of ``oidc_client_id`` / ``oidc_audience`` (Keycloak user tokens often say ``aud: account``)."""
    oidc_issuer: str = ""
    """Expected ``iss``; default ``{oidc_server_url}/realms/{oidc_realm}``. Set it when the hub reaches
    Keycloak under another URL than the browsers do."""
    oidc_tenant_claim: str = "organization"
    """The claim naming the tenant: Keycloak 26's ``organization`` (list or map of organization aliases),
    or a mapped attribute such as ``tenant``. Its value is matched with the tenant's ``org_alias``."""
    oidc_algorithms: str = "RS256,ES256"
    """Signature algorithms accepted, comma separated. ``none`` and HMAC are never accepted."""
    oidc_leeway_s: float = 30.0
    """Clock skew tolerated for ``exp`` and ``nbf``."""
    oidc_jwks_ttl_s: float = 600.0
    """How long the realm's signing keys are used before they are fetched again."""
    oidc_jwks_refresh_min_s: float = 30.0
    """An unknown key id triggers at most one extra JWKS fetch per this interval."""
    public_url: str = ""
    """The hub's address as browsers see it (for the sign-in redirect), e.g. ``https://ki.land.de``;
    default ``http://{host}:{port}``."""
    session_cookie_secure: bool = True
    """Send the web session cookie only over HTTPS (browsers also accept it on http://localhost)."""
    session_max_age_s: int = 8 * 3600
    """Longest a web session lasts without a new sign-in."""
    otel_enabled: bool = False
    """Record traces and push traces and metrics over OTLP/HTTP. The exporter reads the standard
    ``OTEL_EXPORTER_OTLP_ENDPOINT`` (default ``http://localhost:4318``), ``OTEL_EXPORTER_OTLP_HEADERS`` and
    ``OTEL_SERVICE_NAME`` (default ``kiverbund-hub``).
    ``/metrics`` (Prometheus) works either way."""
    ki_pass_validity_days: int = 730
    """How long a KI-Pass stays valid after the training when the record names no end date."""

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
        unsafe = {a.upper() for a in self.algorithms} - SAFE_ALGORITHMS
        if unsafe or not self.algorithms:
            raise ValueError(f"KIVERBUND_OIDC_ALGORITHMS must be asymmetric algorithms from {sorted(SAFE_ALGORITHMS)}")

    @property
    def oidc_enabled(self) -> bool:
        """True when tokens from Keycloak are accepted."""
        return bool(self.oidc_server_url)

    @property
    def algorithms(self) -> list[str]:
        """The accepted signature algorithms."""
        return [a.strip() for a in self.oidc_algorithms.split(",") if a.strip()]

    @property
    def issuer(self) -> str:
        """The ``iss`` every token must carry."""
        return self.oidc_issuer or f"{self.oidc_server_url.rstrip('/')}/realms/{self.oidc_realm}"

    @property
    def base_url(self) -> str:
        """The hub's own address as browsers reach it."""
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

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
