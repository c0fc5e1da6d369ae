"""A small reverse proxy for tests: it listens on 127.0.0.1 and sends each request to the next node
(round robin) from its own source address, appending the client to X-Forwarded-For and setting
X-Forwarded-Proto, as nginx's ``proxy_add_x_forwarded_for`` does. Every 127.0.0.0/8 address is
loopback on Linux, so the proxy, the payers and the nodes can each have their own address."""

from __future__ import annotations

import itertools
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

HOP_BY_HOP = {b"host", b"connection", b"content-length", b"transfer-encoding", b"keep-alive"}


def _forwarding(upstreams: list[str], source: str, proto: str) -> Starlette:
    targets = itertools.cycle(upstreams)
    client = httpx.AsyncClient(transport=httpx.AsyncHTTPTransport(local_address=source), timeout=10.0)

    async def forward(request: Request) -> Response:
        peer = request.client.host if request.client else "unknown"
        prior = request.headers.get("x-forwarded-for")
        headers = [(k, v) for k, v in request.headers.raw
                   if k.lower() not in HOP_BY_HOP and k.lower() not in (b"x-forwarded-for", b"x-forwarded-proto")]
        headers += [(b"x-forwarded-for", (f"{prior}, {peer}" if prior else peer).encode()),
                    (b"x-forwarded-proto", proto.encode())]
        url = next(targets) + request.url.path + (f"?{request.url.query}" if request.url.query else "")
        answer = await client.request(request.method, url, headers=headers, content=await request.body())
        response = Response(answer.content, status_code=answer.status_code)
        response.raw_headers = [
            *((k, v) for k, v in answer.headers.raw if k.lower() not in HOP_BY_HOP), *response.raw_headers
        ]
        return response

    methods = ["GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH"]
    return Starlette(routes=[Route("/{path:path}", forward, methods=methods)])


@contextmanager
def loopback_proxy(upstreams: list[str], *, source: str, proto: str = "https") -> Iterator[str]:
    """Run the proxy; yield its URL."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    server = uvicorn.Server(uvicorn.Config(_forwarding(upstreams, source, proto), host="127.0.0.1", port=port,
                                           proxy_headers=False, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the test proxy did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def client_from(address: str) -> httpx.Client:
    """A payer's browser whose connections come from ``address``."""
    return httpx.Client(transport=httpx.HTTPTransport(local_address=address), timeout=10.0, follow_redirects=False)
