"""Server-rendered pages (Jinja2 with autoescaping): error and information pages for browsers."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

TEMPLATES = Path(__file__).parent / "templates"


@cache
def environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(str(TEMPLATES)), autoescape=select_autoescape(default=True), auto_reload=False
    )


def render(request: Request, template: str, *, status: int = 200, **context: Any) -> HTMLResponse:
    nonce = getattr(request.state, "csp_nonce", "")
    html = environment().get_template(template).render(nonce=nonce, request=request, **context)
    return HTMLResponse(html, status_code=status)


def message_page(
    request: Request, *, title: str, message: str, status: int, code: str | None = None,
    link: tuple[str, str] | None = None,
) -> HTMLResponse:
    """An information or error page; ``link`` is (URL, text) of the one way on, if there is one."""
    return render(
        request, "message.html", status=status, title=title, message=message, code=code,
        request_id=getattr(request.state, "request_id", None), link=link,
    )
