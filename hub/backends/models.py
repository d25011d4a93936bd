"""The registry of inference backends (vLLM servers) and the models tenants may call."""

from __future__ import annotations

import enum
from uuid import UUID

from advanced_alchemy.base import UUIDv7AuditBase
from advanced_alchemy.types import JsonB
from sqlalchemy import Boolean, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column


class ModelKind(enum.StrEnum):
    """Which OpenAI endpoints a model answers: generative models chat/complete, pooling models embed."""

    CHAT = "chat"
    EMBEDDING = "embedding"


class ModelVisibility(enum.StrEnum):
    """``all``: every tenant may use the model. ``granted``: only tenants with a grant."""

    ALL = "all"
    GRANTED = "granted"


class Backend(UUIDv7AuditBase):
    """One vLLM server: where it is, who runs it, and which upstream model names it serves."""

    __tablename__ = "backend"

    name: Mapped[str] = mapped_column(String(100), unique=True)
    base_url: Mapped[str] = mapped_column(String(500))
    """Root URL of the vLLM server, without ``/v1`` (e.g. ``http://gpu1.lan:8000``)."""
    location: Mapped[str] = mapped_column(String(100))
    """Data-residency label, e.g. ``DE-MV-Schwerin``."""
    operator: Mapped[str] = mapped_column(String(200), default="")
    served_models: Mapped[list[str]] = mapped_column(JsonB, default=list)
    """Upstream model names this server serves (vLLM ``--served-model-name``)."""
    api_key: Mapped[str | None] = mapped_column(String(500), default=None)
    """Bearer token the gateway sends upstream when vLLM runs with ``--api-key``."""
    max_concurrency: Mapped[int | None] = mapped_column(Integer, default=None)
    """Most requests this gateway replica keeps in flight on the server; more wait in the fair queue."""
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)


class Model(UUIDv7AuditBase):
    """A model as tenants see it: a stable alias mapped to an upstream model name."""

    __tablename__ = "model"

    name: Mapped[str] = mapped_column(String(200), unique=True)
    upstream_name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20), default=ModelKind.CHAT.value)
    max_model_len: Mapped[int | None] = mapped_column(Integer, default=None)
    """Context window in tokens; learned from the backends when not set."""
    default_max_tokens: Mapped[int | None] = mapped_column(Integer, default=None)
    """Output allowance when a request sets no ``max_tokens`` (default: what fits the context window)."""
    visibility: Mapped[str] = mapped_column(String(20), default=ModelVisibility.ALL.value)
    owned_by: Mapped[str] = mapped_column(String(200), default="ki-verbund")
    description: Mapped[str] = mapped_column(String(1000), default="")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)


class ModelGrant(UUIDv7AuditBase):
    """Permission for one tenant to use a model whose visibility is ``granted``."""

    __tablename__ = "model_grant"
    __table_args__ = (UniqueConstraint("tenant_id", "model_id", name="uq_model_grant_tenant_model"),)

    tenant_id: Mapped[UUID] = mapped_column(ForeignKey("tenant.id", ondelete="CASCADE"), index=True)
    model_id: Mapped[UUID] = mapped_column(ForeignKey("model.id", ondelete="CASCADE"), index=True)
