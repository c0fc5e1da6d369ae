"""Every answer of the partner API that is not a success has the JSON shape ``{"error", "detail"}``.

Through the real application: typed fields (``deep_link: 3.9`` is a 400, not DeepLinkID=3),
the edge's own refusals (413 by Content-Length, 413 while streaming, 414, 431), Starlette's
404/405, and the same field rules for a partner-signed ticket.
"""

from __future__ import annotations

import json
from typing import Any

import anyio
import pytest
from saml_peers import OneLoginSP

from bridge.delegation.tickets import mint_partner_ticket, partner_secret

PAYER = {"email": "pat@example.com", "account_number": "101Invoice", "role": "owner"}


@pytest.fixture
def api(sqlite_bridge):  # type: ignore[no-untyped-def]
    sp = OneLoginSP()
    sqlite_bridge.trust(sp)
    sqlite_bridge.add_biller("city", sp.entity_id)
    return sqlite_bridge


def _json_error(response, status: int, code: str) -> str:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text[:300]
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error", "detail"}
    assert body["error"] == code
    return str(body["detail"])


def _auth(api) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {"Authorization": f"Bearer {api.api_keys['city']}", "Content-Type": "application/json"}


def test_a_fractional_deep_link_is_400_naming_the_field_and_mints_nothing(api):
    detail = _json_error(api.create_login("city", **PAYER, deep_link=3.9), 400, "invalid_field")
    assert detail.startswith("deep_link: must be an integer")
    assert api.audit("launch.created") == []


def test_a_string_boolean_view_mode_is_400_naming_the_field(api):
    assert _json_error(api.create_login("city", **PAYER, view_mode=True), 400, "invalid_field").startswith(
        "view_mode:")


def test_a_decimal_string_integer_is_accepted(api):
    response = api.create_login("city", **PAYER, deep_link="3", view_mode="0")
    assert response.status_code == 201, response.text


def test_a_duplicate_key_is_400(api):
    raw = b'{"biller": "city", "email": "pat@example.com", "account_number": "1", "role": "owner", "role": "x"}'
    detail = _json_error(api.client.post("/api/v1/logins", content=raw, headers=_auth(api)), 400, "invalid_field")
    assert detail.startswith("role:")


def test_an_unauthenticated_caller_gets_401_before_any_field_check(api):
    response = api.client.post("/api/v1/logins", json={"biller": "city", "deep_link": 3.9},
                               headers={"Content-Type": "application/json"})
    _json_error(response, 401, "unauthorized")


def test_a_body_declared_too_large_is_a_json_413(api):
    limit = api.settings.limits.max_body
    raw = b'{"pad": "' + b"x" * limit + b'"}'
    detail = _json_error(api.client.post("/api/v1/logins", content=raw, headers=_auth(api)), 413,
                         "payload_too_large")
    assert str(limit) in detail


def test_a_body_streamed_past_the_limit_is_a_json_413(api):
    limit = api.settings.limits.max_body

    def chunks():  # no Content-Length: the edge counts as the body arrives
        yield b'{"pad": "'
        for _ in range(limit // 1024 + 2):
            yield b"x" * 1024
        yield b'"}'

    response = api.client.post("/api/v1/logins", content=chunks(), headers=_auth(api))
    _json_error(response, 413, "payload_too_large")


def test_an_overlong_query_string_is_a_json_414(api):
    # Straight into the ASGI app: httpx will not send a URL this long.
    answer: dict[str, Any] = {}

    async def run() -> None:
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
                 "scheme": "https", "path": "/api/v1/logins", "raw_path": b"/api/v1/logins", "root_path": "",
                 "query_string": b"q" * (api.settings.limits.max_saml_message * 2 + 1),
                 "headers": [(b"host", b"bridge.test")], "client": ("127.0.0.1", 1), "server": ("bridge.test", 443)}

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            answer.update(message)

        await api.client.app(scope, receive, send)

    anyio.run(run)
    assert json.loads(answer["body"]) == {"error": "uri_too_long", "detail": "the query string is too long"}


def test_an_oversized_header_block_is_a_json_431(api):
    response = api.client.post("/api/v1/logins", json={}, headers={**_auth(api), "X-Pad": "p" * 40_000})
    _json_error(response, 431, "headers_too_large")


def test_an_unknown_api_path_is_a_json_404(api):
    _json_error(api.client.get("/api/v1/nothing-here"), 404, "not_found")


def test_a_wrong_method_is_a_json_405_with_allow(api):
    response = api.client.get("/api/v1/logins")
    _json_error(response, 405, "method_not_allowed")
    assert "POST" in response.headers["allow"]


def test_a_browser_404_is_still_an_html_page(api):
    response = api.client.get("/no-such-page")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "Reference: not_found" in response.text


def test_a_partner_ticket_with_a_fractional_deep_link_is_refused_naming_the_field(api):
    secret = partner_secret(api.settings.tickets.secrets[-1], "city")
    token = mint_partner_ticket(secret, {"biller": "city", **PAYER, "deep_link": 3.9}, ticket_id="_frac",
                                now=api.clock())
    response = api.client.get("/launch", params={"partner_ticket": token}, follow_redirects=False)
    assert response.status_code == 400
    assert "deep_link" in response.text
    assert "location" not in response.headers
