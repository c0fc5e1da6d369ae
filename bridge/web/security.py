"""Edge protections applied to every response: security headers, body and query limits, request IDs.

A pure ASGI middleware (no per-request thread hop). Routes may set their own
Content-Security-Policy (the auto-POST page and framed pages do); everything
else gets the strict default below.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from bridge.errors import PayloadTooLarge
from bridge.logs import emit

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
access_log = logging.getLogger("bridge.access")

API_PREFIX = "/api/"  # the partner API: every error, even the edge's own, is JSON {"error", "detail"}
MAX_HEADER_BYTES = 32 * 1024  # all request headers together; a session cookie is at most 4 KB
DEFAULT_CSP = (
    "default-src 'none'; style-src 'nonce-{nonce}'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)


def page_csp(
    nonce: str, *, form_action: str = "'self'", frame_ancestors: str = "'none'", style_origin: str | None = None,
) -> str:
    """The CSP of a page we render: scripts and styles only with this response's nonce (and stylesheets
    from ``style_origin``: a biller's own css_url on payer pages)."""
    styles = f"'nonce-{nonce}' {style_origin}" if style_origin else f"'nonce-{nonce}'"
    return (
        f"default-src 'none'; script-src 'nonce-{nonce}'; style-src {styles}; img-src 'self'; "
        f"form-action {form_action}; frame-ancestors {frame_ancestors}; base-uri 'none'"
    )


class EdgeMiddleware:
    def __init__(self, app: ASGIApp, *, max_body: int, max_query: int, https: bool, access: bool = False) -> None:
        self.app = app
        self.max_body = max_body
        self.max_query = max_query
        self.https = https
        self.access = access  # logging.access: one bridge.access line per request

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        nonce = secrets.token_urlsafe(16)
        request_id = secrets.token_hex(8)
        state = scope.setdefault("state", {})
        state["csp_nonce"] = nonce
        state["request_id"] = request_id
        raw_headers = scope.get("headers") or []
        headers = dict(raw_headers)
        # uvicorn (h11) only bounds a header block it receives in pieces; one sent whole passes at 70 KB+.
        api = scope["path"].startswith(API_PREFIX)
        if sum(len(name) + len(value) + 4 for name, value in raw_headers) > MAX_HEADER_BYTES:
            await _refuse(send, 431, "headers_too_large", "the request headers are too large", api=api)
            return
        if len(scope.get("query_string", b"")) > self.max_query:
            await _refuse(send, 414, "uri_too_long", "the query string is too long", api=api)
            return
        declared = headers.get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_body):
            await _refuse(send, 413, "payload_too_large",
                          f"the request body is larger than {self.max_body} bytes", api=api)
            return
        received = 0
        limit = self.max_body
        started = time.perf_counter() if self.access else 0.0
        status = [500]

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise PayloadTooLarge(f"the request body is larger than {limit} bytes")
            return message

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                present = {name.lower() for name, _ in message.get("headers", [])}
                extra = [
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"no-referrer"),
                    (b"x-request-id", request_id.encode()),
                    (b"cross-origin-opener-policy", b"same-origin"),
                ]
                if b"cache-control" not in present:
                    extra.append((b"cache-control", b"no-store"))
                if b"content-security-policy" not in present:
                    extra.append((b"content-security-policy", DEFAULT_CSP.format(nonce=nonce).encode()))
                    extra.append((b"x-frame-options", b"DENY"))
                if self.https:
                    extra.append((b"strict-transport-security", b"max-age=31536000; includeSubDomains"))
                message["headers"] = [*message.get("headers", []), *[(k, v) for k, v in extra if k not in present]]
            await send(message)

        try:
            await self.app(scope, limited_receive, send_with_headers)
        finally:
            # Opt-in (logging.access); the record's fields are built only when it is written.
            if self.access and access_log.isEnabledFor(logging.INFO):
                # The path only: query strings carry SAMLRequest, tickets and other secrets.
                emit(access_log, logging.INFO, "%s %s %s", scope["method"], scope["path"], status[0], extra={
                    "request_id": request_id, "method": scope["method"], "path": scope["path"][:300],
                    "status": status[0], "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                })


async def _refuse(send: Send, status: int, code: str, detail: str, *, api: bool) -> None:
    """An answer from the edge itself, before any route: the API's JSON error shape on /api/, plain text elsewhere."""
    if api:
        body = json.dumps({"error": code, "detail": detail}).encode()
        content_type = b"application/json"
    else:
        body = detail.encode()
        content_type = b"text/plain; charset=utf-8"
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type), (b"cache-control", b"no-store"),
                (b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer"),
                (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
