"""How many tokens a request may use: its prompt (counted by the model's tokenizer) and its output allowance.

Quotas reserve ``prompt + allowance`` before forwarding, so the allowance is also sent upstream as
``max_tokens`` when the client set none: the engine then cannot use more than was reserved.
"""

from __future__ import annotations

import logging
from typing import Any

import aiohttp
import msgspec

from gateway.registry import ModelEntry
from gateway.routing import BackendMonitor
from gateway.schemas import ChatParams, CompletionParams, Endpoint
from gateway.upstream import UpstreamClient

log = logging.getLogger("kiverbund.gateway.tokens")

_CHAT_TEMPLATE_FIELDS = (
    "add_generation_prompt",
    "continue_final_message",
    "add_special_tokens",
    "chat_template",
    "chat_template_kwargs",
    "tools",
    "mm_processor_kwargs",
)
"""Fields of a chat request that change its prompt and that vLLM's ``/tokenize`` understands."""
_encode = msgspec.json.Encoder()
_decode = msgspec.json.Decoder(dict[str, Any])
FALLBACK_OUTPUT_ALLOWANCE = 1024
"""Output allowance when neither the request, nor the model, nor any backend says more."""


def estimate_prompt_tokens(endpoint: Endpoint, payload: dict[str, Any]) -> int:
    """A cheap guess for scheduling only: about four characters of text per token.

    The scheduler corrects it with the engine's count when the request ends; it matters only while
    the request runs, and guessing low there is better than guessing high (a tenant that arrives
    meanwhile is lifted to the busy tenant's counter, estimates included).
    """
    if endpoint is Endpoint.CHAT:
        messages = payload.get("messages") or []
        chars = sum(len(str(m.get("content") or "")) for m in messages if isinstance(m, dict))
        return max(1, chars // 4 + 4 * len(messages))
    prompt = payload.get("prompt" if endpoint is Endpoint.COMPLETIONS else "input")
    return max(1, len(str(prompt)) // 4)


class TokenCounter:
    """Counts prompt tokens with the model's own tokenizer through a backend's ``/tokenize``."""

    def __init__(self, http: UpstreamClient, monitor: BackendMonitor, timeout_s: float = 10.0) -> None:
        self._http = http
        self._monitor = monitor
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)

    async def prompt_tokens(self, model: ModelEntry, endpoint: Endpoint, payload: dict[str, Any]) -> int:
        """The prompt's length in tokens, as the engine will count it.

        If no backend can tokenize, the conservative fallback is the prompt's size in bytes plus a
        margin for the chat template (byte-level tokenizers never make more tokens than bytes).
        """
        requests = self._tokenize_requests(model, endpoint, payload)
        total = 0
        for body, fallback in requests:
            if body is None:
                total += fallback
                continue
            counted = await self._count(model, body)
            total += fallback if counted is None else counted
        return total

    def _tokenize_requests(
        self, model: ModelEntry, endpoint: Endpoint, payload: dict[str, Any]
    ) -> list[tuple[dict[str, Any] | None, int]]:
        """(``/tokenize`` body or ``None`` when already counted, fallback count) per prompt."""
        if endpoint is Endpoint.CHAT:
            body: dict[str, Any] = {"model": model.upstream_name, "messages": payload["messages"]}
            body.update({k: payload[k] for k in _CHAT_TEMPLATE_FIELDS if k in payload})
            size = len(_encode.encode(payload["messages"]))
            return [(body, size + 64 * len(payload["messages"]) + 512)]
        prompts = payload.get("prompt" if endpoint is Endpoint.COMPLETIONS else "input")
        if isinstance(prompts, str) or (isinstance(prompts, list) and prompts and isinstance(prompts[0], int)):
            prompts = [prompts]
        counted: list[tuple[dict[str, Any] | None, int]] = []
        for prompt in prompts or []:
            if isinstance(prompt, list):  # token ids: already counted
                counted.append((None, len(prompt)))
            else:
                body = {"model": model.upstream_name, "prompt": prompt}
                counted.append((body, len(str(prompt).encode()) + 8))
        return counted

    async def _count(self, model: ModelEntry, body: dict[str, Any]) -> int | None:
        for state in self._monitor.candidates(model.upstream_name)[:2]:
            headers = {"Content-Type": "application/json"}
            if state.entry.api_key:
                headers["Authorization"] = f"Bearer {state.entry.api_key}"
            try:
                async with self._http.session.post(
                    state.entry.base_url + "/tokenize",
                    data=_encode.encode(body),
                    headers=headers,
                    timeout=self._timeout,
                ) as response:
                    content = await response.read()
                    if response.status == 200:
                        return int(_decode.decode(content)["count"])
                    if response.status == 400:  # the engine refuses the prompt; it will say why on the real call
                        return None
            except (aiohttp.ClientError, TimeoutError, msgspec.DecodeError, KeyError, ValueError) as exc:
                log.warning("tokenize on %s failed: %s", state.entry.name, exc)
        return None


def output_allowance(
    model: ModelEntry, params: Any, prompt_tokens: int, context_window: int | None
) -> tuple[int, str | None, int]:
    """The output tokens a request may produce in total, the parameter to send it as (if the client
    set none), and the per-choice value of that parameter.

    Returns ``(total, parameter_to_inject or None, per_choice)``.
    """
    if isinstance(params, ChatParams):
        asked = params.max_completion_tokens or params.max_tokens
        choices, parameter = params.n, "max_completion_tokens"
    elif isinstance(params, CompletionParams):
        asked = params.max_tokens
        prompts = params.prompt
        count = 1 if isinstance(prompts, str) or (prompts and isinstance(prompts[0], int)) else len(prompts)
        choices, parameter = params.n * max(1, count), "max_tokens"
    else:
        return 0, None, 0
    if asked is not None:
        return asked * choices, None, asked
    if model.default_max_tokens is not None:
        per_choice = model.default_max_tokens
    elif isinstance(params, CompletionParams):
        per_choice = 16  # the OpenAI (and vLLM) default of /v1/completions
    elif context_window is not None:
        per_choice = max(1, context_window - prompt_tokens)  # what vLLM itself would allow
    else:
        per_choice = FALLBACK_OUTPUT_ALLOWANCE
    return per_choice * choices, parameter, per_choice
