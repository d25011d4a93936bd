"""Relaying a vLLM server-sent-event stream to the client, chunk by chunk, without buffering.

Upstream is always asked for usage in every chunk (``include_usage`` plus vLLM's
``continuous_usage_stats``), so the ledger knows exactly how many tokens were delivered even when the
client disconnects before the final usage chunk. What the client did not ask for is removed again.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import anyio
import msgspec

from gateway.call import Call
from gateway.upstream import sse_data
from hub.errors import error_body

_decode_chunk = msgspec.json.Decoder(dict[str, Any])
_encode = msgspec.json.Encoder()
DONE_EVENT = b"data: [DONE]\n\n"


def _frame(chunk: dict[str, Any]) -> bytes:
    return b"data: " + _encode.encode(chunk) + b"\n\n"


def _has_output(choices: list[dict[str, Any]]) -> bool:
    for choice in choices:
        if choice.get("text"):
            return True
        delta = choice.get("delta")
        if delta and (delta.get("content") or delta.get("tool_calls") or delta.get("reasoning_content")):
            return True
    return False


class StreamRelay:
    """Forwards one upstream stream and reports how it ended exactly once (``on_finish``)."""

    def __init__(
        self,
        *,
        upstream: aiohttp.ClientResponse,
        call: Call,
        model_name: str,
        client_wants_usage: bool,
        client_wants_continuous_usage: bool,
        on_finish: Callable[[StreamRelay, str], None],
    ) -> None:
        self._upstream = upstream
        self._call = call
        self._model_name = model_name
        self._wants_usage = client_wants_usage
        self._wants_continuous = client_wants_continuous_usage
        self._on_finish = on_finish
        self._finished = False
        self._done = False
        self._failed = False

    async def events(self) -> AsyncIterator[bytes]:
        """The client's SSE byte stream."""
        call = self._call
        try:
            async for data in sse_data(self._upstream):
                if data == b"[DONE]":
                    self._done = True
                    yield DONE_EVENT
                    continue
                chunk = _decode_chunk.decode(data)
                if "error" in chunk and "choices" not in chunk:
                    self._failed = True
                    yield _frame(chunk)
                    continue
                usage = chunk.get("usage")
                call.take_usage(usage)
                if call.span is not None:  # id, served model, finish reasons: for the spans only
                    call.take_response(chunk)
                choices = chunk.get("choices")
                if call.ttft_ms is None and choices and _has_output(choices):
                    call.mark_first_token()
                chunk["model"] = self._model_name
                if not choices and usage is not None:
                    # The final usage chunk: only for clients that asked for usage.
                    if self._wants_usage:
                        yield _frame(chunk)
                    continue
                if not self._wants_continuous and "usage" in chunk:
                    if self._wants_usage:
                        chunk["usage"] = None
                    else:
                        del chunk["usage"]
                yield _frame(chunk)
        except (aiohttp.ClientError, TimeoutError, ValueError, msgspec.DecodeError) as exc:
            self._failed = True
            body = error_body(
                f"The backend stream broke off ({exc.__class__.__name__})", "server_error", "upstream_error"
            )
            yield b"data: " + _encode.encode(body) + b"\n\n"
        finally:
            with anyio.CancelScope(shield=True):
                await self.finish()

    async def finish(self) -> None:
        """Close the upstream request (cancelling it in vLLM if unfinished) and report the outcome once.

        Called when the stream ends, and again by the response's background task, which also runs
        when the client went away before the stream started.
        """
        if self._finished:
            return
        self._finished = True
        if self._done:
            self._upstream.release()  # fully read: the connection goes back to the pool
        else:
            self._upstream.close()  # unfinished: dropping the connection makes vLLM abort the request
        if self._done and not self._failed:
            outcome = "ok"
        elif self._failed:
            outcome = "upstream_error"
        else:
            outcome = "client_disconnected"
        self._on_finish(self, outcome)
