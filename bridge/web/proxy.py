"""Trusting reverse proxies: which peers may name the client and the scheme (``server.forwarded_allow_ips``).

uvicorn's ProxyHeadersMiddleware does the work: from a peer in the list (addresses or CIDR
networks) it takes the client from X-Forwarded-For (the rightmost address that is not itself a
trusted proxy, so a client cannot push its own entry past the proxy's) and the scheme from
X-Forwarded-Proto; from anyone else both headers are ignored. The client address then drives the
per-address rate limits, the audit trail's ``client_ip`` and the metadata-fetch log.

The bridge's own https decisions (Secure cookies, HSTS) follow ``idp.base_url``, not the request;
a request that still arrives as plain http on an https instance means the proxy is not trusted or
sends no X-Forwarded-Proto, which is logged once per process so the operator can fix it.
"""

from __future__ import annotations

import logging

from starlette.middleware import Middleware
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from bridge.config import Settings

log = logging.getLogger("bridge.web")


class PlainHttpWarning:
    """Log once when an https instance receives a request whose scheme is still http."""

    def __init__(self, app: ASGIApp, *, trusted: list[str]) -> None:
        self.app = app
        self.trusted = trusted
        self.warned = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.warned and scope["type"] == "http" and scope.get("scheme") == "http":
            self.warned = True
            peer = (scope.get("client") or ("unknown",))[0]
            log.warning("a request arrived over plain http although idp.base_url is https (peer %s): if a proxy "
                        "terminates TLS, list its address in server.forwarded_allow_ips (now %s) and have it send "
                        "X-Forwarded-For and X-Forwarded-Proto", peer, ", ".join(self.trusted))
        await self.app(scope, receive, send)


def proxy_middleware(settings: Settings) -> list[Middleware]:
    """The outermost layers: every layer below (limits, audit, logs) sees the client a trusted proxy names."""
    trusted = settings.server.forwarded_allow_ips
    layers = [Middleware(ProxyHeadersMiddleware, trusted_hosts=trusted)]
    if settings.idp.is_https:
        layers.append(Middleware(PlainHttpWarning, trusted=trusted))
    return layers
