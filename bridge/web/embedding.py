"""A launch opened inside the portal's iFrame: decided before its ticket is spent.

A payer's click must never be spent on a request that cannot succeed. A framed launch (the browser
says ``Sec-Fetch-Dest: iframe``) can fail in two ways that the browser would otherwise show only as a
grey frame, after the ticket was consumed and a sign-in recorded:

1. **Framing.** Browsers refuse our pages in a frame whose ancestors are not in the biller's portal
   origins (``frame-ancestors``). So a biller with no portal origins is refused at once, and where the
   embedding origin can be known it is checked too: the ``Referer``'s origin (browsers send the portal's
   origin under their default ``strict-origin-when-cross-origin`` policy), or the bridge's own origin
   when ``Sec-Fetch-Site: same-origin``. A portal that sends no Referer is left to ``frame-ancestors``.
2. **The session cookie.** An SP-initiated launch needs the bridge's cookie back when IC's AuthnRequest
   arrives. Inside a cross-site frame, browsers that block third-party cookies keep it only if it is
   ``Partitioned`` (CHIPS), and some keep nothing. The detection hop finds out: the launch answers with
   a probe cookie (the same attributes as the session cookie would get) and a redirect to itself with
   ``cookie_check=1``; the second request sees whether it came back. If not, a biller with
   ``idp_fallback`` is signed in IdP-initiated (no cookie needed) and otherwise a page says exactly what
   the partner must configure. Either way nothing was spent when the payer sees the page.

Cookie attributes live in ``bridge.delegation.sessions.cookie_policy``; headers in ``bridge.web.cookies``.
"""

from __future__ import annotations

import hashlib
from urllib.parse import urlencode, urlsplit

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from bridge.billers import Biller
from bridge.delegation.sessions import cookie_policy
from bridge.errors import EmbeddingRefused
from bridge.web.cookies import write_cookie

FRAME_DESTINATIONS = frozenset({"iframe", "frame"})
CHECK_PARAM = "cookie_check"
DEFAULT_PORTS = {"https": 443, "http": 80}

# What the audit trail records about how a launch reached IC (ticket.consumed's detail).
PATH_TOP_LEVEL = "top-level"
PATH_FRAMED = "framed"  # a framed launch that needs no cookie (IdP-initiated, or resuming a parked request)
PATH_COOKIE_KEPT = "framed, cookie kept"
PATH_FALLBACK = "framed, cookie blocked: IdP-initiated fallback"


def is_framed(request: Request) -> bool:
    return request.headers.get("sec-fetch-dest", "").lower() in FRAME_DESTINATIONS


def normal_origin(url: str) -> str | None:
    """``scheme://host[:port]`` in lower case without a default port, or None for anything else."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
        return None
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    suffix = f":{port}" if port is not None and port != DEFAULT_PORTS[parts.scheme] else ""
    return f"{parts.scheme}://{host.lower()}{suffix}"


def embedder_origin(request: Request, bridge_origin: str) -> str | None:
    """The origin of the page that frames this launch, when the browser lets us know it."""
    referer = request.headers.get("referer")
    if referer:
        return normal_origin(referer)
    if request.headers.get("sec-fetch-site") == "same-origin":
        return normal_origin(bridge_origin)
    return None


def _admin_hint(biller: Biller, origin: str) -> str:
    return (f"the bridge's admin adds it with `icbridge billers update {biller.name} --portal-origin {origin}` "
            "(repeat the option for every origin the portal uses) or on the biller's page of the admin console")


def check_framing(request: Request, biller: Biller, *, bridge_origin: str) -> None:
    """Refuse (unspent) a framed launch that the browser would not show in this frame."""
    if not is_framed(request):
        return
    origin = embedder_origin(request, bridge_origin)
    allowed = {normal_origin(o) for o in biller.portal_origins}
    if not allowed:
        raise EmbeddingRefused(
            "this portal is not allowed to show Invoice Cloud sign-in inside its page. Your sign-in link was "
            "not used: please tell the portal's support team",
            code="frame_not_allowed",
            advice=(f"biller {biller.name} lists no portal origins, so its sign-in pages may not be framed "
                    f"anywhere; {_admin_hint(biller, origin or 'https://portal.example')}, then open a new link"),
        )
    if origin is not None and origin not in allowed:
        raise EmbeddingRefused(
            "this portal is not allowed to show Invoice Cloud sign-in inside its page. Your sign-in link was "
            "not used: please tell the portal's support team",
            code="frame_not_allowed",
            advice=(f"this page was framed by {origin}, which is not one of biller {biller.name}'s portal "
                    f"origins; {_admin_hint(biller, origin)}"),
        )


def needs_cookie_check(request: Request, *, flow: str) -> bool:
    """A framed SP-initiated launch needs its cookie back when IC's AuthnRequest arrives (IdP-initiated does not)."""
    return flow == "sp-initiated" and (is_framed(request) or CHECK_PARAM in request.query_params)


def _probe_name(session_cookie: str) -> str:
    return f"{session_cookie}_check"


def _probe_value(ticket_key: str) -> str:
    # Bound to this launch, so a cookie left by another launch does not answer for this one.
    return hashlib.sha256(ticket_key.encode()).hexdigest()[:32]


def probe_redirect(request: Request, *, launch_url: str, session_cookie: str, https: bool, view_mode: int,
                   lifetime: int, ticket_key: str) -> Response:
    """The detection hop's first half: a probe cookie with the session cookie's attributes, and back to
    ``launch_url`` (the public launch URL, so a proxy's path prefix is kept) with the same query."""
    query = [(k, v) for k, v in request.query_params.multi_items() if k != CHECK_PARAM]
    response = RedirectResponse(f"{launch_url}?{urlencode([*query, (CHECK_PARAM, '1')])}", status_code=303)
    policy = cookie_policy(name=_probe_name(session_cookie), https=https, view_mode=view_mode,
                           idle_timeout=lifetime)
    write_cookie(response, policy, _probe_value(ticket_key))
    return response


def is_probing(request: Request) -> bool:
    return CHECK_PARAM in request.query_params


def cookie_came_back(request: Request, *, session_cookie: str, ticket_key: str) -> bool:
    return request.cookies.get(_probe_name(session_cookie)) == _probe_value(ticket_key)


def cookies_blocked(biller: Biller, *, bridge_host: str) -> EmbeddingRefused:
    """The page for a framed launch whose cookie did not come back, and no fallback allowed."""
    return EmbeddingRefused(
        "your browser does not allow sign-in inside this page, so Invoice Cloud cannot open here. Your sign-in "
        "link was not used: please tell the portal's support team",
        code="cookies_blocked",
        advice=(
            "the browser dropped the bridge's cookie inside this cross-site frame (third-party cookies blocked, "
            "no partitioned cookies). Any one of these fixes it: serve the bridge on a host name of the "
            f"portal's own site (e.g. sso.<portal's domain> instead of {bridge_host}; docs/embedding.md, "
            "\"Same site\"); or, if Invoice Cloud accepts IdP-initiated sign-in for this biller, "
            f"`icbridge billers update {biller.name} --idp-fallback`; or open Invoice Cloud full page "
            "(view_mode 0) instead of in a frame"
        ),
    )
