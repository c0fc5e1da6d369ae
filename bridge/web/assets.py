"""The product's static assets, served by the app itself: the favicon (an SVG, so one file fits every size)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

FAVICON_PATH = "/favicon.svg"
# A bridge's arch over a deck, white on the console's blue; drawn by hand, no external reference.
FAVICON = b"""<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32">
<rect width="32" height="32" rx="7" fill="#0b5cad"/>
<path d="M4 21h24M7 21v-3.5Q16 6 25 17.5V21M11.5 21v-6M16 21v-8.5M20.5 21v-6" fill="none" stroke="#fff"
 stroke-width="2.2" stroke-linecap="round" stroke-linejoin="round"/>
</svg>
"""


async def favicon(request: Request) -> Response:
    # Not a page: it may be cached (the edge adds no-store only when a route sets no Cache-Control).
    return Response(FAVICON, media_type="image/svg+xml", headers={"cache-control": "public, max-age=86400"})


routes = [Route(FAVICON_PATH, favicon, methods=["GET"])]
