"""Fetching one metadata document over HTTP: TLS verified, bounded in time and size, few redirects.

httpx does the HTTP; this module adds what metadata needs: redirects followed by hand, at most
``MAX_REDIRECTS`` and only to https (to loopback http only when the configured URL is itself loopback
http, the rule of bridge.urls.https_or_loopback), the body streamed and abandoned past ``max_bytes``,
and every failure one ConfigError line (the caller keeps its last good copy).
"""

from __future__ import annotations

import time
from urllib.parse import urljoin, urlsplit

import httpx

from bridge.errors import ConfigError
from bridge.urls import https_or_loopback

MAX_REDIRECTS = 3
_ACCEPT = {"Accept": "application/samlmetadata+xml, application/xml;q=0.9, text/xml;q=0.8"}


def fetch(url: str, *, timeout: float, max_bytes: int, transport: httpx.BaseTransport | None = None) -> bytes:
    """GET ``url`` and return the body; ConfigError with a one-line reason on any failure.

    Every read is bounded by ``timeout`` and the whole download by the same ``timeout`` once bytes flow.
    """
    https_only = urlsplit(url).scheme == "https"
    deadline = time.monotonic() + timeout
    current = url
    try:
        with httpx.Client(timeout=timeout, verify=True, follow_redirects=False, transport=transport,
                          headers=_ACCEPT) as client:
            for _ in range(MAX_REDIRECTS + 1):
                with client.stream("GET", current) as response:
                    if response.is_redirect:
                        current = redirect_target(current, response.headers["location"], https_only=https_only)
                        continue
                    if response.status_code != 200:
                        raise ConfigError(f"the server answered HTTP {response.status_code}")
                    return _read_capped(response, max_bytes=max_bytes, deadline=deadline, timeout=timeout)
    except httpx.TimeoutException:
        raise ConfigError(f"no answer within {timeout:g} s") from None
    except httpx.HTTPError as exc:
        raise ConfigError(f"cannot fetch: {type(exc).__name__}: {str(exc)[:160]}") from None
    raise ConfigError(f"more than {MAX_REDIRECTS} redirects")


def redirect_target(current: str, location: str, *, https_only: bool) -> str:
    target = urljoin(current, location)
    scheme = urlsplit(target).scheme
    try:
        https_or_loopback(target)
        if https_only and scheme != "https":
            raise ValueError
    except ValueError:
        raise ConfigError(f"refused a redirect to a non-https URL ({scheme}://{urlsplit(target).hostname})") from None
    return target


def _read_capped(response: httpx.Response, *, max_bytes: int, deadline: float, timeout: float) -> bytes:
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise ConfigError(f"the document is larger than {max_bytes} bytes (Content-Length {declared})")
    body = bytearray()
    for chunk in response.iter_bytes():
        body += chunk
        if len(body) > max_bytes:
            raise ConfigError(f"the document is larger than {max_bytes} bytes")
        if time.monotonic() > deadline:
            raise ConfigError(f"the download took longer than {timeout:g} s")
    return bytes(body)
