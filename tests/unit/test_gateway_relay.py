"""Gateway logic against fake vLLM upstreams: relaying, usage stripping, routing, failover."""

from __future__ import annotations

import asyncio

import msgspec
import pytest

from tests.support.fake_vllm import FakeVLLM
from tests.support.ports import free_port
from tests.support.servers import ThreadedServer
from tests.unit.conftest import FakeUpstream, Hub

MESSAGES = [{"role": "user", "content": "eins zwei drei"}]


async def register(hub: Hub, name: str, url: str, *, model: str = "fake", alias: str | None = "chat") -> None:
    """Register a backend (and optionally a model alias) and wait until the gateway routes to it."""
    response = await hub.client.post(
        "/api/admin/backends",
        json={"name": name, "base_url": url, "location": "DE-MV-Schwerin", "served_models": [model]},
        headers=hub.auth(hub.keys.operator),
    )
    assert response.status_code == 201, response.text
    if alias:
        response = await hub.client.post(
            "/api/admin/models", json={"name": alias, "upstream_name": model}, headers=hub.auth(hub.keys.operator)
        )
        assert response.status_code == 201, response.text
        for _ in range(100):
            listed = await hub.client.get("/v1/models", headers=hub.auth(hub.keys.schwerin))
            if alias in {m["id"] for m in listed.json()["data"]}:
                break
            await asyncio.sleep(0.05)
    await wait_for_status(hub, name)


async def wait_for_status(hub: Hub, name: str) -> dict:
    """Poll the backend status until the gateway has checked ``name`` (it runs on the app's own loop)."""
    for _ in range(100):
        response = await hub.client.get("/api/admin/backends/status", headers=hub.auth(hub.keys.operator))
        status = {s["name"]: s for s in response.json()}
        if name in status and status[name]["checked_at"] is not None:
            return status
        await asyncio.sleep(0.05)
    raise AssertionError(f"backend {name} was never checked")


def sse_chunks(body: str) -> list[dict | str]:
    """Decode an SSE body into JSON chunks (and the literal ``[DONE]``)."""
    events = [line.removeprefix("data: ") for line in body.split("\n\n") if line.startswith("data: ")]
    return [e if e == "[DONE]" else msgspec.json.decode(e) for e in events]


async def ledger_rows(hub: Hub, key: str) -> list[dict]:
    """The tenant's ledger rows, newest first."""
    response = await hub.client.get("/v1/usage/requests", headers=hub.auth(key))
    assert response.status_code == 200
    return response.json()["data"]


async def test_non_stream_answer_carries_alias_and_is_booked(hub: Hub, fake_upstream: FakeUpstream) -> None:
    await register(hub, "fake-1", fake_upstream.server.url)
    response = await hub.client.post(
        "/v1/chat/completions", json={"model": "chat", "messages": MESSAGES}, headers=hub.auth(hub.keys.schwerin)
    )
    assert response.status_code == 200
    body = response.json()
    assert body["model"] == "chat"
    assert body["usage"] == {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}
    [row] = await ledger_rows(hub, hub.keys.schwerin)
    assert row["request_id"] == response.headers["x-request-id"]
    assert (row["prompt_tokens"], row["completion_tokens"], row["status"]) == (3, 4, "ok")
    assert await ledger_rows(hub, hub.keys.luebeck) == []  # another tenant sees nothing of it


@pytest.mark.parametrize(
    ("stream_options", "usage_in_chunks", "final_usage_chunk"),
    [
        (None, "absent", False),
        ({"include_usage": True}, "null", True),
        ({"include_usage": True, "continuous_usage_stats": True}, "present", True),
    ],
)
async def test_stream_returns_usage_only_as_asked(
    hub: Hub, fake_upstream: FakeUpstream, stream_options: dict | None, usage_in_chunks: str, final_usage_chunk: bool
) -> None:
    await register(hub, "fake-1", fake_upstream.server.url)
    body = {"model": "chat", "messages": MESSAGES, "stream": True, "max_tokens": 5}
    if stream_options:
        body["stream_options"] = stream_options
    response = await hub.client.post("/v1/chat/completions", json=body, headers=hub.auth(hub.keys.schwerin))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    chunks = sse_chunks(response.text)
    assert chunks[-1] == "[DONE]"
    data = [c for c in chunks[:-1] if isinstance(c, dict)]
    content = [c for c in data if c["choices"]]
    assert len(content) == 6 and all(c["model"] == "chat" for c in data)  # role chunk + 5 tokens
    if usage_in_chunks == "absent":
        assert all("usage" not in c for c in content)
    elif usage_in_chunks == "null":
        assert all(c["usage"] is None for c in content)
    else:
        assert [c["usage"]["completion_tokens"] for c in content] == [0, 1, 2, 3, 4, 5]
    final = [c for c in data if not c["choices"]]
    assert (len(final) == 1) is final_usage_chunk
    if final_usage_chunk:
        assert final[0]["usage"]["completion_tokens"] == 5
    [row] = await ledger_rows(hub, hub.keys.schwerin)
    assert (row["prompt_tokens"], row["completion_tokens"], row["stream"]) == (3, 5, True)
    assert row["ttft_ms"] is not None


async def test_gateway_asks_upstream_for_continuous_usage(hub: Hub, fake_upstream: FakeUpstream) -> None:
    seen: list[dict] = []
    original = fake_upstream.app._inference

    async def spy(path, req, send, receive):
        seen.append(req)
        await original(path, req, send, receive)

    fake_upstream.app._inference = spy
    await register(hub, "fake-1", fake_upstream.server.url)
    body = {"model": "chat", "messages": MESSAGES, "stream": True, "top_k": 5, "stream_options": {}}
    response = await hub.client.post("/v1/chat/completions", json=body, headers=hub.auth(hub.keys.schwerin))
    assert response.status_code == 200
    assert seen[0]["model"] == "fake"  # alias rewritten to the upstream name
    assert seen[0]["stream_options"] == {"include_usage": True, "continuous_usage_stats": True}
    assert seen[0]["top_k"] == 5  # fields the gateway does not police are forwarded untouched


async def test_least_loaded_backend_is_chosen(hub: Hub, fake_upstream: FakeUpstream) -> None:
    busy = FakeVLLM("fake", tokens=4)
    busy.running = 7  # reported through /metrics as vllm:num_requests_running
    busy_server = ThreadedServer(busy).start()
    try:
        await register(hub, "busy", busy_server.url)
        await register(hub, "idle", fake_upstream.server.url, alias=None)
        for _ in range(4):
            response = await hub.client.post(
                "/v1/chat/completions",
                json={"model": "chat", "messages": MESSAGES},
                headers=hub.auth(hub.keys.schwerin),
            )
            assert response.status_code == 200
        assert fake_upstream.app.generated == 16 and busy.generated == 0
    finally:
        busy_server.stop()


async def test_down_backend_is_skipped_and_the_request_served_elsewhere(hub: Hub, fake_upstream: FakeUpstream) -> None:
    await register(hub, "dead", f"http://127.0.0.1:{free_port()}")
    await register(hub, "alive", fake_upstream.server.url, alias=None)
    status = {
        s["name"]: s
        for s in (await hub.client.get("/api/admin/backends/status", headers=hub.auth(hub.keys.operator))).json()
    }
    assert status["dead"]["healthy"] is False and status["alive"]["healthy"] is True
    response = await hub.client.post(
        "/v1/chat/completions", json={"model": "chat", "messages": MESSAGES}, headers=hub.auth(hub.keys.schwerin)
    )
    assert response.status_code == 200
    assert fake_upstream.app.generated == 4


async def test_backend_dying_between_health_checks_fails_no_request(hub: Hub, fake_upstream: FakeUpstream) -> None:
    doomed = ThreadedServer(FakeVLLM("fake", tokens=4)).start()
    await register(hub, "doomed", doomed.url)
    await register(hub, "alive", fake_upstream.server.url, alias=None)
    doomed.stop()  # connections are refused from now on; the next health check is up to 0.2 s away
    for _ in range(3):
        response = await hub.client.post(
            "/v1/chat/completions", json={"model": "chat", "messages": MESSAGES}, headers=hub.auth(hub.keys.schwerin)
        )
        assert response.status_code == 200
    assert fake_upstream.app.generated == 12


async def test_upstream_client_error_is_normalised(hub: Hub, fake_upstream: FakeUpstream) -> None:
    await register(hub, "fake-1", fake_upstream.server.url)
    words = " ".join(["wort"] * 2100)  # the fake's window is 2048 tokens
    response = await hub.client.post(
        "/v1/chat/completions",
        json={"model": "chat", "messages": [{"role": "user", "content": words}], "max_tokens": 4},
        headers=hub.auth(hub.keys.schwerin),
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "context_length_exceeded" and isinstance(error["code"], str)
    [row] = await ledger_rows(hub, hub.keys.schwerin)
    assert row["completion_tokens"] == 0 and row["status"] == "client_error"


async def test_upstream_model_mismatch_is_a_gateway_error(hub: Hub, fake_upstream: FakeUpstream) -> None:
    # The registry claims the backend serves "other", but it does not: the client cannot fix that.
    await register(hub, "fake-1", fake_upstream.server.url, model="other")
    response = await hub.client.post(
        "/v1/chat/completions", json={"model": "chat", "messages": MESSAGES}, headers=hub.auth(hub.keys.schwerin)
    )
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "upstream_error"
