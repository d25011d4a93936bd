"""audit trail hash chain: audit_event.seq/prev_hash/hash/before/after, audit_chain_head, append-only triggers

The existing events are chained in the order they were written (created_at, id), and the head row
points at the last of them. Triggers then refuse UPDATE and DELETE on audit_event (and deleting the
head row) on both SQLite and PostgreSQL; see hub/audit/models.py.

Revision ID: 801a27c348f2
Revises: f8899d212fa4
Create Date: 2026-11-22 12:00:00.000000
"""

from __future__ import annotations

import advanced_alchemy.types
import sqlalchemy as sa
from advanced_alchemy.types import GUID, DateTimeUTC, JsonB
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

from hub.audit.hashing import GENESIS, event_hash

sa.GUID = GUID
sa.DateTimeUTC = DateTimeUTC

revision = '801a27c348f2'
down_revision = 'f8899d212fa4'
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'cockroachdb').with_variant(advanced_alchemy.types.json.ORA_JSONB(), 'oracle').with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql')

# SQLite reflects the GUID columns (BINARY(16)) as NUMERIC(16); a batch rebuild must keep their real type.
def _guid_columns() -> list[sa.Column]:
    return [
        sa.Column('id', advanced_alchemy.types.guid.GUID(length=16), primary_key=True),
        sa.Column('actor_tenant_id', advanced_alchemy.types.guid.GUID(length=16), nullable=True),
    ]

_MESSAGE = "the audit trail is append-only"

_SQLITE_TRIGGERS = {
    "audit_event_no_update": f"BEFORE UPDATE ON audit_event BEGIN SELECT RAISE(ABORT, '{_MESSAGE}: UPDATE on audit_event refused'); END",
    "audit_event_no_delete": f"BEFORE DELETE ON audit_event BEGIN SELECT RAISE(ABORT, '{_MESSAGE}: DELETE on audit_event refused'); END",
    "audit_chain_head_no_delete": f"BEFORE DELETE ON audit_chain_head BEGIN SELECT RAISE(ABORT, '{_MESSAGE}: DELETE on audit_chain_head refused'); END",
}

_POSTGRES_FUNCTION = f"""
CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '{_MESSAGE}: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'integrity_constraint_violation';
END;
$$
"""

_POSTGRES_TRIGGERS = {
    "audit_event_append_only": ("audit_event", "BEFORE UPDATE OR DELETE", "FOR EACH ROW"),
    "audit_event_no_truncate": ("audit_event", "BEFORE TRUNCATE", "FOR EACH STATEMENT"),
    "audit_chain_head_no_delete": ("audit_chain_head", "BEFORE DELETE", "FOR EACH ROW"),
    "audit_chain_head_no_truncate": ("audit_chain_head", "BEFORE TRUNCATE", "FOR EACH STATEMENT"),
}


def _backfill(connection: sa.Connection) -> tuple[int, str]:
    """Chain the existing events in the order they were written; the last (seq, hash)."""
    audit = sa.table(
        'audit_event',
        sa.column('id', GUID()),
        sa.column('created_at', DateTimeUTC(timezone=True)),
        sa.column('actor', sa.String()),
        sa.column('actor_tenant_id', GUID()),
        sa.column('action', sa.String()),
        sa.column('target_type', sa.String()),
        sa.column('target_id', sa.String()),
        sa.column('details', JsonB),
        sa.column('before', JsonB),
        sa.column('after', JsonB),
        sa.column('seq', sa.BigInteger()),
        sa.column('prev_hash', sa.String()),
        sa.column('hash', sa.String()),
    )
    rows = connection.execute(sa.select(audit).order_by(audit.c.created_at, audit.c.id)).mappings().all()
    seq, prev_hash = 0, GENESIS
    for row in rows:
        seq += 1
        current = event_hash({**row, 'seq': seq, 'prev_hash': prev_hash})
        connection.execute(
            audit.update().where(audit.c.id == row['id']).values(seq=seq, prev_hash=prev_hash, hash=current)
        )
        prev_hash = current
    return seq, prev_hash


def upgrade() -> None:
    op.create_table('audit_chain_head',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.CheckConstraint('id = 1', name=op.f('ck_audit_chain_head_one_row')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_chain_head'))
    )
    # Nullable first: the existing rows get their values from the back-fill below.
    with op.batch_alter_table('audit_event', schema=None, reflect_args=_guid_columns()) as batch_op:
        batch_op.add_column(sa.Column('seq', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('before', _JSON, nullable=True))
        batch_op.add_column(sa.Column('after', _JSON, nullable=True))
        batch_op.add_column(sa.Column('prev_hash', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('hash', sa.String(length=64), nullable=True))

    connection = op.get_bind()
    head_seq, head_hash = _backfill(connection)
    connection.execute(
        sa.text("INSERT INTO audit_chain_head (id, seq, hash) VALUES (1, :seq, :hash)"),
        {"seq": head_seq, "hash": head_hash},
    )

    with op.batch_alter_table('audit_event', schema=None, reflect_args=_guid_columns()) as batch_op:
        batch_op.alter_column('seq', existing_type=sa.BigInteger(), nullable=False)
        batch_op.alter_column('prev_hash', existing_type=sa.String(length=64), nullable=False)
        batch_op.alter_column('hash', existing_type=sa.String(length=64), nullable=False)
        batch_op.create_unique_constraint(batch_op.f('uq_audit_event_seq'), ['seq'])

    if connection.dialect.name == 'postgresql':
        op.execute(_POSTGRES_FUNCTION)
        for name, (table, when, each) in _POSTGRES_TRIGGERS.items():
            op.execute(f"CREATE TRIGGER {name} {when} ON {table} {each} EXECUTE FUNCTION audit_append_only()")
    else:
        for name, body in _SQLITE_TRIGGERS.items():
            op.execute(f"CREATE TRIGGER {name} {body}")


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        for name, (table, _, _) in _POSTGRES_TRIGGERS.items():
            op.execute(f"DROP TRIGGER {name} ON {table}")
        op.execute("DROP FUNCTION audit_append_only()")
    else:
        for name in _SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER {name}")

    with op.batch_alter_table('audit_event', schema=None, reflect_args=_guid_columns()) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_audit_event_seq'), type_='unique')
        batch_op.drop_column('hash')
        batch_op.drop_column('prev_hash')
        batch_op.drop_column('after')
        batch_op.drop_column('before')
        batch_op.drop_column('seq')

    op.drop_table('audit_chain_head')
