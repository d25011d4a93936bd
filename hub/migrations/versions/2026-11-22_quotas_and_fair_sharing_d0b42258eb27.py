"""quotas and fair sharing

Revision ID: d0b42258eb27
Revises: 9ab5e7a35363
Create Date: 2026-11-22 04:51:23.432881
"""

from __future__ import annotations

import advanced_alchemy.types
import sqlalchemy as sa
from advanced_alchemy.types import GUID, DateTimeUTC
from alembic import op
from sqlalchemy import Text


sa.GUID = GUID
sa.DateTimeUTC = DateTimeUTC

revision = 'd0b42258eb27'
down_revision = '9ab5e7a35363'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "quota_policy",
        sa.Column("id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("tenant_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("api_key_id", advanced_alchemy.types.guid.GUID(length=16), nullable=True),
        sa.Column("model", sa.String(length=200), nullable=True),
        sa.Column("scope", sa.String(length=300), nullable=False),
        sa.Column("requests_per_minute", sa.Integer(), nullable=True),
        sa.Column("tokens_per_minute", sa.Integer(), nullable=True),
        sa.Column("monthly_tokens", sa.BigInteger(), nullable=True),
        sa.Column("max_concurrent", sa.Integer(), nullable=True),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("created_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("updated_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["api_key_id"], ["api_key.id"], name=op.f("fk_quota_policy_api_key_id_api_key"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenant.id"], name=op.f("fk_quota_policy_tenant_id_tenant"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quota_policy")),
        sa.UniqueConstraint("tenant_id", "scope", name="uq_quota_policy_tenant_scope"),
    )
    with op.batch_alter_table("quota_policy", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_quota_policy_tenant_id"), ["tenant_id"], unique=False)
    with op.batch_alter_table("model", schema=None) as batch_op:
        batch_op.add_column(sa.Column("default_max_tokens", sa.Integer(), nullable=True))
    with op.batch_alter_table("tenant", schema=None) as batch_op:
        batch_op.add_column(sa.Column("weight", sa.Float(), server_default="1.0", nullable=False))
    with op.batch_alter_table("usage_record", schema=None) as batch_op:
        batch_op.add_column(sa.Column("queue_wait_ms", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("usage_record", schema=None) as batch_op:
        batch_op.drop_column("queue_wait_ms")
    with op.batch_alter_table("tenant", schema=None) as batch_op:
        batch_op.drop_column("weight")
    with op.batch_alter_table("model", schema=None) as batch_op:
        batch_op.drop_column("default_max_tokens")
    with op.batch_alter_table("quota_policy", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_quota_policy_tenant_id"))
    op.drop_table("quota_policy")
