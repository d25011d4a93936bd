"""Validation at the edge: which parameter is wrong, in OpenAI's terms."""

from __future__ import annotations

import pytest

from gateway.schemas import ChatParams, EmbeddingParams, Endpoint, parse_request
from gateway.upstream_errors import upstream_error
from hub.errors import HubError


def test_valid_chat_keeps_unpoliced_fields() -> None:
    payload, params = parse_request(
        Endpoint.CHAT, b'{"model":"m","messages":[{"role":"user","content":"x"}],"top_k":3,"stream":true}'
    )
    assert isinstance(params, ChatParams) and params.stream is True
    assert payload["top_k"] == 3


@pytest.mark.parametrize(
    ("endpoint", "body", "param", "code"),
    [
        (Endpoint.CHAT, b"", None, "invalid_json"),
        (Endpoint.CHAT, b"[1, 2]", None, "invalid_json"),
        (Endpoint.CHAT, b'{"model": "m", "messages": [', None, "invalid_json"),
        (Endpoint.CHAT, b'{"messages": [{"role": "user"}]}', "model", "invalid_request"),
        (Endpoint.CHAT, b'{"model": 5, "messages": [{"role": "user"}]}', "model", "invalid_request"),
        (Endpoint.CHAT, b'{"model": "m", "messages": "hi"}', "messages", "invalid_request"),
        (Endpoint.CHAT, b'{"model": "m", "messages": [{"role": "user"}], "n": 0}', "n", "invalid_request"),
        (
            Endpoint.CHAT,
            b'{"model": "m", "messages": [{"role": "user"}], "stream": "yes"}',
            "stream",
            "invalid_request",
        ),
        (Endpoint.COMPLETIONS, b'{"model": "m"}', "prompt", "invalid_request"),
        (Endpoint.COMPLETIONS, b'{"model": "m", "prompt": "x", "max_tokens": -1}', "max_tokens", "invalid_request"),
        (Endpoint.EMBEDDINGS, b'{"model": "m", "input": {"a": 1}}', "input", "invalid_request"),
        (
            Endpoint.EMBEDDINGS,
            b'{"model": "m", "input": "x", "encoding_format": "hex"}',
            "encoding_format",
            "invalid_request",
        ),
    ],
)
def test_invalid_requests_name_the_parameter(endpoint: Endpoint, body: bytes, param: str | None, code: str) -> None:
    with pytest.raises(HubError) as caught:
        parse_request(endpoint, body)
    assert caught.value.status_code == 400
    assert caught.value.param == param and caught.value.code == code


def test_embedding_input_forms() -> None:
    for body in (b'"a"', b'["a", "b"]', b"[1, 2, 3]", b"[[1, 2], [3]]"):
        _, params = parse_request(Endpoint.EMBEDDINGS, b'{"model": "m", "input": ' + body + b"}")
        assert isinstance(params, EmbeddingParams)


@pytest.mark.parametrize(
    ("status", "body", "expected_status", "code"),
    [
        (
            400,
            b'{"error": {"message": "This model\'s maximum context length is 512 tokens", "code": 400}}',
            400,
            "context_length_exceeded",
        ),
        (
            400,
            b'{"error": {"message": "temperature must be >= 0", "param": "temperature", "code": 400}}',
            400,
            "invalid_request",
        ),
        (404, b'{"error": {"message": "The model `x` does not exist.", "code": 404}}', 502, "upstream_error"),
        (404, b'{"detail": "Not Found"}', 502, "upstream_error"),
        (500, b"Internal Server Error", 502, "upstream_error"),
        (401, b'{"error": "Unauthorized"}', 502, "upstream_error"),
    ],
)
def test_upstream_errors_become_openai_errors(status: int, body: bytes, expected_status: int, code: str) -> None:
    error = upstream_error(status, body)
    assert error.status_code == expected_status and error.code == code
    assert isinstance(error.code, str) and error.message
