"""A fast, deterministic stand-in for a vLLM OpenAI server (raw ASGI, no framework).

Used by unit tests of gateway logic and by the overhead benchmark as the upstream. It speaks the
same wire format as vLLM 0.32 (including ``continuous_usage_stats``), counts one prompt token per
whitespace-separated word, and emits ``max_tokens`` (default ``tokens``) output tokens.
Run: ``python -m tests.support.fake_vllm --port 8001 --model fake --pace 0.01``.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

import msgspec

_encode = msgspec.json.encode
_decode = msgspec.json.decode


class FakeVLLM:
    """ASGI app imitating vLLM's OpenAI server."""

    def __init__(
        self,
        model: str = "fake",
        *,
        tokens: int = 8,
        pace_s: float = 0.0,
        max_model_len: int = 2048,
        embedding: bool = False,
    ) -> None:
        self.model = model
        self.tokens = tokens
        self.pace_s = pace_s
        self.max_model_len = max_model_len
        self.embedding = embedding
        self.running = 0
        self.waiting = 0
        """What /metrics reports as vllm:num_requests_waiting (set by tests)."""
        self.seen: list[dict[str, Any]] = []
        """Every inference request body received, in order."""
        self.seen_headers: list[dict[str, str]] = []
        """The headers of every inference request (e.g. ``traceparent``), in order."""
        self.aborted = 0
        self.generated = 0

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        path, method = scope["path"], scope["method"]
        if method == "GET" and path == "/health":
            await self._send(send, 200, b"")
        elif method == "GET" and path == "/metrics":
            text = (
                f'vllm:num_requests_running{{model_name="{self.model}"}} {float(self.running)}\n'
                f'vllm:num_requests_waiting{{model_name="{self.model}"}} {float(self.waiting)}\n'
                f"vllm:generation_tokens_total {float(self.generated)}\n"
            )
            await self._send(send, 200, text.encode(), b"text/plain")
        elif method == "GET" and path == "/v1/models":
            data = [{"id": self.model, "object": "model", "owned_by": "vllm", "max_model_len": self.max_model_len}]
            await self._send(send, 200, _encode({"object": "list", "data": data}))
        elif method == "POST" and path == "/tokenize":
            req = _decode(await self._body(receive))
            text = " ".join(str(m.get("content", "")) for m in req["messages"]) if "messages" in req else req["prompt"]
            await self._send(
                send, 200, _encode({"count": max(1, len(text.split())), "max_model_len": self.max_model_len})
            )
        elif method == "POST" and path in ("/v1/chat/completions", "/v1/completions", "/v1/embeddings"):
            req = _decode(await self._body(receive))
            self.seen.append(req)
            self.seen_headers.append({k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]})
            await self._inference(path, req, send, receive)
        else:
            await self._send(send, 404, b'{"detail":"Not Found"}')

    @staticmethod
    async def _body(receive: Any) -> bytes:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                return body

    @staticmethod
    async def _send(send: Any, status: int, body: bytes, content_type: bytes = b"application/json") -> None:
        await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", content_type)]})
        await send({"type": "http.response.body", "body": body})

    def _error(self, message: str, status: int = 400) -> bytes:
        return _encode({"error": {"message": message, "type": "BadRequestError", "param": None, "code": status}})

    async def _inference(self, path: str, req: dict[str, Any], send: Any, receive: Any) -> None:
        if req.get("model") != self.model:
            msg = f"The model `{req.get('model')}` does not exist."
            await self._send(send, 404, self._error(msg, 404))
            return
        if path == "/v1/embeddings":
            inputs = req["input"] if isinstance(req["input"], list) else [req["input"]]
            prompt = sum(len(str(i).split()) for i in inputs)
            data = [{"object": "embedding", "index": i, "embedding": [0.1, 0.2, 0.3]} for i in range(len(inputs))]
            usage = {"prompt_tokens": prompt, "total_tokens": prompt, "completion_tokens": 0}
            await self._send(send, 200, _encode({"object": "list", "data": data, "model": self.model, "usage": usage}))
            return
        chat = path == "/v1/chat/completions"
        text = " ".join(str(m.get("content", "")) for m in req["messages"]) if chat else str(req.get("prompt", ""))
        prompt = max(1, len(text.split()))
        n = int(req.get("max_completion_tokens") or req.get("max_tokens") or self.tokens)
        if prompt + n > self.max_model_len:
            msg = f"This model's maximum context length is {self.max_model_len} tokens."
            await self._send(send, 400, self._error(msg))
            return
        rid, created = f"cmpl-{time.monotonic_ns()}", int(time.time())
        kind = "chat.completion" if chat else "text_completion"
        if not req.get("stream"):
            self.running += 1
            try:
                if self.pace_s:
                    await asyncio.sleep(self.pace_s * n)
            finally:
                self.running -= 1
            self.generated += n
            choice: dict[str, Any] = (
                {"index": 0, "message": {"role": "assistant", "content": "tok " * n}, "finish_reason": "length"}
                if chat
                else {"index": 0, "text": "tok " * n, "finish_reason": "length"}
            )
            usage = {"prompt_tokens": prompt, "total_tokens": prompt + n, "completion_tokens": n}
            out = {
                "id": rid,
                "object": kind,
                "created": created,
                "model": self.model,
                "choices": [choice],
                "usage": usage,
            }
            await self._send(send, 200, _encode(out))
            return
        await self._stream(req, send, receive, chat, rid, created, prompt, n)

    async def _stream(
        self, req: dict[str, Any], send: Any, receive: Any, chat: bool, rid: str, created: int, prompt: int, n: int
    ) -> None:
        options = req.get("stream_options") or {}
        continuous = options.get("continuous_usage_stats")
        kind = "chat.completion.chunk" if chat else "text_completion"
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/event-stream; charset=utf-8")],
            }
        )
        disconnected = asyncio.Event()

        async def watch() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            disconnected.set()

        watcher = asyncio.create_task(watch())
        self.running += 1
        try:
            for i in range(n + (1 if chat else 0)):
                if disconnected.is_set():
                    self.aborted += 1
                    return
                if chat and i == 0:
                    choice: dict[str, Any] = {
                        "index": 0,
                        "delta": {"role": "assistant", "content": ""},
                        "finish_reason": None,
                    }
                    done = 0
                else:
                    done = i if chat else i + 1
                    last = done == n
                    self.generated += 1
                    choice = (
                        {"index": 0, "delta": {"content": "tok "}, "finish_reason": "length" if last else None}
                        if chat
                        else {"index": 0, "text": "tok ", "finish_reason": "length" if last else None}
                    )
                chunk: dict[str, Any] = {
                    "id": rid,
                    "object": kind,
                    "created": created,
                    "model": self.model,
                    "choices": [choice],
                }
                if continuous:
                    chunk["usage"] = {"prompt_tokens": prompt, "total_tokens": prompt + done, "completion_tokens": done}
                await send(
                    {"type": "http.response.body", "body": b"data: " + _encode(chunk) + b"\n\n", "more_body": True}
                )
                if self.pace_s:
                    await asyncio.sleep(self.pace_s)
            if options.get("include_usage"):
                usage = {"prompt_tokens": prompt, "total_tokens": prompt + n, "completion_tokens": n}
                final = {
                    "id": rid,
                    "object": kind,
                    "created": created,
                    "model": self.model,
                    "choices": [],
                    "usage": usage,
                }
                await send(
                    {"type": "http.response.body", "body": b"data: " + _encode(final) + b"\n\n", "more_body": True}
                )
            await send({"type": "http.response.body", "body": b"data: [DONE]\n\n", "more_body": False})
        finally:
            self.running -= 1
            watcher.cancel()


def main() -> None:
    """Serve the fake on a port (for benchmarks and manual tries)."""
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--model", default="fake")
    parser.add_argument("--tokens", type=int, default=8)
    parser.add_argument("--pace", type=float, default=0.0, help="seconds between streamed tokens")
    args = parser.parse_args()
    app = FakeVLLM(args.model, tokens=args.tokens, pace_s=args.pace)
    uvicorn.run(
        app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False, loop="uvloop", http="httptools"
    )


if __name__ == "__main__":
    main()
