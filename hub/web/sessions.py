"""Server-side web sessions: the cookie carries only a random session id, the data stays on the server.

- Embedded default: a :class:`~litestar.stores.file.FileStore` under ``{data_dir}/sessions``.
- With ``redis_url`` set: a :class:`~litestar.stores.redis.RedisStore`, so every replica sees the same
  sessions (``redis`` is an optional dependency and imported only then).

Two differences to Litestar's stock backend: an empty session is never written (the JSON APIs and
anonymous visitors cause no store writes and get no cookie), and a handler can ask for a new session
id (:func:`renew_session_id`), which the sign-in does so that an id planted before the sign-in is
worthless afterwards (no session fixation).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

from litestar.connection import ASGIConnection
from litestar.datastructures import Cookie, MutableScopeHeaders
from litestar.middleware.session.server_side import ServerSideSessionBackend, ServerSideSessionConfig
from litestar.stores.base import Store
from litestar.stores.file import FileStore
from litestar.types import Empty, EmptyType, Message, ScopeSession

from hub.settings import Settings

log = logging.getLogger("kiverbund.web")

SESSION_COOKIE = "kiverbund_session"
"""Name of the session cookie."""
SESSION_STORE = "web_sessions"
"""Name of the session store in the app's store registry."""
NO_SESSION_PATHS = ["^/v1/", "^/api/", "^/health", "^/ready$", "^/metrics$", "^/schema"]
"""Routes that never use the web session (the APIs authenticate with bearer tokens and keys only)."""

_RENEW = "kiverbund.renew_session"
_RENEWED_ID = "kiverbund.renewed_session_id"


def renew_session_id(connection: ASGIConnection) -> None:
    """Give the session a fresh id when the response is sent; the data under the old id is deleted."""
    cast("dict[str, Any]", connection.scope)[_RENEW] = True


class RenewableSessionBackend(ServerSideSessionBackend):
    """Litestar's server-side backend that skips empty sessions and can change the session id."""

    def _removal_cookie(self) -> str:
        """A ``Set-Cookie`` value that makes browsers drop the session cookie at once."""
        config = self.config
        return Cookie(
            key=config.key,
            value="",
            max_age=0,
            expires=0,
            path=config.path,
            domain=config.domain,
            secure=config.secure,
            httponly=config.httponly,
            samesite=config.samesite,
        ).to_header(header="")

    def get_session_id(self, connection: ASGIConnection) -> str:
        """The renewed id if the handler asked for one, otherwise the cookie's (or a new) id."""
        renewed = cast("dict[str, Any]", connection.scope).get(_RENEWED_ID)
        if isinstance(renewed, str):
            return renewed
        return super().get_session_id(connection)

    async def store_in_message(
        self, scope_session: ScopeSession | EmptyType, message: Message, connection: ASGIConnection
    ) -> None:
        """Write the session and its cookie; drop both when the session is empty."""
        scope = cast("dict[str, Any]", connection.scope)
        cookie_id = connection.cookies.get(self.config.key)
        has_cookie = bool(cookie_id) and cookie_id != "null"
        empty = scope_session is Empty or not scope_session
        if empty:
            if has_cookie:
                # Signed out, or a session the store has forgotten: delete it and remove the cookie.
                # (Litestar's own deletion cookie keeps Max-Age, so browsers would keep a "null" cookie.)
                await self.delete(str(cookie_id), store=self.config.get_store_from_app(scope["app"]))
                MutableScopeHeaders.from_message(message).add("Set-Cookie", self._removal_cookie())
            return
        if scope.pop(_RENEW, False) and _RENEWED_ID not in scope:
            if has_cookie:
                await self.delete(str(cookie_id), store=self.config.get_store_from_app(scope["app"]))
            scope[_RENEWED_ID] = self.generate_session_id()
        await super().store_in_message(scope_session, message, connection)


@dataclass
class WebSessionConfig(ServerSideSessionConfig):
    """Server-side session configuration using :class:`RenewableSessionBackend`."""

    _backend_class = RenewableSessionBackend  # type: ignore[assignment]


def session_config(settings: Settings) -> WebSessionConfig:
    """The session cookie: HttpOnly, SameSite=Lax, Secure unless switched off, and only the session id."""
    return WebSessionConfig(
        key=SESSION_COOKIE,
        max_age=settings.session_max_age_s,
        httponly=True,
        samesite="lax",
        secure=settings.session_cookie_secure,
        store=SESSION_STORE,
        exclude=NO_SESSION_PATHS,
    )


class SessionFileStore(FileStore):
    """A file store that removes expired sessions when the app starts and creates its folder on first use."""

    async def __aenter__(self) -> None:
        if not await self.path.is_dir():
            return  # nobody has signed in yet; an API-only hub never creates the folder
        try:
            await self.delete_expired()
        except Exception as exc:  # a half-written file of another process must not stop the start
            log.warning("could not clean up expired web sessions in %s: %s", self.path, exc)

    async def set(self, key: str, value: str | bytes, expires_in: int | timedelta | None = None) -> None:
        """Store a session (creating ``{data_dir}/sessions`` if needed)."""
        await self.path.mkdir(parents=True, exist_ok=True)
        await super().set(key, value, expires_in=expires_in)


def session_store(settings: Settings) -> Store:
    """Where sessions live: Redis when ``redis_url`` is set (shared by replicas), otherwise files."""
    if settings.redis_url:
        from litestar.stores.redis import RedisStore  # needs the optional ``redis`` package

        return RedisStore.with_client(settings.redis_url, namespace="KIVERBUND_WEB_SESSIONS")
    return SessionFileStore(Path(settings.data_dir) / "sessions")


def session_stores(settings: Settings) -> dict[str, Store]:
    """The stores the web sign-in needs, for ``Litestar(stores=...)``."""
    return {SESSION_STORE: session_store(settings)}
