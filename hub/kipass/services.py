"""KI-Pass records of a tenant, and coverage figures. Every change is audited."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from uuid import UUID

from advanced_alchemy.exceptions import NotFoundError
from advanced_alchemy.repository import SQLAlchemyAsyncRepository
from advanced_alchemy.service import SQLAlchemyAsyncRepositoryService
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.audit.services import Actor, record, snapshot
from hub.errors import HubError
from hub.kipass.models import KiPass, StaffMember
from hub.kipass.schemas import Coverage, KiPassCreate, KiPassRead, KiPassUpdate, OwnCoverage
from hub.kipass.status import PassState, effective_valid_until, evaluate
from hub.structs import set_fields
from hub.tenants.models import Tenant
from hub.usage.services import BERLIN

_PAST_DATES = ("training_completed_on", "guidelines_acknowledged_on", "service_agreement_acknowledged_on")
KI_PASS_AUDIT = ("tenant_id", "username", "display_name", "training_course", *_PAST_DATES, "valid_until")
"""A KI-Pass record's fields in the audit trail's before/after snapshots."""


def today_in_germany() -> date:
    """Today's date in Europe/Berlin, the day KI-Pass validity is judged by."""
    return datetime.now(BERLIN).date()


def _check_dates(values: dict[str, date | None], today: date) -> None:
    for field in _PAST_DATES:
        value = values.get(field)
        if value is not None and value > today:
            raise HubError(f"{field} lies in the future", param=field)
    training, until = values.get("training_completed_on"), values.get("valid_until")
    if training is not None and until is not None and until < training:
        raise HubError("valid_until lies before training_completed_on", param="valid_until")


class KiPassService(SQLAlchemyAsyncRepositoryService[KiPass]):
    """Manages the KI-Pass records of one tenant at a time; another tenant's record is "not found"."""

    class Repo(SQLAlchemyAsyncRepository[KiPass]):
        """KI-Pass repository."""

        model_type = KiPass

    repository_type = Repo

    async def get_own(self, tenant_id: UUID, pass_id: UUID) -> KiPass:
        """The record ``pass_id`` of ``tenant_id``; 404 for a missing record and for another tenant's."""
        found = await self.get_one_or_none(KiPass.id == pass_id, KiPass.tenant_id == tenant_id)
        if found is None:
            raise NotFoundError(f"No KI-Pass {pass_id}")
        return found

    async def create_pass(self, tenant_id: UUID, data: KiPassCreate, actor: Actor) -> KiPass:
        """Record a KI-Pass; one per person and tenant."""
        username = data.username.lower()
        values = {f: getattr(data, f) for f in (*_PAST_DATES, "valid_until")}
        _check_dates(values, today_in_germany())
        if await self.exists(KiPass.tenant_id == tenant_id, KiPass.username == username):
            raise HubError(f"{username!r} has a KI-Pass already; change it instead", status_code=409, param="username")
        created = await self.create(
            KiPass(
                tenant_id=tenant_id,
                username=username,
                display_name=data.display_name,
                training_course=data.training_course,
                **values,
            )
        )
        record(
            self.repository.session,
            actor,
            "ki_pass.create",
            "ki_pass",
            created.id,
            after=snapshot(created, KI_PASS_AUDIT),
            username=username,
            **values,
        )
        return created

    async def update_pass(self, tenant_id: UUID, pass_id: UUID, data: KiPassUpdate, actor: Actor) -> KiPass:
        """Change a record of ``tenant_id``."""
        current = await self.get_own(tenant_id, pass_id)
        changes = set_fields(data)
        merged = {f: changes.get(f, getattr(current, f)) for f in (*_PAST_DATES, "valid_until")}
        _check_dates(merged, today_in_germany())
        before = snapshot(current, KI_PASS_AUDIT)
        for field, value in changes.items():
            setattr(current, field, value)
        updated = await self.update(current)
        record(
            self.repository.session,
            actor,
            "ki_pass.update",
            "ki_pass",
            updated.id,
            before=before,
            after=snapshot(updated, KI_PASS_AUDIT),
            **changes,
        )
        return updated

    async def delete_pass(self, tenant_id: UUID, pass_id: UUID, actor: Actor) -> KiPass:
        """Remove a record of ``tenant_id`` (the person then has no KI-Pass)."""
        current = await self.get_own(tenant_id, pass_id)
        before = snapshot(current, KI_PASS_AUDIT)
        await self.delete(current.id)
        record(
            self.repository.session,
            actor,
            "ki_pass.delete",
            "ki_pass",
            current.id,
            before=before,
            username=current.username,
        )
        return current


def pass_read(record_: KiPass, validity_days: int, today: date) -> KiPassRead:
    """Schema view of a record with its state on ``today``."""
    status = evaluate(record_, today, validity_days)
    return KiPassRead(
        id=record_.id,
        username=record_.username,
        display_name=record_.display_name,
        training_course=record_.training_course,
        training_completed_on=record_.training_completed_on,
        guidelines_acknowledged_on=record_.guidelines_acknowledged_on,
        service_agreement_acknowledged_on=record_.service_agreement_acknowledged_on,
        valid_until=record_.valid_until,
        state=status.state.value,
        missing=[m.value for m in status.missing],
        effective_valid_until=effective_valid_until(record_, validity_days),
        updated_at=record_.updated_at,
    )


async def coverage(
    session: AsyncSession, tenants: list[Tenant], validity_days: int, today: date, *, with_names: bool = False
) -> list[Coverage]:
    """KI-Pass figures per tenant; with ``with_names`` also who has signed in without a valid pass."""
    ids = [t.id for t in tenants]
    passes = (await session.execute(select(KiPass).where(KiPass.tenant_id.in_(ids)))).scalars().all()
    staff = (await session.execute(select(StaffMember).where(StaffMember.tenant_id.in_(ids)))).scalars().all()
    soon = today + timedelta(days=30)
    result: list[Coverage] = []
    for tenant in tenants:
        states = {p.username: evaluate(p, today, validity_days) for p in passes if p.tenant_id == tenant.id}
        seen = sorted(s.username for s in staff if s.tenant_id == tenant.id)
        without = [u for u in seen if not (states.get(u) and states[u].valid)]
        figures = {
            "tenant_id": tenant.id,
            "tenant_name": tenant.name,
            "staff_seen": len(seen),
            "staff_seen_with_valid_pass": len(seen) - len(without),
            "coverage": round((len(seen) - len(without)) / len(seen), 4) if seen else None,
            "passes": len(states),
            "valid": sum(s.state is PassState.VALID for s in states.values()),
            "incomplete": sum(s.state is PassState.INCOMPLETE for s in states.values()),
            "expired": sum(s.state is PassState.EXPIRED for s in states.values()),
            "expiring_within_30_days": sum(
                s.valid and s.valid_until is not None and s.valid_until <= soon for s in states.values()
            ),
        }
        result.append(OwnCoverage(**figures, staff_without_valid_pass=without) if with_names else Coverage(**figures))
    return result
