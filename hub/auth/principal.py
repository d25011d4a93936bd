"""Who is calling: the authenticated principal every handler sees as ``request.user``."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller: a tenant, its role, and the key it used."""

    tenant_id: UUID
    tenant_name: str
    tenant_kind: str
    role: str
    key_id: UUID | None = None
    key_prefix: str | None = None

    @property
    def actor(self) -> str:
        """How this principal is named in the audit trail."""
        return f"key:{self.key_prefix}" if self.key_prefix else f"tenant:{self.tenant_id}"
