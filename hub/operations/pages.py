"""The operations page ``/betrieb`` (German): the operations view for signed-in operators and tenant admins.

The page shows what ``GET /api/operations`` returns for the same person; the helpers here only turn
its figures into German text (numbers, percentages, times, labels).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from litestar import Controller, Request, get
from litestar.di import NamedDependency
from litestar.response import Template
from sqlalchemy.ext.asyncio import AsyncSession

from hub.auth.guards import tenant_admin_or_operator
from hub.auth.middleware import WEB_OPT
from hub.auth.principal import Principal
from hub.operations.controllers import overview_for
from hub.operations.schemas import LimitUse, PolicyUse, TenantUsage
from hub.operations.services import ERROR_LIMIT_DEFAULT, ERROR_WINDOW
from hub.usage.services import BERLIN
from hub.web.errors import WEB_EXCEPTION_HANDLERS
from hub.web.guards import signed_in_person
from hub.web.templating import page

MONTHS = (
    "Januar",
    "Februar",
    "März",
    "April",
    "Mai",
    "Juni",
    "Juli",
    "August",
    "September",
    "Oktober",
    "November",
    "Dezember",
)

ERROR_STATUS_LABELS = {
    "client_error": "Fehler in der Anfrage",
    "upstream_error": "Fehler des Backends",
    "unavailable": "kein Backend verfügbar",
    "client_disconnected": "Verbindung vom Client getrennt",
}

ENDPOINT_LABELS = {"chat.completions": "Chat", "completions": "Textvervollständigung", "embeddings": "Einbettungen"}
MODEL_KIND_LABELS = {"chat": "Chat", "embedding": "Einbettungen"}

DASH = "\N{EN DASH}"
"""Stands for "no figure" and separates a limit from its scope."""

TIGHT_PERCENT = 80.0
"""From this share on a limit is marked "knapp" (in words, not only by the meter's colour)."""


def number(value: float | int | None) -> str:
    """``1.234.567`` for whole numbers, ``1,5`` otherwise; a dash for ``None``."""
    if value is None:
        return DASH
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.1f}".replace(",", " ").replace(".", ",").replace(" ", ".")
    return f"{int(value):,}".replace(",", ".")


def percent(value: float | None) -> str:
    """``20,0 %`` (German decimal comma)."""
    return DASH if value is None else f"{value:.1f} %".replace(".", ",")


def moment(value: datetime | None) -> str:
    """``14.03.2026, 10:15:03 Uhr`` in German time; a dash for ``None``."""
    return DASH if value is None else value.astimezone(BERLIN).strftime("%d.%m.%Y, %H:%M:%S Uhr")


def month_label(month: str) -> str:
    """``März 2026`` for ``2026-03``."""
    year, number_of_month = month.split("-")
    return f"{MONTHS[int(number_of_month) - 1]} {year}"


def scope_text(policy: PolicyUse) -> str:
    """Which requests a policy covers, in German."""
    parts = []
    if policy.scope.startswith("key:"):
        parts.append(f"Schlüssel {policy.api_key_prefix or policy.scope.split('/')[0][4:]}")
    if policy.model is not None:
        parts.append(f"Modell {policy.model}")
    return ", ".join(parts) or "ganze Kommune"


def judgement(share: float | None) -> str:
    """A word for how much of a limit is used, so the state never hangs on colour alone."""
    if share is None:
        return ""
    if share >= 100.0:
        return "ausgeschöpft"
    if share >= TIGHT_PERCENT:
        return "knapp"
    return "im Rahmen"


@dataclass(frozen=True, slots=True)
class QuotaRow:
    """One line of a tenant's table: a figure of the month, or a limit and its use."""

    label: str
    used: str
    limit: str
    share: float | None


LIMIT_LINES = (
    ("monthly_tokens", "Tokens im Monat", "pro Monat"),
    ("requests_per_minute", "Anfragen in dieser Minute", "pro Minute"),
    ("tokens_per_minute", "Tokens in dieser Minute", "pro Minute"),
    ("max_concurrent", "Gleichzeitige Anfragen jetzt", "gleichzeitig"),
)
"""The limits of a policy as lines of the table: field, label, unit of the limit."""


def quota_rows(tenant: TenantUsage) -> list[QuotaRow]:
    """The lines of a tenant's table: requests, errors and tokens this month, then every limit set."""
    if tenant.monthly_tokens_limit is None:
        tokens_limit = "kein Monatskontingent"
    else:
        tokens_limit = f"{number(tenant.monthly_tokens_limit)} pro Monat"
    rows = [
        QuotaRow("Anfragen", number(tenant.requests), "keine Grenze", None),
        QuotaRow("davon fehlgeschlagen", number(tenant.errors), DASH, None),
        QuotaRow(
            "Tokens (Eingabe + Ausgabe)",
            f"{number(tenant.total_tokens)} ({number(tenant.prompt_tokens)} + {number(tenant.completion_tokens)})",
            tokens_limit,
            tenant.monthly_tokens_percent,
        ),
    ]
    for policy in tenant.policies:
        scope = scope_text(policy)
        for name, label, unit in LIMIT_LINES:
            use: LimitUse = getattr(policy, name)
            # The tenant-wide monthly budget is already the tokens line above.
            if use.limit is None or (name == "monthly_tokens" and policy.scope == "tenant"):
                continue
            used = "nicht verfügbar" if use.used is None else number(use.used)
            rows.append(QuotaRow(f"{label} {DASH} {scope}", used, f"{number(use.limit)} {unit}", use.percent))
    return rows


class OperationsPage(Controller):
    """``/betrieb``: signed-in operators see every tenant and the backends; tenant admins their own tenant."""

    path = "/betrieb"
    guards = [signed_in_person, tenant_admin_or_operator]
    opt = {WEB_OPT: True}
    include_in_schema = False
    exception_handlers = WEB_EXCEPTION_HANDLERS

    @get("/", name="betrieb")
    async def operations(
        self, request: Request[Principal, Any, Any], db_session: NamedDependency[AsyncSession]
    ) -> Template:
        """Usage against quota this month, model availability, backends (operators) and recent errors."""
        overview = await overview_for(request, db_session, ERROR_LIMIT_DEFAULT)
        return page(
            request,
            "betrieb.html",
            o=overview,
            month=month_label(overview.month),
            error_days=ERROR_WINDOW.days,
            error_limit=ERROR_LIMIT_DEFAULT,
            quota_rows=quota_rows,
            number=number,
            percent=percent,
            moment=moment,
            judgement=judgement,
            error_labels=ERROR_STATUS_LABELS,
            endpoint_labels=ENDPOINT_LABELS,
            kind_labels=MODEL_KIND_LABELS,
        )
