"""The ``kiverbund`` command line: serve, migrate, and manage tenants, keys, backends, models, quotas and
the rollout gate; verify and export the audit trail.

Every change made here goes through the same services as the admin API and is audited as
``cli:<os user>``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID

import click
import httpx
import msgspec
from advanced_alchemy.exceptions import NotFoundError
from sqlalchemy.ext.asyncio import AsyncSession

from catalog.evaluations.services import CatalogEvidence
from catalog.seed.loader import load_seed
from hub.audit.chain import parse_head, verify_chain
from hub.audit.services import Actor, AuditFilter, ExportFormat, export_lines
from hub.backends.models import ModelKind, ModelVisibility
from hub.backends.schemas import BackendCreate, BackendUpdate, ModelCreate
from hub.backends.services import BackendService, ModelService
from hub.db import MIGRATIONS_DIR, create_engine, create_sessionmaker
from hub.errors import HubError
from hub.quotas.models import scope_label
from hub.quotas.schemas import QuotaPolicySet
from hub.quotas.services import QuotaPolicyService, policy_summary
from hub.rollout.schemas import OverrideCreate, RequirementSet
from hub.rollout.services import RolloutService, override_read, requirement_read
from hub.settings import Settings
from hub.tenants.models import KeyRole, TenantKind
from hub.tenants.schemas import KeyCreate, TenantCreate, TenantUpdate
from hub.tenants.services import ApiKeyService, TenantService
from hub.usage.services import chargeback_csv, month_bounds

T = TypeVar("T")


@asynccontextmanager
async def _session() -> AsyncIterator[AsyncSession]:
    engine = create_engine(Settings.from_env())
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            yield session
    finally:
        await engine.dispose()


def _run(action: Callable[[AsyncSession], Awaitable[T]]) -> T:
    async def main() -> T:
        async with _session() as session:
            return await action(session)

    try:
        return asyncio.run(main())
    except HubError as exc:
        raise click.ClickException(exc.message) from None
    except NotFoundError as exc:
        raise click.ClickException(str(exc.detail or exc)) from None


def _echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str, ensure_ascii=False))


@click.group()
def main() -> None:
    """KI-Verbund hub: shared, self-hosted AI for public administration."""


@main.command()
@click.option("--host", default=None, help="Interface to bind (default KIVERBUND_HOST or 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (default KIVERBUND_PORT or 8080).")
@click.option("--workers", type=int, default=None, help="Worker processes (default KIVERBUND_WORKERS or 1).")
def serve(host: str | None, port: int | None, workers: int | None) -> None:
    """Run the hub (admin API and OpenAI-compatible gateway)."""
    import uvicorn

    settings = Settings.from_env()
    if (workers or settings.workers) > 1 and settings.quota_store == "memory":
        # Each worker process would count quotas and fair shares on its own.
        click.echo(
            "warning: several workers with KIVERBUND_QUOTA_STORE=memory: quota limits apply per worker; "
            "set KIVERBUND_QUOTA_STORE=redis and KIVERBUND_REDIS_URL to share them",
            err=True,
        )
    uvicorn.run(
        "hub.app:create_app",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        workers=workers or settings.workers,
        loop="uvloop",
        http="httptools",
        log_level=settings.log_level,
        # Access logs carry paths and client addresses only, never bodies; off by default to keep
        # the hot path lean. Turn on with KIVERBUND_LOG_LEVEL=debug if needed.
        access_log=settings.log_level == "debug",
    )


@main.command()
def migrate() -> None:
    """Bring the database schema up to date (Alembic ``upgrade head``)."""
    from alembic import command
    from alembic.config import Config

    command.upgrade(Config(str(Path(MIGRATIONS_DIR) / "alembic.ini")), "head")
    click.echo("database is up to date", err=True)


# --- tenants ------------------------------------------------------------------------------------


@main.group()
def tenant() -> None:
    """Manage tenants (municipalities and the state)."""


@tenant.command("create")
@click.argument("name")
@click.option("--state", "land", required=True, help="The Land, e.g. Mecklenburg-Vorpommern.")
@click.option("--ags", default=None, help="Amtlicher Gemeindeschlüssel (8 digits); required for municipalities.")
@click.option("--kind", type=click.Choice([k.value for k in TenantKind]), default=TenantKind.MUNICIPALITY.value)
@click.option("--org-alias", default=None, help="Keycloak organization alias that sign-in tokens name.")
def tenant_create(name: str, land: str, ags: str | None, kind: str, org_alias: str | None) -> None:
    """Create a tenant."""
    try:
        data = msgspec.convert(
            {"name": name, "state": land, "ags": ags, "kind": kind, "org_alias": org_alias}, TenantCreate
        )
    except msgspec.ValidationError as exc:
        raise click.ClickException(str(exc)) from None

    async def action(session: AsyncSession) -> dict[str, Any]:
        t = await TenantService(session=session).create_tenant(data, Actor.cli())
        return {"id": t.id, "name": t.name, "kind": t.kind, "ags": t.ags, "state": t.state, "org_alias": t.org_alias}

    _echo_json(_run(action))


@tenant.command("list")
def tenant_list() -> None:
    """List tenants."""

    async def action(session: AsyncSession) -> list[dict[str, Any]]:
        rows = await TenantService(session=session).get_many()
        return [
            {
                "id": t.id,
                "name": t.name,
                "kind": t.kind,
                "ags": t.ags,
                "org_alias": t.org_alias,
                "enabled": t.enabled,
                "weight": t.weight,
            }
            for t in rows
        ]

    _echo_json(_run(action))


def _update_tenant(name: str, field: str, value: Any) -> None:
    """Change one field of the tenant called ``name`` (validated like the admin API) and print it."""
    try:
        data = msgspec.convert({field: value}, TenantUpdate)
    except msgspec.ValidationError as exc:
        raise click.ClickException(f"{field}: {exc}") from None

    async def action(session: AsyncSession) -> dict[str, Any]:
        tenants = TenantService(session=session)
        t = await tenants.update_tenant((await tenants.get_by_name(name)).id, data, Actor.cli())
        return {"name": t.name, field: getattr(t, field)}

    _echo_json(_run(action))


@tenant.command("set-weight")
@click.argument("name")
@click.argument("weight", type=float)
def tenant_set_weight(name: str, weight: float) -> None:
    """Set a tenant's share of saturated GPU capacity (default 1.0; 2.0 = twice the share).

    A running hub picks the new weight up with its next registry refresh.
    """
    _update_tenant(name, "weight", weight)


@tenant.command("set-org-alias")
@click.argument("name")
@click.argument("alias")
def tenant_set_org_alias(name: str, alias: str) -> None:
    """Connect a tenant to its Keycloak organization: tokens naming ALIAS sign in to this tenant."""
    _update_tenant(name, "org_alias", alias)


# --- keys ---------------------------------------------------------------------------------------


@main.group()
def key() -> None:
    """Issue, list and revoke API keys."""


@key.command("issue")
@click.option("--tenant", "tenant_name", required=True, help="Tenant name.")
@click.option(
    "--role",
    type=click.Choice([r.value for r in KeyRole]),
    default=KeyRole.CLIENT.value,
    help="client (default), tenant-admin, operator (state tenant only) or evaluator (calls models before "
    "their release and publishes evaluation reports).",
)
@click.option("--label", default="", help="A name for the key, e.g. 'Bürgerchat Produktion'.")
@click.option("--use-case", default="", help="What the client does; recorded with every request it makes.")
@click.option("--expires-in-days", type=click.IntRange(min=1), default=None)
@click.option("--json", "as_json", is_flag=True, help="Print the key as JSON (with the secret).")
def key_issue(
    tenant_name: str, role: str, label: str, use_case: str, expires_in_days: int | None, as_json: bool
) -> None:
    """Issue a key. The secret is printed once and stored only as a hash."""
    expires_at = datetime.now(UTC) + timedelta(days=expires_in_days) if expires_in_days else None

    async def action(session: AsyncSession) -> dict[str, Any]:
        t = await TenantService(session=session).get_by_name(tenant_name)
        k, new = await ApiKeyService(session=session).issue(
            t, KeyCreate(label=label, role=KeyRole(role), expires_at=expires_at, use_case=use_case), Actor.cli()
        )
        return {
            "id": k.id,
            "tenant": t.name,
            "prefix": k.prefix,
            "role": k.role,
            "expires_at": k.expires_at,
            "secret": new.secret,
        }

    issued = _run(action)
    if as_json:
        _echo_json(issued)
    else:
        click.echo(f"Key {issued['prefix']} ({issued['role']}) for {issued['tenant']}; shown only now:", err=True)
        click.echo(issued["secret"])


@key.command("revoke")
@click.argument("prefix")
def key_revoke(prefix: str) -> None:
    """Revoke the key with the visible PREFIX (e.g. kvb_1a2b3c4d)."""

    async def action(session: AsyncSession) -> str:
        keys = ApiKeyService(session=session)
        k = await keys.revoke((await keys.get_by_prefix(prefix)).id, Actor.cli())
        return f"revoked {k.prefix} at {k.revoked_at}"

    click.echo(_run(action))


@key.command("list")
@click.option("--tenant", "tenant_name", required=True)
def key_list(tenant_name: str) -> None:
    """List a tenant's keys (never their secrets)."""

    async def action(session: AsyncSession) -> list[dict[str, Any]]:
        t = await TenantService(session=session).get_by_name(tenant_name)
        from hub.tenants.models import ApiKey

        rows = await ApiKeyService(session=session).get_many(ApiKey.tenant_id == t.id)
        return [
            {
                "prefix": k.prefix,
                "role": k.role,
                "label": k.label,
                "expires_at": k.expires_at,
                "revoked_at": k.revoked_at,
            }
            for k in rows
        ]

    _echo_json(_run(action))


# --- backends and models -----------------------------------------------------------------------


@main.group()
def backend() -> None:
    """Register and list vLLM backends."""


@backend.command("register")
@click.option("--name", required=True)
@click.option("--url", "base_url", required=True, help="Root URL of the vLLM server, e.g. http://gpu1:8000")
@click.option("--location", required=True, help="Data-residency label, e.g. DE-MV-Schwerin")
@click.option("--operator", default="", help="Who runs the server.")
@click.option("--served-model", "served", multiple=True, help="Served model name; default: ask the server.")
@click.option("--api-key", default=None, help="Key the server expects (vLLM --api-key).")
@click.option("--max-concurrency", type=click.IntRange(min=1), default=None)
def backend_register(
    name: str,
    base_url: str,
    location: str,
    operator: str,
    served: tuple[str, ...],
    api_key: str | None,
    max_concurrency: int | None,
) -> None:
    """Register a vLLM server."""
    try:
        data = msgspec.convert(
            {
                "name": name,
                "base_url": base_url,
                "location": location,
                "operator": operator,
                "served_models": list(served) or None,
                "api_key": api_key,
                "max_concurrency": max_concurrency,
            },
            BackendCreate,
        )
    except msgspec.ValidationError as exc:
        raise click.ClickException(str(exc)) from None

    async def action(session: AsyncSession) -> dict[str, Any]:
        async with httpx.AsyncClient(trust_env=False) as http:
            b = await BackendService(session=session).register(data, Actor.cli(), http)
        return {
            "id": b.id,
            "name": b.name,
            "base_url": b.base_url,
            "location": b.location,
            "served_models": b.served_models,
        }

    _echo_json(_run(action))


@backend.command("list")
def backend_list() -> None:
    """List backends."""

    async def action(session: AsyncSession) -> list[dict[str, Any]]:
        rows = await BackendService(session=session).get_many()
        return [
            {
                "id": b.id,
                "name": b.name,
                "base_url": b.base_url,
                "location": b.location,
                "served_models": b.served_models,
                "enabled": b.enabled,
            }
            for b in rows
        ]

    _echo_json(_run(action))


@main.group()
def model() -> None:
    """Publish models to tenants."""


@model.command("add")
@click.argument("name")
@click.option("--upstream", default=None, help="Served model name on the backends (default: NAME).")
@click.option("--kind", type=click.Choice([k.value for k in ModelKind]), default=ModelKind.CHAT.value)
@click.option("--visibility", type=click.Choice([v.value for v in ModelVisibility]), default="all")
@click.option("--max-model-len", type=click.IntRange(min=1), default=None)
@click.option(
    "--default-max-tokens",
    type=click.IntRange(min=1),
    default=None,
    help="Output tokens allowed when a request sets no max_tokens (default: what fits the context window).",
)
@click.option("--description", default="")
def model_add(
    name: str,
    upstream: str | None,
    kind: str,
    visibility: str,
    max_model_len: int | None,
    default_max_tokens: int | None,
    description: str,
) -> None:
    """Publish a model alias."""
    data = ModelCreate(
        name=name,
        upstream_name=upstream,
        kind=ModelKind(kind),
        visibility=ModelVisibility(visibility),
        max_model_len=max_model_len,
        default_max_tokens=default_max_tokens,
        description=description,
    )

    async def action(session: AsyncSession) -> dict[str, Any]:
        m = await ModelService(session=session).publish(data, Actor.cli())
        return {
            "id": m.id,
            "name": m.name,
            "upstream_name": m.upstream_name,
            "kind": m.kind,
            "default_max_tokens": m.default_max_tokens,
        }

    _echo_json(_run(action))


@model.command("grant")
@click.argument("name")
@click.option("--tenant", "tenant_name", required=True)
def model_grant(name: str, tenant_name: str) -> None:
    """Let a tenant use a model whose visibility is 'granted'."""

    async def action(session: AsyncSession) -> str:
        models = ModelService(session=session)
        m = await models.get_by_name(name)
        t = await TenantService(session=session).get_by_name(tenant_name)
        await models.grant(m.id, t.id, Actor.cli())
        return f"{t.name} may use {m.name}"

    click.echo(_run(action))


@model.command("list")
def model_list() -> None:
    """List models."""

    async def action(session: AsyncSession) -> list[dict[str, Any]]:
        rows = await ModelService(session=session).get_many()
        return [
            {
                "name": m.name,
                "upstream_name": m.upstream_name,
                "kind": m.kind,
                "visibility": m.visibility,
                "default_max_tokens": m.default_max_tokens,
                "enabled": m.enabled,
            }
            for m in rows
        ]

    _echo_json(_run(action))


# --- quotas -------------------------------------------------------------------------------------


@main.group()
def quota() -> None:
    """Set, list and delete tenants' quota policies (a running hub applies changes at its next registry refresh)."""


_scope_options = [
    click.option("--tenant", "tenant_name", required=True, help="Tenant name."),
    click.option("--key-prefix", default=None, help="Narrow the policy to one of the tenant's keys (kvb_1a2b3c4d)."),
    click.option("--model", "model_name", default=None, help="Narrow the policy to one model alias."),
]


def _scope(command: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(_scope_options):
        command = option(command)
    return command


@quota.command("set")
@_scope
@click.option("--rpm", type=click.IntRange(min=1), default=None, help="Requests per minute.")
@click.option("--tpm", type=click.IntRange(min=1), default=None, help="Tokens per minute.")
@click.option("--monthly-tokens", type=click.IntRange(min=1), default=None, help="Tokens per month (Europe/Berlin).")
@click.option("--max-concurrent", type=click.IntRange(min=1), default=None, help="Requests in flight at once.")
def quota_set(
    tenant_name: str,
    key_prefix: str | None,
    model_name: str | None,
    rpm: int | None,
    tpm: int | None,
    monthly_tokens: int | None,
    max_concurrent: int | None,
) -> None:
    """Create or replace the policy of a scope; limits not given are unlimited."""

    async def action(session: AsyncSession) -> dict[str, Any]:
        quotas = QuotaPolicyService(session=session)
        t = await TenantService(session=session).get_by_name(tenant_name)
        key_id = (await quotas.key_of_tenant(t.id, key_prefix)).id if key_prefix else None
        data = QuotaPolicySet(
            api_key_id=key_id,
            model=model_name,
            requests_per_minute=rpm,
            tokens_per_minute=tpm,
            monthly_tokens=monthly_tokens,
            max_concurrent=max_concurrent,
        )
        policy = await quotas.set_policy(t.id, data, Actor.cli())
        return {"tenant": t.name, **policy_summary(policy, await quotas.key_prefixes(t.id))}

    _echo_json(_run(action))


@quota.command("list")
@click.option("--tenant", "tenant_name", required=True, help="Tenant name.")
def quota_list(tenant_name: str) -> None:
    """List a tenant's policies (limits only; the live usage is in GET /api/quota)."""

    async def action(session: AsyncSession) -> list[dict[str, Any]]:
        quotas = QuotaPolicyService(session=session)
        t = await TenantService(session=session).get_by_name(tenant_name)
        prefixes = await quotas.key_prefixes(t.id)
        return [policy_summary(p, prefixes) for p in await quotas.policies_of(t.id)]

    _echo_json(_run(action))


@quota.command("delete")
@_scope
def quota_delete(tenant_name: str, key_prefix: str | None, model_name: str | None) -> None:
    """Delete the policy of a scope (without --key-prefix and --model: the tenant-wide one)."""

    async def action(session: AsyncSession) -> str:
        quotas = QuotaPolicyService(session=session)
        t = await TenantService(session=session).get_by_name(tenant_name)
        key_id = (await quotas.key_of_tenant(t.id, key_prefix)).id if key_prefix else None
        await quotas.delete_policy(t.id, key_id, model_name, Actor.cli())
        return f"deleted the quota policy of {t.name} for {scope_label(key_id, model_name)}"

    click.echo(_run(action))


# --- rollout gate -------------------------------------------------------------------------------


@main.group()
def rollout() -> None:
    """Gate models on published evaluation reports (a running hub applies changes at its next registry refresh)."""


def _rollout(session: AsyncSession) -> RolloutService:
    return RolloutService(session, CatalogEvidence())


def _struct(data: dict[str, Any], kind: type[T]) -> T:
    try:
        return msgspec.convert(data, kind)
    except msgspec.ValidationError as exc:
        raise click.ClickException(str(exc)) from None


@rollout.command("require")
@click.option("--model", "model_name", required=True, help="The model alias.")
@click.option("--use-case", default=None, help="A catalogue use case slug (default: every request for the model).")
@click.option("--suite", "suites", multiple=True, required=True, help="A suite whose latest report must pass.")
def rollout_require(model_name: str, use_case: str | None, suites: tuple[str, ...]) -> None:
    """Require passing reports of SUITEs before MODEL serves USE_CASE (replaces the suites of an existing one)."""
    data = _struct({"model": model_name, "use_case": use_case, "suites": list(suites)}, RequirementSet)

    async def action(session: AsyncSession) -> Any:
        return msgspec.to_builtins(requirement_read(await _rollout(session).set_requirement(data, Actor.cli())))

    _echo_json(_run(action))


@rollout.command("override")
@click.option("--model", "model_name", required=True, help="The model alias.")
@click.option("--use-case", default=None, help="A catalogue use case slug (default: every use case).")
@click.option("--reason", required=True, help="Why (at least 10 characters; kept in the audit trail).")
@click.option(
    "--expires", default=None, help="When the override ends, ISO 8601 (e.g. 2026-12-31T23:59:00+01:00; no offset: UTC)."
)
def rollout_override(model_name: str, use_case: str | None, reason: str, expires: str | None) -> None:
    """Release MODEL for USE_CASE (or every use case) whatever the reports say."""
    try:
        expires_at = datetime.fromisoformat(expires) if expires else None
    except ValueError:
        raise click.ClickException("--expires must be an ISO 8601 time, e.g. 2026-12-31T23:59:00+01:00") from None
    data = _struct({"model": model_name, "use_case": use_case, "reason": reason}, OverrideCreate)
    data = msgspec.structs.replace(data, expires_at=expires_at)

    async def action(session: AsyncSession) -> Any:
        return msgspec.to_builtins(override_read(await _rollout(session).grant_override(data, Actor.cli())))

    _echo_json(_run(action))


@rollout.command("revoke")
@click.argument("override_id")
def rollout_revoke(override_id: str) -> None:
    """End the override OVERRIDE_ID now."""
    try:
        parsed = UUID(override_id)
    except ValueError:
        raise click.ClickException("OVERRIDE_ID must be the override's id (a UUID)") from None

    async def action(session: AsyncSession) -> Any:
        return msgspec.to_builtins(override_read(await _rollout(session).revoke_override(parsed, Actor.cli())))

    _echo_json(_run(action))


@rollout.command("status")
@click.option("--model", "model_name", default=None, help="Only this model alias.")
@click.option("--use-case", default=None, help="Judge for a caller with this use case.")
def rollout_status(model_name: str | None, use_case: str | None) -> None:
    """Every requirement: released or not, by reports or an override, and the latest report per suite."""

    async def action(session: AsyncSession) -> Any:
        service = _rollout(session)
        status = msgspec.to_builtins(await service.status(model_name, use_case))
        active = await service.overrides(model_name, active_only=True)
        return {**status, "active_overrides": [msgspec.to_builtins(override_read(o)) for o in active]}

    _echo_json(_run(action))


# --- demo ---------------------------------------------------------------------------------------

DEMO_STATE, DEMO_TENANT, DEMO_BACKEND = "Land (Demo)", "Demo-Gemeinde", "local-cpu"


@main.command("demo")
@click.option("--vllm-url", required=True, help="Root URL of the local vLLM server.")
@click.option("--served-model", default="SmolLM2-135M-Instruct", help="Its served model name.")
@click.option("--alias", default="smollm2", help="The model name tenants use.")
def demo(vllm_url: str, served_model: str, alias: str) -> None:
    """Idempotently set up the embedded demo: state tenant, demo municipality, local backend, model,
    and the catalogue's seed content (use cases, funding programmes, two demo towns with register entries).

    Prints JSON with a fresh operator key and a fresh client key of the demo municipality.
    """

    async def action(session: AsyncSession) -> dict[str, Any]:
        actor, tenants, keys = Actor.cli(), TenantService(session=session), ApiKeyService(session=session)
        backends, models = BackendService(session=session), ModelService(session=session)
        state = await tenants.get_one_or_none(name=DEMO_STATE) or await tenants.create_tenant(
            TenantCreate(name=DEMO_STATE, state="Mecklenburg-Vorpommern", kind=TenantKind.STATE), actor
        )
        town = await tenants.get_one_or_none(name=DEMO_TENANT) or await tenants.create_tenant(
            TenantCreate(name=DEMO_TENANT, state="Mecklenburg-Vorpommern", ags="00000000"), actor
        )
        existing = await backends.get_one_or_none(name=DEMO_BACKEND)
        if existing is None:
            async with httpx.AsyncClient(trust_env=False) as http:
                await backends.register(
                    BackendCreate(
                        name=DEMO_BACKEND,
                        base_url=vllm_url,
                        location="DE-MV-Schwerin",
                        operator="Landes-IT (Demo)",
                        served_models=[served_model],
                    ),
                    actor,
                    http,
                )
        elif existing.base_url != vllm_url.rstrip("/") or served_model not in existing.served_models:
            await backends.update_backend(
                existing.id, BackendUpdate(base_url=vllm_url, served_models=[served_model]), actor
            )
        if await models.get_one_or_none(name=alias) is None:
            await models.publish(
                ModelCreate(
                    name=alias,
                    upstream_name=served_model,
                    description="SmolLM2-135M-Instruct auf CPU (Demo, kleine Qualität)",
                ),
                actor,
            )
        _, operator = await keys.issue(state, KeyCreate(label="demo operator", role=KeyRole.OPERATOR), actor)
        _, client = await keys.issue(town, KeyCreate(label="demo client"), actor)
        seeded = await load_seed(session)
        return {
            "operator_key": operator.secret,
            "client_key": client.secret,
            "tenant": town.name,
            "model": alias,
            "catalogue_added": dataclasses.asdict(seeded),
        }

    _echo_json(_run(action))


# --- catalogue ---------------------------------------------------------------------------------


@main.group()
def catalog() -> None:
    """The catalogue of use cases and the transparency register."""


@catalog.command("seed")
def catalog_seed() -> None:
    """Load the seed use cases, funding programmes and the two demo towns (what exists is kept)."""

    async def action(session: AsyncSession) -> dict[str, Any]:
        return dataclasses.asdict(await load_seed(session))

    _echo_json(_run(action))


# --- usage --------------------------------------------------------------------------------------


@main.command("chargeback")
@click.option("--month", required=True, help="YYYY-MM (Europe/Berlin).")
def chargeback(month: str) -> None:
    """Print the monthly per-tenant usage as CSV."""
    try:
        month_bounds(month)
    except ValueError:
        raise click.ClickException("month must look like 2026-11") from None
    sys.stdout.write(_run(lambda session: chargeback_csv(session, month)))


# --- audit trail ------------------------------------------------------------------------------


@main.group()
def audit() -> None:
    """The audit trail of every admin and editor action: check its hash chain, export it."""


@audit.command("verify")
@click.option(
    "--expect-head",
    default=None,
    metavar="SEQ:HASH",
    help="The head an earlier verification reported (kept outside the database): also detects a cut-off tail.",
)
def audit_verify(expect_head: str | None) -> None:
    """Walk the hash chain and print the verdict as JSON; exit 0 if it is intact, 1 if it is broken."""
    try:
        expected = parse_head(expect_head) if expect_head is not None else None
    except HubError as exc:
        raise click.BadParameter(exc.message, param_hint="--expect-head") from None
    report = _run(lambda session: verify_chain(session, expect_head=expected))
    _echo_json(msgspec.to_builtins(report))
    if not report.valid:
        click.echo(f"audit trail BROKEN at seq {report.broken_seq}: {report.problem}", err=True)
        sys.exit(1)
    click.echo(
        f"audit trail intact: {report.rows_checked} events; note the head {report.head_seq}:{report.head_hash}",
        err=True,
    )


def _time_option(value: str | None, name: str) -> datetime | None:
    try:
        return datetime.fromisoformat(value) if value else None
    except ValueError:
        raise click.BadParameter(
            "an ISO 8601 time, e.g. 2026-11-01 or 2026-11-01T08:00:00+01:00", param_hint=name
        ) from None


@audit.command("export")
@click.option("--format", "export_format", type=click.Choice(["jsonl", "csv"]), default="jsonl", show_default=True)
@click.option(
    "--output", type=click.Path(dir_okay=False, path_type=Path), default=None, help="File to write (default: stdout)."
)
@click.option("--actor", default=None, help="Only this actor, e.g. key:kv_ab12cd or cli:root.")
@click.option("--action", "action_name", default=None, help="Only this action, e.g. tenant.update.")
@click.option("--target-type", default=None, help="Only this kind of object, e.g. api_key.")
@click.option("--target-id", default=None, help="Only this object.")
@click.option("--tenant", "tenant_ref", default=None, help="Only actions by this tenant (name or id).")
@click.option("--since", default=None, help="From this time on (ISO 8601; no offset: UTC).")
@click.option("--until", default=None, help="Before this time (ISO 8601; no offset: UTC).")
def audit_export(
    export_format: ExportFormat,
    output: Path | None,
    actor: str | None,
    action_name: str | None,
    target_type: str | None,
    target_id: str | None,
    tenant_ref: str | None,
    since: str | None,
    until: str | None,
) -> None:
    """Write the matching events in chain order: JSON Lines (the hashed values) or CSV."""
    since_at, until_at = _time_option(since, "--since"), _time_option(until, "--until")
    target = output.open("w", encoding="utf-8", newline="") if output else sys.stdout

    async def action(session: AsyncSession) -> int:
        tenant_id = None
        if tenant_ref:
            try:
                tenant_id = UUID(tenant_ref)
            except ValueError:
                tenant_id = (await TenantService(session=session).get_by_name(tenant_ref)).id
        filters = AuditFilter(
            actor=actor,
            action=action_name,
            target_type=target_type,
            target_id=target_id,
            tenant_id=tenant_id,
            since=since_at,
            until=until_at,
        )
        lines = 0
        async for line in export_lines(session, filters, export_format):
            target.write(line)
            lines += 1
        return lines

    try:
        written = _run(action)
    finally:
        if output:
            target.close()
    if output:
        events = written - (1 if export_format == "csv" else 0)
        click.echo(f"{events} events written to {output}", err=True)


# --- evaluation harness ------------------------------------------------------------------------

try:
    # The harness is a separate client (it never imports the hub); the command line only mounts it.
    from evals.cli import eval_group
except ImportError as missing:
    _missing_evals = str(missing)

    @main.command("eval", context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
    def eval_unavailable() -> None:
        """Evaluate models (needs the 'evals' extra)."""
        raise click.ClickException(
            f"the evaluation harness needs the 'evals' extra (uv sync --extra evals): {_missing_evals}"
        )
else:
    main.add_command(eval_group)


if __name__ == "__main__":
    main()
