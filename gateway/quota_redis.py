"""Quota counters in Redis, shared by several gateway replicas.

Same interface and semantics as :class:`gateway.quotas.InProcessQuotaCounters`; only where the
counters live differs. Every check-and-charge is one Lua script, so it is atomic across replicas:
either every scope admits the request and all are charged, or none is.

Keys of a scope ``S`` (``P`` is the prefix, default ``kvb:quota:``)::

    P S :rpm: <minute>     requests in that minute (minute = floor(unix time / 60)), expires after 120 s
    P S :tpm: <minute>     tokens in that minute, expires after 120 s
    P S :month: <YYYY-MM>  tokens in that Berlin calendar month, expires 40 days after the last write
    P S :open              sorted set: open reservation ids, scored by their expiry (unix time)

Time is the client's clock (injectable for tests), passed to the scripts as an argument: a new
minute or month is simply a new key, so no reset job has to run.

Concurrency survives crashes: a reservation is a member of every scope's ``:open`` set with an
expiry ``ttl_s`` ahead; the reserve script first drops expired members, then counts. A background
task of each replica pushes the expiry of its own open reservations forward every
``renew_interval_s``, so a long stream keeps its slot while its replica lives; when a replica dies,
its slots come free after at most ``ttl_s``. Like in process, the tokens of an expired reservation
stay charged (the safe side of the budget), and a reservation that has been held for ``max_hold_s``
(a hung task) is no longer renewed, so it expires like the in-process store's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Sequence
from typing import Any, cast
from uuid import uuid4

from redis.asyncio import BlockingConnectionPool, Redis
from redis.exceptions import RedisError

from gateway.quotas import (
    Clock,
    Limit,
    QuotaLimits,
    QuotaScope,
    Reservation,
    month_key,
    quota_refusal,
    utc_now,
)

log = logging.getLogger("kiverbund.gateway.quotas")

MINUTE_TTL_S = 120
"""How long a minute counter is kept (its minute, plus time for late settles)."""
MONTH_TTL_S = 40 * 24 * 3600
"""How long a month counter is kept after its last write (the month, plus time for late settles)."""

RESERVE_LUA = """
-- Check every scope, then charge all of them: all admit the request or none is charged.
--
-- KEYS: 4 per scope: requests this minute, tokens this minute, tokens this month, open reservations (zset)
-- ARGV[1] now (unix time, the client's clock)   ARGV[2] tokens asked for
-- ARGV[3] expiry of the new reservation          ARGV[4] reservation id
-- ARGV[5] ttl of minute keys (s)                 ARGV[6] ttl of month keys (s)
-- ARGV[7] ttl of the open-reservations zset (s)
-- ARGV[8..] 4 per scope: requests/minute, tokens/minute, monthly tokens, max concurrent ('' = unlimited)
--
-- Returns {0} when admitted, otherwise
-- {scope index (1-based), limit name, requests this minute, tokens this minute, tokens this month}:
-- the counters of the refusing scope before the request, for the error and its x-ratelimit-* headers.
local now = ARGV[1]
local tokens = tonumber(ARGV[2])
local scopes = #KEYS / 4

-- Pass 1: check, in the same order as gateway.quotas.exceeded_limit.
for i = 1, scopes do
    local k, a = (i - 1) * 4, 7 + (i - 1) * 4
    local requests = tonumber(redis.call('GET', KEYS[k + 1]) or '0')
    local minute_tokens = tonumber(redis.call('GET', KEYS[k + 2]) or '0')
    local month_tokens = tonumber(redis.call('GET', KEYS[k + 3]) or '0')
    -- Reservations whose lease ran out (a dead replica, a hung task) free their slot; their tokens
    -- stay charged.
    redis.call('ZREMRANGEBYSCORE', KEYS[k + 4], '-inf', now)
    local concurrent = redis.call('ZCARD', KEYS[k + 4])
    -- tonumber('') is nil: unlimited
    local rpm, tpm = tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2])
    local monthly, max_concurrent = tonumber(ARGV[a + 3]), tonumber(ARGV[a + 4])
    local refused = nil
    if max_concurrent and concurrent >= max_concurrent then
        refused = 'max_concurrent'
    elseif rpm and requests + 1 > rpm then
        refused = 'requests_per_minute'
    elseif tpm and minute_tokens + tokens > tpm then
        refused = 'tokens_per_minute'
    elseif monthly and month_tokens + tokens > monthly then
        refused = 'monthly_tokens'
    end
    if refused then
        return {i, refused, requests, minute_tokens, month_tokens}
    end
end

-- Pass 2: every scope admits; charge them all.
for i = 1, scopes do
    local k = (i - 1) * 4
    redis.call('INCR', KEYS[k + 1])
    redis.call('EXPIRE', KEYS[k + 1], ARGV[5])
    redis.call('INCRBY', KEYS[k + 2], ARGV[2])
    redis.call('EXPIRE', KEYS[k + 2], ARGV[5])
    redis.call('INCRBY', KEYS[k + 3], ARGV[2])
    redis.call('EXPIRE', KEYS[k + 3], ARGV[6])
    redis.call('ZADD', KEYS[k + 4], ARGV[3], ARGV[4])
    -- The zset outlives its longest lease (never shortened by a replica with a shorter ttl).
    if redis.call('TTL', KEYS[k + 4]) < tonumber(ARGV[7]) then
        redis.call('EXPIRE', KEYS[k + 4], ARGV[7])
    end
end
return {0}
"""

FINISH_LUA = """
-- Settle or release a reservation: free its slot and replace the reserved tokens by those used.
--
-- KEYS: 4 per scope, of the reservation's minute and month: requests, tokens, month tokens, open zset
-- ARGV[1] reservation id   ARGV[2] token delta (used - reserved)   ARGV[3] '1': refund the request
--
-- The slot is freed only once: when the lease already ran out (and another replica dropped it), ZREM
-- is a no-op. The token delta and the refund still apply, to the counters of the reservation's
-- minute and month, but only while those exist: an expired counter is not created again.
local delta = tonumber(ARGV[2])
for i = 1, #KEYS / 4 do
    local k = (i - 1) * 4
    redis.call('ZREM', KEYS[k + 4], ARGV[1])
    if ARGV[3] == '1' and redis.call('EXISTS', KEYS[k + 1]) == 1 then
        redis.call('DECR', KEYS[k + 1])
    end
    if delta ~= 0 then
        if redis.call('EXISTS', KEYS[k + 2]) == 1 then
            redis.call('INCRBY', KEYS[k + 2], delta)
        end
        if redis.call('EXISTS', KEYS[k + 3]) == 1 then
            redis.call('INCRBY', KEYS[k + 3], delta)
        end
    end
end
return 0
"""


def _limit_args(limits: QuotaLimits) -> list[str]:
    values = (limits.requests_per_minute, limits.tokens_per_minute, limits.monthly_tokens, limits.max_concurrent)
    return ["" if value is None else str(value) for value in values]


class RedisQuotaCounters:
    """Quota counters in Redis, for several gateway replicas (implements :class:`gateway.quotas.QuotaStore`).

    ``ttl_s`` is the lease of a reservation: how long its slot outlives a dead replica.
    ``renew_interval_s`` (default ``ttl_s / 3``) is how often a live replica extends its leases.
    ``max_hold_s`` (default 900 s, the in-process store's ttl; ``None``: forever) is how long a
    reservation is renewed at most, so that a hung task cannot hold a slot forever.
    ``max_connections`` bounds the connection pool; when all are busy, a call waits for one (up to
    ``timeout_s``, which also bounds every Redis call) instead of failing.
    """

    def __init__(
        self,
        url: str,
        *,
        clock: Clock = utc_now,
        ttl_s: float = 30.0,
        renew_interval_s: float | None = None,
        max_hold_s: float | None = 900.0,
        prefix: str = "kvb:quota:",
        max_connections: int = 50,
        timeout_s: float = 5.0,
    ) -> None:
        if ttl_s <= 0:
            raise ValueError("ttl_s must be positive")
        # redis-py's default pool raises MaxConnectionsError beyond 100 connections in use; a blocking
        # pool makes a burst of requests wait briefly for a connection instead.
        pool = BlockingConnectionPool.from_url(
            url,
            max_connections=max_connections,
            timeout=timeout_s,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            decode_responses=True,
        )
        self._redis: Redis = Redis.from_pool(pool)
        self._clock = clock
        self._ttl_s = ttl_s
        self._renew_interval_s = renew_interval_s if renew_interval_s is not None else ttl_s / 3
        self._max_hold_s = max_hold_s
        self._prefix = prefix
        self._zset_ttl_s = math.ceil(ttl_s) + MINUTE_TTL_S
        self._reserve_script = self._redis.register_script(RESERVE_LUA)
        self._finish_script = self._redis.register_script(FINISH_LUA)
        # This replica's open reservations and when they were taken (clock), to renew their leases.
        self._open: dict[str, tuple[Reservation, float]] = {}
        self._renewer: asyncio.Task[None] | None = None
        self._closed = False

    # --- keys ------------------------------------------------------------------------------------

    def _keys(self, scope_name: str, minute: int, month: str) -> list[str]:
        base = f"{self._prefix}{scope_name}"
        return [f"{base}:rpm:{minute}", f"{base}:tpm:{minute}", f"{base}:month:{month}", f"{base}:open"]

    def _open_key(self, scope_name: str) -> str:
        return f"{self._prefix}{scope_name}:open"

    # --- QuotaStore ------------------------------------------------------------------------------

    async def reserve(self, scopes: Sequence[QuotaScope], tokens: int) -> Reservation:
        """Admit a request that may use up to ``tokens`` in every scope, or raise (429/400).

        One Lua script checks every scope and charges all of them atomically.
        """
        self.start()
        now = self._clock()
        stamp = now.timestamp()
        minute, month = int(stamp // 60), month_key(now)
        reservation = Reservation(
            id=uuid4().hex,
            scopes=tuple(scopes),
            tokens=tokens,
            minute=minute,
            month=month,
            expires_at=stamp + self._ttl_s,
        )
        keys: list[str] = []
        args: list[str | int] = [
            repr(stamp),
            tokens,
            repr(reservation.expires_at),
            reservation.id,
            MINUTE_TTL_S,
            MONTH_TTL_S,
            self._zset_ttl_s,
        ]
        for scope in scopes:
            keys += self._keys(scope.name, minute, month)
            args += _limit_args(scope.limits)
        if keys:
            result = cast(list[Any], await self._reserve_script(keys=keys, args=args))
            if int(result[0]) != 0:
                index, limit, requests, minute_tokens, month_tokens = result
                raise quota_refusal(
                    scopes[int(index) - 1],
                    cast(Limit, limit),
                    tokens,
                    requests=int(requests),
                    minute_tokens=int(minute_tokens),
                    month_tokens=int(month_tokens),
                    retry_minute_s=60 - stamp % 60,
                )
        # Only now (admitted, back from Redis) is it renewed: a reserve cancelled in flight leaves at
        # most a reservation that nobody renews, which expires after ttl_s.
        self._open[reservation.id] = (reservation, stamp)
        return reservation

    async def settle(self, reservation: Reservation, used_tokens: int) -> None:
        """Replace the reserved tokens by those really used and free the concurrency slot (once)."""
        await self._finish(reservation, used_tokens, refund_request=False)

    async def release(self, reservation: Reservation, used_tokens: int = 0) -> None:
        """The request failed or was refused upstream: charge what was used and refund the request."""
        await self._finish(reservation, used_tokens, refund_request=used_tokens == 0)

    async def usage(self, scope_name: str) -> dict[str, int]:
        """Current counters of a scope (for the tenant's quota view)."""
        now = self._clock()
        stamp = now.timestamp()
        requests_key, tokens_key, month_tokens_key, open_key = self._keys(scope_name, int(stamp // 60), month_key(now))
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.get(requests_key)
            pipe.get(tokens_key)
            pipe.get(month_tokens_key)
            pipe.zcount(open_key, f"({stamp!r}", "+inf")  # leases that have not run out
            requests, tokens, month_tokens, concurrent = await pipe.execute()
        return {
            "requests_this_minute": int(requests or 0),
            "tokens_this_minute": int(tokens or 0),
            "tokens_this_month": int(month_tokens or 0),
            "concurrent": int(concurrent),
        }

    async def seed_month(self, scope_name: str, month: str, tokens: int) -> None:
        """Start a scope's monthly counter from the ledger, unless Redis already has one for ``month``."""
        await self._redis.set(self._keys(scope_name, 0, month)[2], tokens, nx=True, ex=MONTH_TTL_S)

    async def close(self) -> None:
        """Stop renewing leases and close the connections.

        Open reservations are not released: their slots come free after ``ttl_s`` (drain requests
        before closing).
        """
        self._closed = True
        if self._renewer is not None:
            self._renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._renewer
            self._renewer = None
        await self._redis.aclose()

    # --- Redis specifics -------------------------------------------------------------------------

    async def ping(self) -> bool:
        """Whether Redis answers (for readiness checks); never raises."""
        try:
            return bool(await self._redis.ping())
        except (RedisError, OSError):
            return False

    def start(self) -> None:
        """Start the lease-renewal task (also done by the first :meth:`reserve`); needs a running loop."""
        if self._renewer is None and not self._closed:
            self._renewer = asyncio.get_running_loop().create_task(self._renew_forever(), name="quota-lease-renewal")

    async def renew(self) -> None:
        """Push the expiry of this replica's open reservations ``ttl_s`` ahead (one pass of the renewer).

        ``ZADD XX`` only updates members that still exist: a reservation settled meanwhile, or dropped
        by another replica because its lease ran out, is not brought back.
        """
        stamp = self._clock().timestamp()
        expires_at = stamp + self._ttl_s
        by_key: dict[str, dict[str, float]] = {}
        for reservation_id, (reservation, taken_at) in list(self._open.items()):
            if self._max_hold_s is not None and stamp - taken_at >= self._max_hold_s:
                del self._open[reservation_id]  # a hung task: let its lease run out
                continue
            reservation.expires_at = expires_at
            for scope in reservation.scopes:
                by_key.setdefault(self._open_key(scope.name), {})[reservation_id] = expires_at
        if not by_key:
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            for key, members in by_key.items():
                pipe.zadd(key, members, xx=True)
                pipe.expire(key, self._zset_ttl_s, gt=True)
            await pipe.execute()

    async def _renew_forever(self) -> None:
        while True:
            await asyncio.sleep(self._renew_interval_s)
            try:
                await self.renew()
            except (RedisError, OSError) as exc:  # Redis away for a moment: try again next time
                log.warning("renewing quota leases failed: %s", exc)

    async def _finish(self, reservation: Reservation, used_tokens: int, *, refund_request: bool) -> None:
        if reservation.done:
            return
        # Marked done before the round trip: should it fail, the lease is no longer renewed and runs
        # out after ttl_s, with the reserved tokens charged.
        reservation.done = True
        self._open.pop(reservation.id, None)
        if not reservation.scopes:
            return
        keys: list[str] = []
        for scope in reservation.scopes:
            keys += self._keys(scope.name, reservation.minute, reservation.month)
        delta = used_tokens - reservation.tokens
        await self._finish_script(keys=keys, args=[reservation.id, delta, "1" if refund_request else "0"])
