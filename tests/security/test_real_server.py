"""Limits only a real HTTP server shows: oversized header blocks and request lines, through uvicorn over a socket.

The TestClient cannot send these (httpx refuses long URLs itself), so one
uvicorn server on 127.0.0.1 serves the real app for the module.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn
from starlette.responses import PlainTextResponse
from starlette.testclient import TestClient

from bridge.web.security import EdgeMiddleware


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def server(sqlite_bridge) -> Iterator[tuple[str, int]]:  # type: ignore[no-untyped-def]
    port = _free_port()
    config = uvicorn.Config(sqlite_bridge.client.app, host="127.0.0.1", port=port, log_config=None,
                            access_log=False, lifespan="off", server_header=False)
    instance = uvicorn.Server(config)
    thread = threading.Thread(target=instance.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not instance.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert instance.started
    yield "127.0.0.1", port
    instance.should_exit = True
    thread.join(timeout=10)


def _raw(address: tuple[str, int], request: bytes) -> bytes:
    with socket.create_connection(address, timeout=10) as sock:
        sock.sendall(request)
        chunks = []
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)


def _status(reply: bytes) -> int:
    return int(reply.split(b" ", 2)[1]) if reply.startswith(b"HTTP/1.1 ") else 0


def test_control_a_plain_get_over_the_socket_is_answered(server):
    reply = _raw(server, b"GET /healthz HTTP/1.1\r\nHost: bridge.test\r\nConnection: close\r\n\r\n")
    assert _status(reply) == 200


def test_header_block_of_70_kb_is_refused_431_at_the_edge(server):
    # h11 lets a header block sent in one piece through well past 64 KB: the edge middleware bounds it.
    header = b"X-Junk: " + b"a" * 70_000 + b"\r\n"
    reply = _raw(server, b"GET /healthz HTTP/1.1\r\nHost: bridge.test\r\n" + header + b"Connection: close\r\n\r\n")
    assert _status(reply) == 431
    assert b"x-content-type-options: nosniff" in reply.lower()


def test_header_block_of_a_megabyte_is_refused_431_at_the_edge(server):
    header = b"X-Junk: " + b"a" * 1_000_000 + b"\r\n"
    reply = _raw(server, b"GET /healthz HTTP/1.1\r\nHost: bridge.test\r\n" + header + b"Connection: close\r\n\r\n")
    assert _status(reply) == 431
    assert b"Traceback" not in reply


def test_a_request_line_over_64_kb_is_refused_400_by_uvicorn_before_the_app(server, sqlite_bridge):
    # httptools (llhttp) refuses a request line past 64 KB itself, so the edge's 414 (next test) is the
    # limit for what does reach the app, e.g. through another ASGI server.
    before = len(sqlite_bridge.audit())
    query = b"SAMLRequest=" + b"A" * 70_000
    reply = _raw(server, b"GET /saml/sso?" + query + b" HTTP/1.1\r\nHost: bridge.test\r\nConnection: close\r\n\r\n")
    assert _status(reply) == 400
    assert b"Traceback" not in reply
    assert len(sqlite_bridge.audit()) == before  # the app never saw it (it audits every refused SSO request)


def test_query_string_over_the_edge_limit_is_refused_414_before_the_app():
    reached = []

    async def app(scope, receive, send) -> None:  # type: ignore[no-untyped-def]
        reached.append(scope["path"])
        await PlainTextResponse("ok")(scope, receive, send)

    client = TestClient(EdgeMiddleware(app, max_body=1000, max_query=100, https=False))
    assert client.get("/saml/sso?q=" + "A" * 98).status_code == 200
    response = client.get("/saml/sso?q=" + "A" * 99)
    assert response.status_code == 414
    assert response.headers["x-content-type-options"] == "nosniff"
    assert reached == ["/saml/sso"]
