"""Decoding and size limits at the edge: deflate and base64 bombs, junk, and oversized queries, bodies and headers."""

from __future__ import annotations

import base64
import zlib
from urllib.parse import quote

import anyio
from saml_peers import authn_request_xml

from security.hostile import SSO_URL, deflate, post_fields
from security.hostile import assert_refused as refused


def _redirect(value: str) -> str:
    return f"/saml/sso?SAMLRequest={quote(value, safe='')}"


def test_deflate_bomb_in_the_redirect_binding_is_refused_413(sqlite_bridge, plain_sp):
    bomb = deflate(b"<" + b"A" * 20_000_000)  # ~20 KB on the wire, 20 MB inflated
    assert len(bomb) < 32 * 1024
    response = sqlite_bridge.sso_redirect(_redirect(base64.b64encode(bomb).decode()))
    refused(sqlite_bridge, response, 413, "payload_too_large")


def test_zlib_wrapped_instead_of_raw_deflate_is_refused(sqlite_bridge, plain_sp):
    wrapped = zlib.compress(authn_request_xml(issuer=plain_sp.entity_id, destination=SSO_URL))
    refused(sqlite_bridge, sqlite_bridge.sso_redirect(_redirect(base64.b64encode(wrapped).decode())),
            400, "invalid_saml_request")


def test_uncompressed_xml_in_the_redirect_binding_is_refused(sqlite_bridge, plain_sp):
    plain = base64.b64encode(authn_request_xml(issuer=plain_sp.entity_id, destination=SSO_URL)).decode()
    refused(sqlite_bridge, sqlite_bridge.sso_redirect(_redirect(plain)), 400, "invalid_saml_request")


def test_truncated_deflate_stream_is_refused(sqlite_bridge, plain_sp):
    cut = deflate(authn_request_xml(issuer=plain_sp.entity_id, destination=SSO_URL))[:-8]
    refused(sqlite_bridge, sqlite_bridge.sso_redirect(_redirect(base64.b64encode(cut).decode())),
            400, "invalid_saml_request")


def test_base64_junk_in_the_post_binding_is_refused(sqlite_bridge, plain_sp):
    refused(sqlite_bridge, sqlite_bridge.sso_post({"SAMLRequest": "PHNhbWxwOk%%%$$$\x00***"}),
            400, "invalid_saml_request")


def test_base64_of_binary_junk_is_refused_as_not_xml(sqlite_bridge, plain_sp):
    junk = base64.b64encode(bytes(range(256)) * 4).decode()
    refused(sqlite_bridge, sqlite_bridge.sso_post({"SAMLRequest": junk}), 400, "invalid_saml_request")


def test_post_saml_request_over_the_message_limit_is_refused_413(sqlite_bridge, plain_sp):
    big = base64.b64encode(b"<x>" + b"a" * 40_000 + b"</x>").decode()  # under max_body, over max_saml_message
    refused(sqlite_bridge, sqlite_bridge.sso_post({"SAMLRequest": big}), 413, "payload_too_large")


def test_deeply_nested_xml_is_refused_without_a_crash(sqlite_bridge, plain_sp):
    xml = b"<a>" * 3000 + b"</a>" * 3000
    refused(sqlite_bridge, sqlite_bridge.sso_post(post_fields(xml)), 400, "invalid_saml_request")


def _asgi_status(app, path: str, query: bytes) -> tuple[int, dict[bytes, bytes]]:  # type: ignore[no-untyped-def]
    """Call the app directly: httpx will not send a 70 KB URL."""
    started: list[dict] = []

    async def run() -> None:
        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "https",
            "path": path, "raw_path": path.encode(), "query_string": query, "root_path": "",
            "headers": [(b"host", b"bridge.test")], "client": ("127.0.0.1", 1), "server": ("bridge.test", 443),
        }

        async def receive() -> dict:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict) -> None:
            if message["type"] == "http.response.start":
                started.append(message)

        await app(scope, receive, send)

    anyio.run(run)
    return started[0]["status"], dict(started[0]["headers"])


def test_query_string_over_the_edge_limit_is_refused_414(sqlite_bridge, plain_sp):
    status, headers = _asgi_status(sqlite_bridge.client.app, "/saml/sso", b"SAMLRequest=" + b"A" * 70_000)
    assert status == 414
    assert headers[b"x-content-type-options"] == b"nosniff"
    assert sqlite_bridge.audit("login.issued") == []


def test_declared_body_over_the_limit_is_refused_413_before_reading(sqlite_bridge, plain_sp):
    response = sqlite_bridge.client.post(
        "/saml/sso", content=b"SAMLRequest=" + b"A" * 70_000,
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 413
    assert sqlite_bridge.audit("login.issued") == []


def test_streamed_body_without_length_over_the_limit_is_refused_413(sqlite_bridge, plain_sp):
    def chunks():  # type: ignore[no-untyped-def]
        yield b"SAMLRequest="
        for _ in range(20):
            yield b"A" * 8192

    response = sqlite_bridge.client.post(
        "/saml/sso", content=chunks(), headers={"content-type": "application/x-www-form-urlencoded"}
    )
    refused(sqlite_bridge, response, 413, "payload_too_large")


def test_api_body_over_the_limit_is_refused_413_as_json(sqlite_bridge, plain_sp):
    response = sqlite_bridge.client.post(
        "/api/v1/logins", content=b'{"biller": "' + b"a" * 70_000 + b'"}',
        headers={"content-type": "application/json", "authorization": f"Bearer {sqlite_bridge.api_keys['city']}"},
    )
    assert response.status_code == 413
    assert sqlite_bridge.audit("launch.created") == [] or len(sqlite_bridge.audit("launch.created")) == 1


def test_non_numeric_content_length_is_refused_413(sqlite_bridge, plain_sp):
    response = sqlite_bridge.client.post(
        "/saml/sso", content=b"SAMLRequest=x", headers={"content-length": "12abc",
                                                       "content-type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 413
    assert sqlite_bridge.audit("login.issued") == []


def test_launch_ticket_over_the_token_limit_is_refused(sqlite_bridge, plain_sp):
    response = sqlite_bridge.client.get("/launch?ticket=" + "A" * 5000, follow_redirects=False)
    refused(sqlite_bridge, response, 400, "invalid_ticket")


# A deflated POST-binding request is not the spec, but node-saml sends one by default: it is taken,
# with the Redirect binding's bounds.
def test_a_deflated_post_binding_request_is_answered(sqlite_bridge, plain_sp):
    xml = authn_request_xml(issuer=plain_sp.entity_id, destination=SSO_URL, request_id="_deflated")
    response = sqlite_bridge.sso_post({"SAMLRequest": base64.b64encode(deflate(xml)).decode()})
    assert 'name="SAMLResponse"' in response.text and response.status_code == 200


def test_deflate_bomb_in_the_post_binding_is_refused_413(sqlite_bridge, plain_sp):
    bomb = deflate(b"<" + b"A" * 20_000_000)
    assert not bomb.startswith(b"<")
    refused(sqlite_bridge, sqlite_bridge.sso_post({"SAMLRequest": base64.b64encode(bomb).decode()}),
            413, "payload_too_large")


def test_truncated_deflate_stream_in_the_post_binding_is_refused(sqlite_bridge, plain_sp):
    cut = deflate(authn_request_xml(issuer=plain_sp.entity_id, destination=SSO_URL))[:-8]
    refused(sqlite_bridge, sqlite_bridge.sso_post({"SAMLRequest": base64.b64encode(cut).decode()}),
            400, "invalid_saml_request")
