"""kind: vertex through the whole gateway: a service-account file signs in at Google's token
endpoint (its JWT checked against the account's public key), then Gemini's generateContent and
streamGenerateContent on Vertex AI (project and location in the URL, our token as bearer) are
mocked on the wire with respx; usage with cached and thinking tokens lands in the ledger."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import jwt
import orjson
import pytest
import requests
import respx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.upstream.litellm.harness import (
    BACKUP,
    BACKUP_REPLY,
    BACKUP_URL,
    CHAT,
    SentWithBearer,
    cost,
    gateway,
    route,
    spend_rows,
    sse_chunks,
    tool_round_trip,
)

TOKEN_URI = "https://oauth2.googleapis.com/token"
ACCESS_TOKEN = "ya29.c.test-access-token"
BASE = (
    "https://europe-west4-aiplatform.googleapis.com/v1/projects/acme-ml/locations/europe-west4"
    "/publishers/google/models/gemini-2.5-flash"
)
PROVIDER = """
  gcp:
    kind: vertex
    credentials_file: {creds}
    vertex_project: acme-ml
    vertex_location: europe-west4
    models:
      m:
        upstream: gemini-2.5-flash
        price: {{input_per_mtok: 0.3, output_per_mtok: 2.5, cached_input_per_mtok: 0.075}}
"""
# generateContent's reply as in the Vertex AI reference: cached content and thinking counted.
USAGE = {
    "promptTokenCount": 120,
    "candidatesTokenCount": 8,
    "totalTokenCount": 178,
    "cachedContentTokenCount": 100,
    "thoughtsTokenCount": 50,
    "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 120}],
}


def reply(*parts: dict[str, Any], usage: dict[str, Any] = USAGE) -> dict[str, Any]:
    return {
        "candidates": [
            {"content": {"role": "model", "parts": list(parts)}, "finishReason": "STOP"}
        ],
        "usageMetadata": usage,
        "modelVersion": "gemini-2.5-flash",
        "responseId": "rsp-1",
    }


class TokenEndpoint:
    """Google's token endpoint, where google-auth (used by litellm, over `requests`, which respx
    cannot see) trades the service account's signed JWT for an access token."""

    def __init__(self, public_key: Any, email: str) -> None:
        self.public_key = public_key
        self.email = email
        self.calls = 0

    def send(self, request: requests.PreparedRequest, **_: Any) -> requests.Response:
        assert request.url == TOKEN_URI, f"unexpected request to {request.url}"
        body = request.body.decode() if isinstance(request.body, bytes) else str(request.body)
        form = parse_qs(body)
        assert form["grant_type"] == ["urn:ietf:params:oauth:grant-type:jwt-bearer"]
        claims = jwt.decode(
            form["assertion"][0], self.public_key, algorithms=["RS256"], audience=TOKEN_URI
        )
        assert claims["iss"] == self.email
        assert "https://www.googleapis.com/auth/cloud-platform" in claims["scope"]
        self.calls += 1
        response = requests.Response()
        response.status_code = 200
        response._content = orjson.dumps(
            {"access_token": ACCESS_TOKEN, "expires_in": 3599, "token_type": "Bearer"}
        )
        response.headers["content-type"] = "application/json"
        response.url = TOKEN_URI
        return response


@pytest.fixture
def token_endpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> TokenEndpoint:
    """A fresh service account (its own RSA key, so litellm's token cache starts empty) and
    Google's token endpoint in front of `requests`."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    email = f"gateway-{uuid.uuid4().hex[:8]}@acme-ml.iam.gserviceaccount.com"
    account = {
        "type": "service_account",
        "project_id": "acme-ml",
        "private_key_id": uuid.uuid4().hex,
        "private_key": key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode(),
        "client_email": email,
        "client_id": "1234567890",
        "token_uri": TOKEN_URI,
    }
    (tmp_path / "sa.json").write_text(json.dumps(account))
    endpoint = TokenEndpoint(key.public_key(), email)
    monkeypatch.setattr(requests.adapters.HTTPAdapter, "send", lambda _, r, **k: endpoint.send(r))
    return endpoint


def provider(tmp_path: Path) -> str:
    return PROVIDER.format(creds=tmp_path / "sa.json")


sent = SentWithBearer(ACCESS_TOKEN)


async def test_chat_signs_in_with_the_service_account_and_bills_cache_and_thinking(
    tmp_path: Path, token_endpoint: TokenEndpoint
) -> None:
    with respx.mock() as mock:
        generate = mock.post(f"{BASE}:generateContent").respond(
            200, json=reply({"text": "Hello from Gemini"})
        )
        async with gateway(tmp_path, provider(tmp_path), {}, route("gcp/m")) as gw:
            answer = await gw.post("/v1/chat/completions", json={**CHAT, "max_tokens": 64})
    assert answer.status_code == 200, answer.text
    assert answer.json()["choices"][0]["message"]["content"] == "Hello from Gemini"
    assert token_endpoint.calls == 1
    wire = sent(generate)
    assert wire["contents"] == [{"role": "user", "parts": [{"text": "hi"}]}]
    assert wire["generationConfig"]["max_output_tokens"] == 64
    (row,) = await spend_rows(tmp_path)
    # Gemini's candidates exclude thinking; ours counts it inside completion_tokens.
    assert (row.prompt_tokens, row.cached_tokens) == (120, 100)
    assert (row.completion_tokens, row.reasoning_tokens) == (58, 50)
    assert row.cost_usd == cost(20, 58, 0.3, 2.5) + cost(100, 0, 0.075, 0)


async def test_stream_generate_content_relayed_as_openai_sse(
    tmp_path: Path, token_endpoint: TokenEndpoint
) -> None:
    first = {**reply({"text": "Hel"}), "usageMetadata": {"promptTokenCount": 120}}
    first["candidates"][0].pop("finishReason")
    body = b"data: " + orjson.dumps(first) + b"\r\n\r\n"
    body += b"data: " + orjson.dumps(reply({"text": "lo"})) + b"\r\n\r\n"
    with respx.mock() as mock:
        stream = mock.post(f"{BASE}:streamGenerateContent", params={"alt": "sse"}).respond(
            200, content=body, headers={"content-type": "text/event-stream"}
        )
        async with gateway(tmp_path, provider(tmp_path), {}, route("gcp/m")) as gw:
            answer = await gw.post(
                "/v1/chat/completions",
                json={**CHAT, "stream": True, "stream_options": {"include_usage": True}},
            )
    assert answer.status_code == 200, answer.text
    sent(stream)
    chunks = sse_chunks(answer.content)
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text == "Hello"
    assert chunks[-1]["usage"]["prompt_tokens"] == 120
    (row,) = await spend_rows(tmp_path)
    assert row.stream and (row.prompt_tokens, row.completion_tokens) == (120, 58)
    assert (row.cached_tokens, row.reasoning_tokens) == (100, 50)


async def test_a_function_call_round_trip(tmp_path: Path, token_endpoint: TokenEndpoint) -> None:
    function_call = {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}
    with respx.mock() as mock:
        generate = mock.post(f"{BASE}:generateContent")
        generate.side_effect = [
            respx.MockResponse(200, json=reply(function_call)),
            respx.MockResponse(200, json=reply({"text": "18 C and sunny in Paris."})),
        ]
        async with gateway(tmp_path, provider(tmp_path), {}, route("gcp/m")) as gw:
            await tool_round_trip(gw)
    declared = sent(generate, 0)["tools"][0]["function_declarations"][0]
    assert declared["name"] == "get_weather"
    contents = sent(generate, 1)["contents"]
    assert contents[1]["parts"][0]["function_call"]["name"] == "get_weather"
    response = contents[2]["parts"][0]["function_response"]
    assert response["name"] == "get_weather"
    assert "18 C, sunny" in json.dumps(response["response"])


EXHAUSTED = "Resource exhausted. Please try again later."


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (429, {"code": 429, "message": EXHAUSTED, "status": "RESOURCE_EXHAUSTED"}),
        (503, {"code": 503, "message": "The service is unavailable.", "status": "UNAVAILABLE"}),
    ],
)
async def test_exhausted_or_unavailable_vertex_fails_over_to_openai(
    tmp_path: Path, token_endpoint: TokenEndpoint, status: int, error: dict[str, Any]
) -> None:
    with respx.mock() as mock:
        generate = mock.post(f"{BASE}:generateContent").respond(status, json={"error": error})
        backup = mock.post(BACKUP_URL).respond(200, json=BACKUP_REPLY)
        providers = provider(tmp_path) + BACKUP
        async with gateway(tmp_path, providers, {}, route("gcp/m", "backup/m")) as gw:
            answer = await gw.post("/v1/chat/completions", json=CHAT)
    assert answer.status_code == 200, answer.text
    assert generate.call_count == 1 and backup.call_count == 1
    assert answer.headers["x-gateway-deployment"] == "backup/m"
    (row,) = await spend_rows(tmp_path)
    assert (row.provider, row.attempts) == ("backup", 2)
