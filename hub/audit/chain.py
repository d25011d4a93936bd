"""Checking the audit trail's hash chain (see :mod:`hub.audit.hashing` and :mod:`hub.audit.models`)."""

from __future__ import annotations

import re

import msgspec
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.audit.hashing import GENESIS, HASHED_FIELDS, event_hash
from hub.audit.models import AuditChainHead, AuditEvent
from hub.errors import HubError

_HEAD_TEXT = re.compile(r"^(\d{1,18}):([0-9a-f]{64})$")
_COLUMNS = [getattr(AuditEvent, name) for name in ("hash", *HASHED_FIELDS)]


class ChainReport(msgspec.Struct, kw_only=True):
    """The verdict on the audit trail's hash chain."""

    valid: bool
    rows_checked: int
    head_seq: int
    """The last event's ``seq`` (0 for an empty trail)."""
    head_hash: str
    """The last event's hash; note ``head_seq:head_hash`` and pass it as ``expect_head`` later."""
    broken_seq: int | None = None
    """The first position where the chain is broken."""
    problem: str | None = None


def parse_head(text: str) -> tuple[int, str]:
    """``SEQ:HASH`` (as a verification reported it) as a pair; 400 naming ``expect_head`` otherwise."""
    match = _HEAD_TEXT.match(text.strip().lower())
    if match is None:
        raise HubError("expect_head must look like SEQ:HASH (a number, a colon, 64 hex digits)", param="expect_head")
    return int(match.group(1)), match.group(2)


async def verify_chain(
    session: AsyncSession, *, expect_head: tuple[int, str] | None = None, batch: int = 1000
) -> ChainReport:
    """Walk the chain from ``seq`` 1 and report the first break.

    A hash that does not match its row means the row was changed; a missing ``seq`` or a ``prev_hash``
    that does not match the row before means rows were deleted, inserted or rewritten. The head record
    (``audit_chain_head``) shows a cut-off tail, unless the attacker rewrote it too; ``expect_head``, a
    ``(seq, hash)`` noted from an earlier verification outside the database, shows that as well.
    """
    checked, prev_hash, last_seq = 0, GENESIS, 0
    expected_hash = GENESIS if expect_head is not None and expect_head[0] == 0 else None
    while True:
        query = select(*_COLUMNS).where(AuditEvent.seq > last_seq).order_by(AuditEvent.seq).limit(batch)
        rows = (await session.execute(query)).all()
        for row in rows:
            fields = row._asdict()
            seq = fields["seq"]
            problem = None
            if seq <= last_seq:
                problem = f"seq {seq} appears twice: an event was inserted"
            elif seq != last_seq + 1:
                seq, problem = last_seq + 1, f"seq {last_seq + 1} is missing: the event was deleted"
            elif fields["prev_hash"] != prev_hash:
                problem = (
                    "prev_hash does not match the hash of the event before: an event was deleted, "
                    "inserted or rewritten there"
                )
            elif event_hash(fields) != fields["hash"]:
                problem = "the hash does not match the event: the event was modified"
            if problem is not None:
                return _broken(checked, last_seq, prev_hash, seq, problem)
            if expect_head is not None and seq == expect_head[0]:
                expected_hash = fields["hash"]
            checked, prev_hash, last_seq = checked + 1, fields["hash"], seq
        if len(rows) < batch:
            break
    head = await session.get(AuditChainHead, 1)
    if head is not None and (head.seq, head.hash) != (last_seq, prev_hash):
        return _broken(
            checked,
            last_seq,
            prev_hash,
            last_seq + 1,
            f"the chain ends at seq {last_seq}, but its head record says seq {head.seq}: "
            + ("events at the end were deleted" if head.seq > last_seq else "the head record or the tail was altered"),
        )
    if expect_head is not None:
        want_seq, want_hash = expect_head
        if want_seq > last_seq:
            return _broken(
                checked,
                last_seq,
                prev_hash,
                last_seq + 1,
                f"the chain ends at seq {last_seq}, but seq {want_seq} was expected: events at the end were deleted",
            )
        if expected_hash != want_hash:
            return _broken(
                checked,
                last_seq,
                prev_hash,
                want_seq,
                f"seq {want_seq} has another hash than expected: the chain was rewritten up to there",
            )
    return ChainReport(valid=True, rows_checked=checked, head_seq=last_seq, head_hash=prev_hash)


def _broken(checked: int, last_seq: int, last_hash: str, broken_seq: int, problem: str) -> ChainReport:
    return ChainReport(
        valid=False,
        rows_checked=checked,
        head_seq=last_seq,
        head_hash=last_hash,
        broken_seq=broken_seq,
        problem=problem,
    )
