"""The gateway's HTTP client for backends.

aiohttp rather than httpx on this path: in the gateway benchmark httpx cost about 0.8 ms more CPU per
forwarded request on 2 cores, which was the largest single part of the gateway's overhead. (The hub's
admin side, which is not hot, uses httpx.)
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp

from hub.settings import Settings

CONNECT_ERRORS = (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError)
"""Failures where nothing reached the engine, so another backend may be tried."""


class UpstreamClient:
    """A pooled keep-alive client to the vLLM servers."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        """The underlying session (created on first use, inside the running event loop)."""
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._settings.upstream_max_connections, ttl_dns_cache=300),
                timeout=aiohttp.ClientTimeout(
                    total=None,
                    connect=self._settings.upstream_connect_timeout_s,
                    sock_read=self._settings.upstream_read_timeout_s,
                ),
                # Room for large SSE events (e.g. chunks with logprobs) on one line.
                read_bufsize=2**20,
                # The gateway talks to backends it was told about; it must not pick up proxy settings.
                trust_env=False,
            )
        return self._session

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> aiohttp.ClientResponse:
        """Send a POST; the caller must ``release()`` or ``close()`` the response."""
        return await self.session.post(url, data=body, headers=headers)

    async def get(self, url: str, headers: dict[str, str], timeout_s: float) -> tuple[int, bytes]:
        """A small GET (health, metrics, model list): status and body."""
        async with self.session.get(url, headers=headers, timeout=aiohttp.ClientTimeout(total=timeout_s)) as response:
            return response.status, await response.read()

    async def close(self) -> None:
        """Close all connections."""
        if self._session is not None:
            await self._session.close()


async def sse_data(response: aiohttp.ClientResponse) -> AsyncIterator[bytes]:
    """The ``data`` of each server-sent event, as the WHATWG event-stream rules define it.

    OpenAI-style streams use only ``data`` fields, so ``event``, ``id``, ``retry`` and comments are
    skipped; multi-line data is joined with newlines; an event ends at a blank line.
    """
    data: list[bytes] = []
    async for raw in response.content:
        line = raw.rstrip(b"\r\n")
        if not line:
            if data:
                yield b"\n".join(data)
                data.clear()
            continue
        if line.startswith(b"data:"):
            value = line[5:]
            data.append(value[1:] if value.startswith(b" ") else value)
    if data:
        yield b"\n".join(data)
