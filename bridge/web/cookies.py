"""The payer's cookies on the wire: the one place their Set-Cookie headers are written.

Attributes come from :func:`bridge.delegation.sessions.cookie_policy` (CONTRACT.md: HttpOnly always;
``SameSite=None; Secure; Partitioned`` for framed use on https; Lax on plain http). The header is built
here rather than with Starlette's ``Response.set_cookie`` because that raises ``ValueError`` for
``partitioned=True`` before Python 3.14 (``http.cookies`` only learned the attribute then): the
standard library's Morsel writes the other attributes, ``; Partitioned`` is appended.
"""

from __future__ import annotations

import re
from dataclasses import replace
from functools import lru_cache
from http.cookies import SimpleCookie

from starlette.responses import Response

from bridge.delegation.sessions import CookiePolicy

# Characters a Morsel writes as they are (a subset of http.cookies' legal characters): such a value needs no
# Morsel of its own, only the attributes after it (issue 21: a login writes its session cookie).
_plain = re.compile(r"[A-Za-z0-9_.\-]+").fullmatch
_PLAIN_SAMPLE = "v"


def _morsel_header(policy: CookiePolicy, value: str, max_age: int) -> str:
    cookie: SimpleCookie = SimpleCookie()
    cookie[policy.name] = value
    morsel = cookie[policy.name]
    morsel["path"] = "/"
    morsel["max-age"] = str(max_age)
    morsel["httponly"] = True
    morsel["samesite"] = policy.samesite.capitalize()
    if policy.secure:
        morsel["secure"] = True
    header = morsel.OutputString()
    return f"{header}; Partitioned" if policy.partitioned else header


@lru_cache(maxsize=256)
def _attributes(policy: CookiePolicy, max_age: int) -> str:
    """Everything after ``name=value`` in the Morsel's header for this policy (the same text, built once)."""
    return _morsel_header(policy, _PLAIN_SAMPLE, max_age)[len(policy.name) + 1 + len(_PLAIN_SAMPLE):]


def cookie_header(policy: CookiePolicy, value: str, *, max_age: int | None = None) -> str:
    age = policy.max_age if max_age is None else max_age
    if _plain(value):  # a token (itsdangerous: URL-safe base64 and dots), which the Morsel writes unquoted
        return f"{policy.name}={value}{_attributes(policy, age)}"
    return _morsel_header(policy, value, age)  # anything else (the empty value of a removal) as the Morsel quotes it


def write_cookie(response: Response, policy: CookiePolicy, value: str) -> None:
    response.raw_headers.append((b"set-cookie", cookie_header(policy, value).encode("latin-1")))


def expire_cookie(response: Response, name: str, *, https: bool) -> None:
    """Remove the cookie wherever it may live: unpartitioned and, on https, in the current partition.

    A browser keeps a partitioned cookie apart from an unpartitioned one of the same name, so removing
    both takes two headers; ``SameSite=None`` so that the removal is accepted inside a cross-site frame too.
    """
    if not https:
        response.raw_headers.append(
            (b"set-cookie", cookie_header(CookiePolicy(name, False, "lax", 0), "").encode("latin-1"))
        )
        return
    framed = CookiePolicy(name=name, secure=True, samesite="none", max_age=0)
    for policy in (framed, replace(framed, partitioned=True)):
        response.raw_headers.append((b"set-cookie", cookie_header(policy, "").encode("latin-1")))
