"""The fields of OpenAI requests the gateway enforces.

Only policed fields are typed; everything else in the client's JSON (sampling parameters, tools,
vLLM extras such as ``top_k`` or structured output) is forwarded untouched.
"""

from __future__ import annotations

import enum
import re
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta, Struct

from hub.errors import HubError

PositiveInt = Annotated[int, Meta(ge=1)]
ModelName = Annotated[str, Meta(min_length=1, max_length=256)]


class Endpoint(enum.StrEnum):
    """The inference endpoints, named as in the ledger."""

    CHAT = "chat.completions"
    COMPLETIONS = "completions"
    EMBEDDINGS = "embeddings"

    @property
    def path(self) -> str:
        """The upstream path."""
        return "/v1/" + self.value.replace(".", "/")


class StreamOptions(Struct):
    """OpenAI ``stream_options`` (and vLLM's ``continuous_usage_stats``)."""

    include_usage: bool = False
    continuous_usage_stats: bool = False


class ChatMessage(Struct):
    """One chat message; only the role is checked here, the content is the engine's business."""

    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: Any = None


class ChatParams(Struct):
    """Policed fields of ``POST /v1/chat/completions``."""

    model: ModelName
    messages: Annotated[list[ChatMessage], Meta(min_length=1)]
    stream: bool = False
    stream_options: StreamOptions | None = None
    max_tokens: PositiveInt | None = None
    max_completion_tokens: PositiveInt | None = None
    n: PositiveInt = 1


class CompletionParams(Struct):
    """Policed fields of ``POST /v1/completions``."""

    model: ModelName
    prompt: str | list[str | int | list[int]]
    stream: bool = False
    stream_options: StreamOptions | None = None
    max_tokens: PositiveInt | None = None
    n: PositiveInt = 1


class EmbeddingParams(Struct):
    """Policed fields of ``POST /v1/embeddings``."""

    model: ModelName
    input: str | list[str | int | list[int]]
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: PositiveInt | None = None


Params = ChatParams | CompletionParams | EmbeddingParams
_PARAMS_BY_ENDPOINT: dict[Endpoint, type[Struct]] = {
    Endpoint.CHAT: ChatParams,
    Endpoint.COMPLETIONS: CompletionParams,
    Endpoint.EMBEDDINGS: EmbeddingParams,
}
_PATH_IN_ERROR = re.compile(r"at `\$\.([A-Za-z_]+)")
_decode_object = msgspec.json.Decoder(dict[str, Any])


def parse_request(endpoint: Endpoint, body: bytes) -> tuple[dict[str, Any], Any]:
    """Decode the body to a JSON object and check its policed fields.

    Returns the raw object (to forward) and the typed parameters. Raises a 400 :class:`HubError`
    naming the offending parameter.
    """
    if not body:
        raise HubError("The request body is empty; send a JSON object", code="invalid_json")
    try:
        payload = _decode_object.decode(body)
    except msgspec.DecodeError as exc:
        raise HubError(f"The request body is not a valid JSON object: {exc}", code="invalid_json") from None
    try:
        params = msgspec.convert(payload, _PARAMS_BY_ENDPOINT[endpoint])
    except msgspec.ValidationError as exc:
        message = str(exc)
        match = _PATH_IN_ERROR.search(message)
        param = match.group(1) if match else None
        if message.startswith("Object missing required field"):
            param = message.split("`")[1]
            message = f"Missing required parameter: '{param}'"
        raise HubError(f"Invalid request: {message}", param=param) from None
    return payload, params
