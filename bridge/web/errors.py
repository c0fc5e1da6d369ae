"""The one place where bridge errors become HTTP: JSON for API clients, an HTML page for browsers.

No stack trace ever reaches a user; unexpected errors are logged with the
request ID and answered with a generic 500.
"""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from bridge.errors import (
    BridgeError,
    EmbeddingRefused,
    NoSession,
    RateLimited,
    ReplayError,
    SignatureError,
    StoreUnavailable,
    TicketReplayed,
)
from bridge.web import pages, payer

log = logging.getLogger("bridge.web")
STORE_UNAVAILABLE_DETAIL = (
    "the sign-in service cannot reach its database right now, so nothing was sent to Invoice Cloud; "
    "please try again in a minute"
)
STORE_RETRY_AFTER = 30

_TITLES = {
    400: "This sign-in request cannot be accepted",
    401: "Sign-in required",
    403: "Not allowed",
    404: "Not found",
    405: "Not allowed",
    409: "Conflict",
    413: "Request too large",
    429: "Too many requests",
    503: "Temporarily unavailable",
}
# A payer reads the title first: say what happened in their words (the code goes last, as a reference).
_PAYER_TITLES = {
    "invalid_ticket": "This sign-in link cannot be used",
    "pending_not_found": "This sign-in request has expired",
    "frame_not_allowed": "Invoice Cloud cannot open inside this page",
    "cookies_blocked": "Your browser blocked sign-in inside this page",
    "not_found": "Page not found",
    "method_not_allowed": "This page cannot be opened that way",
}
NO_SESSION_TITLE = "You are not signed in"  # NoSession keeps NotFound's code, so it is told apart by class


def wants_json(request: Request) -> bool:
    path = request.url.path
    return path.startswith("/api/") or "application/json" in request.headers.get("accept", "")


def _metrics(request: Request):  # type: ignore[no-untyped-def]
    instance = getattr(request.app.state, "instance", None)
    return instance.metrics if instance is not None else None


def error_response(request: Request, exc: BridgeError) -> Response:
    metrics = _metrics(request)
    if metrics is not None:
        if exc.code == "store_unavailable":
            metrics.store_errors.inc()
        elif request.url.path.startswith("/saml/"):
            metrics.saml_errors.labels(exc.code).inc()
        if isinstance(exc, SignatureError):
            metrics.signature_failures.inc()
        elif isinstance(exc, ReplayError):
            metrics.replay_rejections.labels("authn_request").inc()
        elif isinstance(exc, TicketReplayed):
            metrics.replay_rejections.labels("ticket").inc()
    headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, RateLimited) else None
    detail = exc.detail
    if isinstance(exc, StoreUnavailable):
        # Fail closed: nothing was issued. The driver's words go to the log, the caller gets what to do.
        log.warning("store unavailable on %s %s: %s", request.method, request.url.path, exc.detail)
        detail = STORE_UNAVAILABLE_DETAIL
        headers = {"Retry-After": str(STORE_RETRY_AFTER)}
    else:
        log.info("refused %s %s: %s (%s)", request.method, request.url.path, exc.code, exc.detail)
    if wants_json(request):
        return JSONResponse({"error": exc.code, "detail": detail}, status_code=exc.status, headers=headers)
    title = _TITLES.get(exc.status, "Something went wrong")
    response: Response
    if request.url.path.startswith("/admin"):
        response = pages.message_page(request, title=title, message=detail, status=exc.status, code=exc.code)
    else:
        advice = exc.advice if isinstance(exc, EmbeddingRefused) else None
        title = NO_SESSION_TITLE if isinstance(exc, NoSession) else _PAYER_TITLES.get(exc.code, title)
        response = payer.message_page(request, title=title, message=detail, status=exc.status, code=exc.code,
                                      advice=advice)
    if headers:
        response.headers.update(headers)
    return response


async def bridge_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, BridgeError)
    return error_response(request, exc)


_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}


async def http_error_handler(request: Request, exc: Exception) -> Response:
    """Starlette's own refusals (no such route, wrong method) in the same shapes as ours."""
    assert isinstance(exc, StarletteHTTPException)
    error = BridgeError(_HTTP_DETAILS.get(exc.status_code, "the request cannot be served"),
                        code=_HTTP_CODES.get(exc.status_code, "http_error"), status=exc.status_code)
    response = error_response(request, error)
    if exc.headers:
        response.headers.update(exc.headers)  # e.g. Allow on a 405
    return response


_HTTP_DETAILS = {
    404: "there is nothing at this address; open Invoice Cloud again from your portal",
    405: "this address does not accept that method; open Invoice Cloud again from your portal",
}


async def unexpected_error_handler(request: Request, exc: Exception) -> Response:
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return error_response(
        request, BridgeError("an unexpected error occurred; it has been logged", code="internal_error", status=500)
    )
