"""Per-tenant quotas: reserve before forwarding, settle with the real usage, release on failure.

A request is checked against every scope that applies to it (the tenant, its key, either narrowed to
the model); all must admit it, and then all are charged together. Limits: requests and tokens per
minute (fixed one-minute windows), a monthly token budget (calendar month in Europe/Berlin: a new
month is a new counter, so no reset job has to run) and concurrent requests.

:class:`InProcessQuotaCounters` is the single-replica store. Checking and charging happen without an
``await`` in between, so on one event loop a reservation is atomic. Several replicas need a shared
store with the same interface (Redis, with the check-and-charge in one Lua script).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal, Protocol

from hub.errors import HubError
from hub.usage.services import BERLIN

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The default clock."""
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class QuotaLimits:
    """Limits of one scope; ``None`` means unlimited."""

    requests_per_minute: int | None = None
    tokens_per_minute: int | None = None
    monthly_tokens: int | None = None
    max_concurrent: int | None = None


@dataclass(frozen=True, slots=True)
class QuotaScope:
    """Who a counter belongs to, e.g. ``tenant:<id>`` or ``key:<id>/model:llama``, and its limits."""

    name: str
    limits: QuotaLimits


@dataclass(slots=True)
class Reservation:
    """What a request holds until it is settled or released."""

    id: str
    scopes: tuple[QuotaScope, ...]
    tokens: int
    minute: int
    month: str
    expires_at: float
    done: bool = False


@dataclass(slots=True)
class _Window:
    key: int | str
    value: int = 0


@dataclass(slots=True)
class _Counters:
    requests: _Window = field(default_factory=lambda: _Window(-1))
    tokens: _Window = field(default_factory=lambda: _Window(-1))
    month: _Window = field(default_factory=lambda: _Window(""))
    concurrent: int = 0


def month_key(moment: datetime) -> str:
    """The German calendar month of an aware timestamp, ``YYYY-MM``."""
    return moment.astimezone(BERLIN).strftime("%Y-%m")


def _reset_header(seconds: float) -> str:
    # OpenAI writes durations like "1s", "6m0s".
    seconds = max(0, math.ceil(seconds))
    return f"{seconds // 60}m{seconds % 60}s" if seconds >= 60 else f"{seconds}s"


class QuotaExceeded(HubError):
    """429 in OpenAI's format, with ``Retry-After`` and ``x-ratelimit-*`` headers."""


class QuotaStore(Protocol):
    """Where the counters live: in process (one replica) or in Redis (several replicas)."""

    async def reserve(self, scopes: Sequence[QuotaScope], tokens: int) -> Reservation:
        """Admit a request that may use up to ``tokens`` in every scope, or raise (429/400)."""
        ...

    async def settle(self, reservation: Reservation, used_tokens: int) -> None:
        """Charge the real usage instead of the reservation and free the concurrency slot (once)."""
        ...

    async def release(self, reservation: Reservation, used_tokens: int = 0) -> None:
        """The request failed: charge what was used; with nothing used, the request is refunded too."""
        ...

    async def usage(self, scope_name: str) -> dict[str, int]:
        """``requests_this_minute``, ``tokens_this_minute``, ``tokens_this_month``, ``concurrent``."""
        ...

    async def seed_month(self, scope_name: str, month: str, tokens: int) -> None:
        """Start a scope's monthly counter from the ledger unless the store already has one."""
        ...

    async def close(self) -> None:
        """Free connections and background tasks."""
        ...


class InProcessQuotaCounters:
    """Quota counters of one gateway replica (the embedded default).

    The methods are coroutines only to share :class:`QuotaStore`'s interface; none of them awaits, so
    every check-and-charge is atomic on the event loop.
    """

    def __init__(self, *, clock: Clock = utc_now, ttl_s: float = 900.0) -> None:
        self._clock = clock
        self._ttl_s = ttl_s
        self._counters: dict[str, _Counters] = {}
        self._open: dict[str, Reservation] = {}
        self._ids = itertools.count(1)

    async def seed_month(self, scope_name: str, month: str, tokens: int) -> None:
        """Start a scope's monthly counter from the ledger (after a restart), unless it runs already."""
        counters = self._counters.setdefault(scope_name, _Counters())
        if counters.month.key != month:
            counters.month = _Window(month, tokens)

    async def reserve(self, scopes: Sequence[QuotaScope], tokens: int) -> Reservation:
        """Admit a request that may use up to ``tokens``, or raise :class:`QuotaExceeded`."""
        now = self._clock()
        stamp = now.timestamp()
        self._expire(stamp)
        minute, month = int(stamp // 60), month_key(now)
        retry_minute = 60 - stamp % 60
        for scope in scopes:
            counters = self._counters.setdefault(scope.name, _Counters())
            requests = counters.requests.value if counters.requests.key == minute else 0
            used_tokens = counters.tokens.value if counters.tokens.key == minute else 0
            used_month = counters.month.value if counters.month.key == month else 0
            refused = exceeded_limit(
                scope.limits,
                tokens,
                concurrent=counters.concurrent,
                requests=requests,
                minute_tokens=used_tokens,
                month_tokens=used_month,
            )
            if refused is not None:
                raise quota_refusal(
                    scope,
                    refused,
                    tokens,
                    requests=requests,
                    minute_tokens=used_tokens,
                    month_tokens=used_month,
                    retry_minute_s=retry_minute,
                )
        for scope in scopes:
            counters = self._counters[scope.name]
            counters.requests = _Window(minute, (counters.requests.value if counters.requests.key == minute else 0) + 1)
            counters.tokens = _Window(minute, (counters.tokens.value if counters.tokens.key == minute else 0) + tokens)
            counters.month = _Window(month, (counters.month.value if counters.month.key == month else 0) + tokens)
            counters.concurrent += 1
        reservation = Reservation(
            id=str(next(self._ids)),
            scopes=tuple(scopes),
            tokens=tokens,
            minute=minute,
            month=month,
            expires_at=stamp + self._ttl_s,
        )
        self._open[reservation.id] = reservation
        return reservation

    async def settle(self, reservation: Reservation, used_tokens: int) -> None:
        """Replace the reserved tokens by those really used and free the concurrency slot (once)."""
        self._finish(reservation, used_tokens, refund_request=False)

    async def release(self, reservation: Reservation, used_tokens: int = 0) -> None:
        """The request failed or was refused upstream: charge what was used and refund the request."""
        self._finish(reservation, used_tokens, refund_request=used_tokens == 0)

    async def usage(self, scope_name: str) -> dict[str, int]:
        """Current counters of a scope (for the tenant's quota view)."""
        now = self._clock()
        minute, month = int(now.timestamp() // 60), month_key(now)
        counters = self._counters.get(scope_name, _Counters())
        return {
            "requests_this_minute": counters.requests.value if counters.requests.key == minute else 0,
            "tokens_this_minute": counters.tokens.value if counters.tokens.key == minute else 0,
            "tokens_this_month": counters.month.value if counters.month.key == month else 0,
            "concurrent": counters.concurrent,
        }

    async def close(self) -> None:
        """Nothing to free in process."""

    def _finish(self, reservation: Reservation, used_tokens: int, *, refund_request: bool) -> None:
        if reservation.done:
            return
        reservation.done = True
        self._open.pop(reservation.id, None)
        delta = used_tokens - reservation.tokens
        for scope in reservation.scopes:
            counters = self._counters[scope.name]
            counters.concurrent -= 1
            # Windows that have passed are not rewritten: only the current minute and month matter.
            if counters.tokens.key == reservation.minute:
                counters.tokens.value += delta
            if refund_request and counters.requests.key == reservation.minute:
                counters.requests.value -= 1
            if counters.month.key == reservation.month:
                counters.month.value += delta

    def _expire(self, stamp: float) -> None:
        # A reservation nobody settled (a bug, a hung task) must not hold a concurrency slot forever;
        # its tokens stay charged, which errs on the safe side of the budget.
        # All reservations get the same time to live, so the dict's insertion order is expiry order:
        # the sweep stops at the first one still valid instead of looking at every request in flight.
        expired = []
        for reservation in self._open.values():
            if reservation.expires_at > stamp:
                break
            expired.append(reservation)
        for reservation in expired:
            self._finish(reservation, reservation.tokens, refund_request=False)


# --- refusals, shared by every store so that they answer alike ----------------------------------

Limit = Literal["max_concurrent", "requests_per_minute", "tokens_per_minute", "monthly_tokens"]


def exceeded_limit(
    limits: QuotaLimits, tokens: int, *, concurrent: int, requests: int, minute_tokens: int, month_tokens: int
) -> Limit | None:
    """The first limit that refuses one more request of ``tokens`` given a scope's counters, or ``None``.

    The order is part of the contract (the Redis store's Lua script checks in the same order):
    concurrency, requests per minute, tokens per minute, monthly tokens.
    """
    if limits.max_concurrent is not None and concurrent >= limits.max_concurrent:
        return "max_concurrent"
    if limits.requests_per_minute is not None and requests + 1 > limits.requests_per_minute:
        return "requests_per_minute"
    if limits.tokens_per_minute is not None and minute_tokens + tokens > limits.tokens_per_minute:
        return "tokens_per_minute"
    if limits.monthly_tokens is not None and month_tokens + tokens > limits.monthly_tokens:
        return "monthly_tokens"
    return None


def quota_refusal(
    scope: QuotaScope,
    limit: Limit,
    tokens: int,
    *,
    requests: int,
    minute_tokens: int,
    month_tokens: int,
    retry_minute_s: float,
) -> HubError:
    """The error for a request of ``tokens`` that ``scope``'s ``limit`` refuses.

    ``requests``, ``minute_tokens`` and ``month_tokens`` are the scope's counters before the request;
    ``retry_minute_s`` is how long until the current minute window ends. A request larger than the
    tokens-per-minute limit can never fit: that is a 400 (``tokens_per_minute_too_small``), not a 429.
    """
    limits, minute_used = scope.limits, (requests, minute_tokens)
    if limit == "max_concurrent":
        return rate_limit_exceeded(scope, "concurrent requests", 1.0, minute_used=minute_used)
    if limit == "requests_per_minute":
        return rate_limit_exceeded(scope, "requests per minute", retry_minute_s, minute_used=minute_used)
    if limit == "tokens_per_minute":
        if limits.tokens_per_minute is not None and tokens > limits.tokens_per_minute:
            return HubError(
                f"This request may use {tokens} tokens, more than the {limits.tokens_per_minute} tokens "
                "per minute allowed; lower max_tokens",
                param="max_tokens",
                code="tokens_per_minute_too_small",
            )
        return rate_limit_exceeded(scope, "tokens per minute", retry_minute_s, minute_used=minute_used)
    if limit == "monthly_tokens":
        return QuotaExceeded(
            f"The monthly token budget of {scope.name} is used up ({month_tokens} of "
            f"{limits.monthly_tokens} tokens, {tokens} more needed)",
            status_code=429,
            code="insufficient_quota",
            error_type="insufficient_quota",
        )
    raise ValueError(f"unknown quota limit {limit!r}")


def rate_limit_exceeded(
    scope: QuotaScope, what: str, retry_after_s: float, *, minute_used: tuple[int, int]
) -> QuotaExceeded:
    """A 429 ``rate_limit_exceeded`` with ``Retry-After`` and OpenAI's ``x-ratelimit-*`` headers.

    ``minute_used`` is (requests, tokens) of the scope in the current minute, before the request.
    """
    limits, (requests, tokens) = scope.limits, minute_used
    headers = {"Retry-After": str(max(1, math.ceil(retry_after_s)))}
    reset = _reset_header(retry_after_s)
    if limits.requests_per_minute is not None:
        headers["x-ratelimit-limit-requests"] = str(limits.requests_per_minute)
        headers["x-ratelimit-remaining-requests"] = str(max(0, limits.requests_per_minute - requests))
        headers["x-ratelimit-reset-requests"] = reset
    if limits.tokens_per_minute is not None:
        headers["x-ratelimit-limit-tokens"] = str(limits.tokens_per_minute)
        headers["x-ratelimit-remaining-tokens"] = str(max(0, limits.tokens_per_minute - tokens))
        headers["x-ratelimit-reset-tokens"] = reset
    return QuotaExceeded(
        f"Rate limit of {scope.name} reached: {what}; retry after {headers['Retry-After']} s",
        status_code=429,
        code="rate_limit_exceeded",
        headers=headers,
    )
