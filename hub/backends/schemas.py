"""Request and response shapes of the backend and model registry admin API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

import msgspec
from msgspec import UNSET, Meta, UnsetType

from hub.backends.models import ModelKind, ModelVisibility

Name = Annotated[str, Meta(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/-]*$")]
ModelName = Annotated[str, Meta(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/@+-]*$")]
BaseUrl = Annotated[str, Meta(pattern=r"^https?://[^\s/]+(:\d+)?(/[^\s]*)?$", max_length=500)]
Location = Annotated[
    str, Meta(pattern=r"^[A-Z]{2}(-[A-Za-z0-9äöüÄÖÜß]+)*$", max_length=100, description="e.g. DE-MV-Schwerin")
]
Concurrency = Annotated[int, Meta(ge=1, le=100_000)]
ContextWindow = Annotated[int, Meta(ge=1, le=10_000_000)]
OutputAllowance = Annotated[
    int, Meta(ge=1, le=10_000_000, description="Output tokens allowed when a request sets no max_tokens")
]


class BackendCreate(msgspec.Struct, forbid_unknown_fields=True):
    """Register a vLLM server. Without ``served_models`` they are read from its ``/v1/models``."""

    name: Name
    base_url: BaseUrl
    location: Location
    operator: Annotated[str, Meta(max_length=200)] = ""
    served_models: list[ModelName] | None = None
    api_key: Annotated[str, Meta(max_length=500)] | None = None
    max_concurrency: Concurrency | None = None
    enabled: bool = True


class BackendUpdate(msgspec.Struct, forbid_unknown_fields=True):
    """Fields of a backend that may change."""

    base_url: BaseUrl | UnsetType = UNSET
    location: Location | UnsetType = UNSET
    operator: Annotated[str, Meta(max_length=200)] | UnsetType = UNSET
    served_models: list[ModelName] | UnsetType = UNSET
    api_key: Annotated[str, Meta(max_length=500)] | UnsetType | None = UNSET
    max_concurrency: Concurrency | UnsetType | None = UNSET
    enabled: bool | UnsetType = UNSET


class BackendRead(msgspec.Struct):
    """A backend as the admin API shows it (the upstream key is never shown)."""

    id: UUID
    name: str
    base_url: str
    location: str
    operator: str
    served_models: list[str]
    has_api_key: bool
    max_concurrency: int | None
    enabled: bool
    created_at: datetime


class BackendStatus(msgspec.Struct):
    """Live state of a backend as the gateway sees it."""

    id: UUID
    name: str
    healthy: bool
    running: float
    waiting: float
    in_flight: int
    checked_at: datetime | None
    error: str | None


class ModelCreate(msgspec.Struct, forbid_unknown_fields=True):
    """Publish a model to tenants under an alias."""

    name: ModelName
    upstream_name: ModelName | None = None
    kind: ModelKind = ModelKind.CHAT
    max_model_len: ContextWindow | None = None
    default_max_tokens: OutputAllowance | None = None
    visibility: ModelVisibility = ModelVisibility.ALL
    owned_by: Annotated[str, Meta(max_length=200)] = "ki-verbund"
    description: Annotated[str, Meta(max_length=1000)] = ""
    enabled: bool = True


class ModelUpdate(msgspec.Struct, forbid_unknown_fields=True):
    """Fields of a model that may change."""

    upstream_name: ModelName | UnsetType = UNSET
    kind: ModelKind | UnsetType = UNSET
    max_model_len: ContextWindow | UnsetType | None = UNSET
    default_max_tokens: OutputAllowance | UnsetType | None = UNSET
    visibility: ModelVisibility | UnsetType = UNSET
    owned_by: Annotated[str, Meta(max_length=200)] | UnsetType = UNSET
    description: Annotated[str, Meta(max_length=1000)] | UnsetType = UNSET
    enabled: bool | UnsetType = UNSET


class ModelRead(msgspec.Struct):
    """A model as the admin API shows it."""

    id: UUID
    name: str
    upstream_name: str
    kind: str
    max_model_len: int | None
    default_max_tokens: int | None
    visibility: str
    owned_by: str
    description: str
    enabled: bool
    granted_tenants: list[UUID]
    created_at: datetime


class GrantCreate(msgspec.Struct, forbid_unknown_fields=True):
    """Let a tenant use a model whose visibility is ``granted``."""

    tenant_id: UUID
