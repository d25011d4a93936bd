"""Bad input and failures: a clear OpenAI-style error, the right status, and no tokens booked."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import openai
import pytest

from tests.integration.conftest import MAX_BODY_BYTES, Deployment

pytestmark = pytest.mark.integration

QUESTION = [{"role": "user", "content": "Wann wird der Sperrmüll abgeholt?"}]
GENERATION_TOKENS = "vllm:generation_tokens_total"


def _post(deployment: Deployment, key: str | None, body: Any, *, raw: bytes | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    if raw is not None:
        headers["Content-Type"] = "application/json"
        return httpx.post(f"{deployment.hub.url}/v1/chat/completions", content=raw, headers=headers, timeout=30)
    return httpx.post(f"{deployment.hub.url}/v1/chat/completions", json=body, headers=headers, timeout=30)


def _assert_envelope(response: httpx.Response, status: int, code: str, param: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["code"] == code and error["message"]
    if param is not None:
        assert error["param"] == param
    return error


def _assert_nothing_booked(deployment: Deployment, key: str, response: httpx.Response) -> None:
    row = deployment.hub.ledger_row(key, response.headers["x-request-id"])
    assert row["prompt_tokens"] == 0 and row["completion_tokens"] == 0
    assert row["status"] != "ok" and row["http_status"] == response.status_code


CASES = {
    "malformed json": ({"raw": b'{"model": "tiny", "messages": ['}, 400, "invalid_json", None),
    "missing messages": ({"body": {"model": "tiny"}}, 400, "invalid_request", "messages"),
    "empty messages": ({"body": {"model": "tiny", "messages": []}}, 400, "invalid_request", "messages"),
    "bad role": (
        {"body": {"model": "tiny", "messages": [{"role": "wizard", "content": "x"}]}},
        400,
        "invalid_request",
        "messages",
    ),
    "max_tokens zero": (
        {"body": {"model": "tiny", "messages": QUESTION, "max_tokens": 0}},
        400,
        "invalid_request",
        "max_tokens",
    ),
    "unknown model": ({"body": {"model": "gpt-9", "messages": QUESTION}}, 404, "model_not_found", "model"),
    "embedding model for chat": (
        {"body": {"model": "minilm", "messages": QUESTION}},
        400,
        "model_not_supported",
        "model",
    ),
    "max_tokens beyond window": (
        {"body": {"model": "tiny", "messages": QUESTION, "max_tokens": 600}},
        400,
        "context_length_exceeded",
        "max_tokens",
    ),
    "prompt beyond window": (
        {"body": {"model": "tiny", "messages": [{"role": "user", "content": "Antrag " * 700}], "max_tokens": 5}},
        400,
        "context_length_exceeded",
        None,
    ),
    "body over size limit": (
        {"body": {"model": "tiny", "messages": [{"role": "user", "content": "x" * (MAX_BODY_BYTES + 10)}]}},
        413,
        "request_too_large",
        None,
    ),
    "backend down": ({"body": {"model": "offline", "messages": QUESTION}}, 503, "backend_unavailable", None),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_request_gets_openai_error_and_books_nothing(deployment: Deployment, case: str) -> None:
    request, status, code, param = CASES[case]
    tiny = deployment.engines["tiny"]
    generated_before = tiny.counter(GENERATION_TOKENS)
    response = _post(deployment, deployment.schwerin.key, request.get("body"), raw=request.get("raw"))
    _assert_envelope(response, status, code, param)
    _assert_nothing_booked(deployment, deployment.schwerin.key, response)
    assert tiny.counter(GENERATION_TOKENS) == generated_before


def test_model_of_another_tenant_is_not_found(deployment: Deployment) -> None:
    response = _post(deployment, deployment.luebeck.key, {"model": "tiny-schwerin-only", "messages": QUESTION})
    _assert_envelope(response, 404, "model_not_found", "model")
    _assert_nothing_booked(deployment, deployment.luebeck.key, response)


@pytest.mark.parametrize(
    ("key", "code"), [(None, "missing_api_key"), ("kvb_00000000_not-a-real-key", "invalid_api_key")]
)
def test_missing_or_invalid_key(deployment: Deployment, key: str | None, code: str) -> None:
    _assert_envelope(_post(deployment, key, {"model": "tiny", "messages": QUESTION}), 401, code)


def test_openai_client_sees_authentication_error(deployment: Deployment) -> None:
    with pytest.raises(openai.AuthenticationError) as caught:
        deployment.hub.openai("kvb_00000000_not-a-real-key").models.list()
    assert caught.value.body["code"] == "invalid_api_key"


def test_revoked_key_is_refused_at_once(deployment: Deployment) -> None:
    hub = deployment.hub
    issued = hub.issue_key(deployment.schwerin.id, label="to be revoked")
    client = hub.openai(issued["secret"])
    assert client.chat.completions.create(model="tiny", messages=QUESTION, max_tokens=2).usage.completion_tokens > 0
    assert hub.admin("POST", f"/api/admin/keys/{issued['id']}/revoke").status_code == 200
    with pytest.raises(openai.AuthenticationError) as caught:
        client.chat.completions.create(model="tiny", messages=QUESTION, max_tokens=2)
    assert caught.value.body["code"] == "revoked_api_key"


def test_expired_key_is_refused(deployment: Deployment) -> None:
    hub = deployment.hub
    expires_at = datetime.now(UTC) + timedelta(seconds=2)
    issued = hub.issue_key(deployment.schwerin.id, label="short-lived", expires_at=expires_at.isoformat())
    client = hub.openai(issued["secret"])
    assert [m.id for m in client.models.list()]
    time.sleep(max(0.0, (expires_at - datetime.now(UTC)).total_seconds()) + 0.2)
    with pytest.raises(openai.AuthenticationError) as caught:
        client.models.list()
    assert caught.value.body["code"] == "expired_api_key"


def test_openai_client_raises_the_matching_exceptions(deployment: Deployment) -> None:
    client = deployment.hub.openai(deployment.schwerin.key)
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="gpt-9", messages=QUESTION)
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="tiny", messages=QUESTION, max_tokens=600)
    assert caught.value.body["param"] == "max_tokens"
    with pytest.raises(openai.InternalServerError) as caught:
        client.chat.completions.create(model="offline", messages=QUESTION)
    assert caught.value.status_code == 503


def test_client_key_may_not_use_admin_api(deployment: Deployment) -> None:
    response = httpx.get(
        f"{deployment.hub.url}/api/admin/tenants", headers={"Authorization": f"Bearer {deployment.schwerin.key}"}
    )
    _assert_envelope(response, 403, "permission_denied")
