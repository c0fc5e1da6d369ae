"""The one rule for URLs the bridge posts to, redirects to or fetches: https, or plain http on loopback only.

Every such URL (the base URL, an SP's AssertionConsumerService, a metadata source and its
redirects, a biller's link base, login, return and CSS URLs, webhooks) goes through
:func:`https_or_loopback`; code that only has a host asks :func:`is_loopback_host`. Import
both from here: there is no other copy of the rule.

Loopback means an IP literal in ``127.0.0.0/8``, the IPv6 literal ``::1``, or exactly the
name ``localhost``; nothing else. It is decided by :mod:`ipaddress` parsing, never by a
prefix, so none of these pass: ``127.0.0.1.evil.example`` and ``localhost.evil.example``
(public names), ``127.1`` and ``0x7f.1`` (shorthand that resolvers expand but
:mod:`ipaddress` refuses), ``::ffff:127.0.0.1`` (an IPv4-mapped address: whether it reaches
loopback depends on the host's stack), ``localhost.`` and ``127.0.0.1.`` (trailing dots
are looked up as names), scoped ``::1%eth0``, and non-ASCII look-alikes of ``localhost``.

A URL holding a backslash, whitespace or a control character is refused outright: browsers
read ``http://evil.example\\@127.0.0.1/`` as a request to ``evil.example`` while
:func:`urllib.parse.urlsplit` sees ``127.0.0.1``, and the rule must judge the host the
browser will actually contact.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

__all__ = ["http_url", "https_or_loopback", "is_https_or_loopback", "is_loopback_host"]

LOOPBACK_NAME = "localhost"
_IPV4_LOOPBACK = ipaddress.IPv4Network("127.0.0.0/8")
_IPV6_LOOPBACK = ipaddress.IPv6Address("::1")
# Characters where URL parsers disagree (WHATWG vs RFC 3986) or that no real URL needs.
_AMBIGUOUS = re.compile(r"[\\\s\x00-\x1f\x7f]")


def is_loopback_host(host: str | None) -> bool:
    """True only for an IP literal in 127.0.0.0/8, ``::1`` (bracketed or not), or exactly ``localhost``.

    Case does not matter for the name (DNS names are case-insensitive); everything else does.
    """
    if not host or not host.isascii():
        return False
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if host.lower() == LOOPBACK_NAME:
        return True
    if "%" in host:  # an IPv6 zone ID: ipaddress accepts "::1%eth0", we do not
        return False
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv4Address):
        return address in _IPV4_LOOPBACK
    return address == _IPV6_LOOPBACK


def http_url(url: str) -> str:
    """``url`` unchanged when it is an http(s) URL with a host and nothing parsers disagree on; else ValueError.

    Only for a place that was explicitly relaxed to plain http (an SP's ``allow_http_acs``):
    it still refuses ``javascript:``/``data:`` and ambiguous spellings.
    """
    if not isinstance(url, str) or _AMBIGUOUS.search(url):
        raise ValueError(f"{url!r} is not a usable URL (it holds a backslash, space or control character)")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        raise ValueError(f"{url!r} is not a valid URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{url!r} must be an http(s) URL")
    return url


def https_or_loopback(url: str) -> str:
    """``url`` unchanged when it is https with a host, or plain http to a loopback host; else ValueError.

    For an endpoint we post to, redirect to or fetch. Plain http on loopback is for development
    and tests: nothing leaves the machine.
    """
    parts = urlsplit(http_url(url))
    if parts.scheme == "https" or is_loopback_host(parts.hostname):
        return url
    raise ValueError(f"{url!r} must be an https URL (plain http only for localhost, 127.0.0.0/8 or [::1])")


def is_https_or_loopback(url: str) -> bool:
    """The predicate form of :func:`https_or_loopback`."""
    try:
        https_or_loopback(url)
    except ValueError:
        return False
    return True
