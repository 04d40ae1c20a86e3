"""The routed endpoints' own error rendering (gateway/api/fast_path.py), as the framework's
exception middlewares did it: a GatewayError in OpenAI's shape, anything else a 500, and an
error after the answer started raised on."""

from __future__ import annotations

import httpx
import orjson
import pytest
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.api.fast_path import GatewayApp, Rendered
from gateway.errors import InvalidRequest


async def _post(app: Rendered) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
        return await client.post("/v1/chat/completions", content=b"{}")


async def test_a_gateway_error_in_openai_shape() -> None:
    async def endpoint(scope: Scope, receive: Receive, send: Send) -> None:
        raise InvalidRequest("bad field", param="messages")

    r = await _post(Rendered(endpoint))
    assert r.status_code == 400
    assert r.json()["error"] == {
        "message": "bad field",
        "type": "invalid_request_error",
        "param": "messages",
        "code": r.json()["error"]["code"],
    }


async def test_anything_else_is_a_500_without_its_message() -> None:
    async def endpoint(scope: Scope, receive: Receive, send: Send) -> None:
        raise KeyError("secret detail")

    r = await _post(Rendered(endpoint))
    assert r.status_code == 500
    err = orjson.loads(r.content)["error"]
    assert err["type"] == "server_error" and "secret" not in err["message"]


async def test_an_error_after_the_answer_started_is_raised_on() -> None:
    async def endpoint(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        raise InvalidRequest("too late")

    with pytest.raises(InvalidRequest):
        await _post(Rendered(endpoint))


async def test_the_fast_path_goes_through_every_middleware_of_the_app() -> None:
    """The routed endpoints skip the framework's layers, not the app's middlewares: one added
    with add_middleware (metrics, say) sees them, in the order added; other methods and paths
    go through FastAPI as usual."""
    seen: list[str] = []

    class Recorder:
        def __init__(self, app: ASGIApp, name: str) -> None:
            self.app, self.name = app, name

        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            seen.append(f"{self.name} {scope['method']} {scope['path']}")
            await self.app(scope, receive, send)

    async def endpoint(scope: Scope, receive: Receive, send: Send) -> None:
        assert scope["app"] is app
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"routed"})

    app = GatewayApp()
    app.fast_endpoints = {"/v1/chat/completions": endpoint}
    app.add_middleware(Recorder, name="inner")
    app.add_middleware(Recorder, name="outer")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
        r = await client.post("/v1/chat/completions", content=b"{}")
        assert r.status_code == 200 and r.content == b"routed"
        assert (await client.get("/v1/chat/completions")).status_code == 404  # not routed here
    assert seen == [
        "outer POST /v1/chat/completions",
        "inner POST /v1/chat/completions",
        "outer GET /v1/chat/completions",
        "inner GET /v1/chat/completions",
    ]
