"""Admin API: the monthly chargeback export (operators only)."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from hub.auth.guards import operator_only
from hub.errors import HubError
from hub.usage.services import chargeback_csv, month_bounds


class ChargebackController(Controller):
    """Per-tenant usage per month as CSV, for invoicing the municipalities."""

    path = "/api/admin/usage"
    guards = [operator_only]
    tags = ["Admin: audit and chargeback"]

    @get("/chargeback.csv", operation_id="ExportChargeback", media_type="text/csv")
    async def chargeback(
        self,
        request: Request,
        db_session: NamedDependency[AsyncSession],
        month: Annotated[str, Parameter(description="Calendar month (Europe/Berlin), YYYY-MM", max_length=7)],
    ) -> Response[str]:
        """One line per tenant and model with requests and tokens of the month."""
        try:
            month_bounds(month)
        except ValueError:
            raise HubError("month must look like 2026-11", param="month") from None
        ledger = getattr(request.app.state, "ledger", None)
        if ledger is not None:
            await ledger.flush()
        body = await chargeback_csv(db_session, month)
        return Response(
            body,
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="kiverbund-chargeback-{month}.csv"'},
        )
