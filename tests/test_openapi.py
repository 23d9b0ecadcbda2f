"""Swagger UI and ReDoc: every endpoint described, with request and response examples."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx

EXPECTED_ROUTES = {
    ("post", "/api/sessions"),
    ("get", "/api/sessions"),
    ("get", "/api/search"),
    ("post", "/api/sessions/import"),
    ("get", "/metrics"),
    ("get", "/api/sessions/{session_id}"),
    ("patch", "/api/sessions/{session_id}"),
    ("delete", "/api/sessions/{session_id}"),
    ("get", "/api/sessions/{session_id}/messages"),
    ("get", "/api/sessions/{session_id}/export"),
    ("get", "/api/sessions/{session_id}/tree"),
    ("get", "/api/sessions/{session_id}/summaries"),
    ("get", "/api/audit"),
    ("post", "/api/profiles"),
    ("get", "/api/profiles"),
    ("get", "/api/profiles/{profile_id}"),
    ("patch", "/api/profiles/{profile_id}"),
    ("delete", "/api/profiles/{profile_id}"),
    ("get", "/api/sessions/{session_id}/status"),
    ("post", "/api/sessions/{session_id}/stop"),
    ("post", "/api/messages/{message_id}/cancel"),
    ("post", "/api/messages/{message_id}/select"),
    ("delete", "/api/messages/{message_id}"),
    ("post", "/api/messages/{message_id}/regenerate"),
    ("post", "/api/messages/{message_id}/regenerate/stream"),
    ("post", "/api/sessions/{session_id}/fork"),
    ("get", "/api/messages/{message_id}/context"),
    ("post", "/api/chat"),
    ("post", "/api/chat/stream"),
    ("get", "/api/chat/stream"),
    ("get", "/api/messages/{message_id}/stream"),
    ("get", "/api/health"),
    ("get", "/api/health/live"),
    ("get", "/api/health/ready"),
    ("get", "/v1/models"),
    ("post", "/v1/chat/completions"),
    ("post", "/v1/responses"),
    ("get", "/v1/responses/{response_id}"),
    ("post", "/v1/responses/{response_id}/cancel"),
    ("delete", "/v1/responses/{response_id}"),
    ("get", "/v1/responses/{response_id}/input_items"),
    ("post", "/v1/conversations"),
    ("get", "/v1/conversations/{conversation_id}"),
    ("post", "/v1/conversations/{conversation_id}"),
    ("delete", "/v1/conversations/{conversation_id}"),
    ("get", "/v1/conversations/{conversation_id}/items"),
    ("post", "/v1/conversations/{conversation_id}/items"),
    ("get", "/v1/conversations/{conversation_id}/items/{item_id}"),
    ("delete", "/v1/conversations/{conversation_id}/items/{item_id}"),
}


def resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        node = schema["components"]["schemas"][name]
    if "anyOf" in node:  # optional bodies
        node = next(resolve(schema, n) for n in node["anyOf"] if n.get("type") != "null")
    return node


def has_example(schema: dict[str, Any], media: dict[str, Any]) -> bool:
    if "example" in media or "examples" in media:
        return True
    target = resolve(schema, media.get("schema", {}))
    if "examples" in target or "example" in target:
        return True
    properties = target.get("properties", {})
    return bool(properties) and all("examples" in p or "$ref" in p for p in properties.values())


DOCS_PAGES = ("/docs", "/redoc", "/docs/oauth2-redirect")
# src="...", href="...", url: '...', url(...) in CSS: everything a page may load
REFERENCES = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']|url\(\s*["']?([^"')]+)""")


def references(html: str) -> list[str]:
    return [a or b for a, b in REFERENCES.findall(html)]


def test_docs_pages_name_only_assets_of_this_service(client: httpx.Client) -> None:
    """Swagger UI and ReDoc work without internet: every script, style and icon the
    pages name comes from the service itself, and answers 200."""
    swagger, redoc = client.get("/docs"), client.get("/redoc")
    assert "SwaggerUIBundle" in swagger.text
    assert "<redoc" in redoc.text
    for page in DOCS_PAGES:
        html = client.get(page)
        assert html.status_code == 200, page
        assert "text/html" in html.headers["content-type"]
        # no other origin anywhere: no CDN, no web fonts, no validator badge
        assert not re.search(r"(?:https?:)?//[a-z0-9]", html.text, flags=re.I), page
    assets = references(swagger.text) + references(redoc.text)
    assert len(set(assets)) >= 4  # Swagger's script, style and icon; ReDoc's script
    for asset in set(assets):
        assert asset.startswith("/docs/assets/"), asset
        answer = client.get(asset)
        assert answer.status_code == 200, asset
        assert len(answer.content) > 1000, asset
        assert answer.headers["cache-control"] == "no-cache"  # kept, revalidated by ETag
        again = client.get(asset, headers={"If-None-Match": answer.headers["etag"]})
        assert again.status_code == 304, asset


def test_every_endpoint_has_description_and_examples(client: httpx.Client) -> None:
    schema = client.get("/openapi.json").json()
    routes = {
        (method, path): operation
        for path, item in schema["paths"].items()
        for method, operation in item.items()
    }
    assert set(routes) == EXPECTED_ROUTES
    for key, operation in routes.items():
        assert operation.get("description") or operation.get("summary"), key
        assert len(operation.get("description", "")) > 15, key
        body = operation.get("requestBody")
        if body:
            media = body["content"]["application/json"]
            assert has_example(schema, media), f"{key}: request body has no example"
        success = next(code for code in operation["responses"] if code.startswith("2"))
        content = operation["responses"][success].get("content")
        if content:  # 204 has none
            media = next(iter(content.values()))
            assert has_example(schema, media), f"{key}: response has no example"
        if "{session_id}" in key[1] or "{message_id}" in key[1]:
            assert "404" in operation["responses"], key


def test_each_route_documents_only_what_it_can_answer(client: httpx.Client) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    # liveness is 200 even while draining, and reads no database
    assert set(paths["/api/health/live"]["get"]["responses"]) == {"200"}
    for path, item in paths.items():
        if "get" in item:  # no body: never 415, nor 400 for a body that cannot be parsed
            responses = item["get"]["responses"]
            assert "415" not in responses, path
            bad = responses.get("400", {}).get("content", {}).get("application/json", {})
            # a 400 there is `truncation: disabled` refusing a window (GET /api/chat/stream)
            assert set(bad.get("examples", {})) <= {"context_length_exceeded"}, path
        for method, operation in item.items():
            if not path.startswith("/api/health"):  # the database may refuse, or a drain
                assert "503" in operation["responses"], (method, path)
    # Every route that takes `truncation` documents its refusal; the others do not.
    takes_truncation = [
        ("/api/chat/stream", "get"),
        ("/api/chat", "post"),
        ("/api/chat/stream", "post"),
        ("/api/messages/{message_id}/regenerate", "post"),
        ("/api/messages/{message_id}/regenerate/stream", "post"),
    ]
    for path, method in [*takes_truncation, ("/v1/chat/completions", "post")]:
        bad = paths[path][method]["responses"]["400"]["content"]["application/json"]
        documented = "context_length_exceeded" in json.dumps(bad)
        assert documented == ((path, method) in takes_truncation), path
    ready = paths["/api/health/ready"]["get"]["responses"]
    assert ready["200"]["content"]["application/json"]["example"]["ready"] is True
    assert ready["503"]["content"]["application/json"]["example"]["ready"] is False


def test_stream_endpoint_documents_event_stream_with_example(client: httpx.Client) -> None:
    schema = client.get("/openapi.json").json()
    ok = schema["paths"]["/api/chat/stream"]["post"]["responses"]["200"]
    example = ok["content"]["text/event-stream"]["example"]
    assert "event: start" in example
    assert "event: done" in example


def test_chat_documents_each_llm_failure_status(client: httpx.Client) -> None:
    responses = client.get("/openapi.json").json()["paths"]["/api/chat"]["post"]["responses"]
    for code in ("404", "413", "415", "422", "502", "503", "504"):
        assert "examples" in responses[code]["content"]["application/json"], code
    conflict = responses["409"]["content"]["application/json"]["example"]
    assert conflict["code"] == "turn_in_progress"
    unprocessable = responses["422"]["content"]["application/json"]["examples"]
    assert set(unprocessable) == {
        "validation_error",
        "context_too_long",
        "idempotency_key_reused",
        "invalid_parent",
        "invalid_edit_of",
    }
