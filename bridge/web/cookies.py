"""The payer's cookies on the wire: the one place their Set-Cookie headers are written.

Attributes come from :func:`bridge.delegation.sessions.cookie_policy` (CONTRACT.md: HttpOnly always;
``SameSite=None; Secure; Partitioned`` for framed use on https; Lax on plain http). The header is built
here rather than with Starlette's ``Response.set_cookie`` because that raises ``ValueError`` for
``partitioned=True`` before Python 3.14 (``http.cookies`` only learned the attribute then): the
standard library's Morsel writes the other attributes, ``; Partitioned`` is appended.
"""

from __future__ import annotations

from dataclasses import replace
from http.cookies import SimpleCookie

from starlette.responses import Response

from bridge.delegation.sessions import CookiePolicy


def cookie_header(policy: CookiePolicy, value: str, *, max_age: int | None = None) -> str:
    cookie: SimpleCookie = SimpleCookie()
    cookie[policy.name] = value
    morsel = cookie[policy.name]
    morsel["path"] = "/"
    morsel["max-age"] = str(policy.max_age if max_age is None else max_age)
    morsel["httponly"] = True
    morsel["samesite"] = policy.samesite.capitalize()
    if policy.secure:
        morsel["secure"] = True
    header = morsel.OutputString()
    return f"{header}; Partitioned" if policy.partitioned else header


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
