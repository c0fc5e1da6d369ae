"""Server-rendered pages (Jinja2 with autoescaping): error and information pages for browsers."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup, escape
from starlette.requests import Request
from starlette.responses import HTMLResponse

TEMPLATES = Path(__file__).parent / "templates"


def sentence(text: str) -> str:
    """Capitalise the first letter: error details are lower-case clauses (they also end up in JSON and logs).

    A detail that starts with a name (``view_mode: must be 0 or 1``, ``https://…``) keeps it as it is."""
    first = text.split(" ", 1)[0]
    if not first.isalpha() or not first.islower():
        return text
    return text[:1].upper() + text[1:]


def code_spans(text: str) -> Markup:
    """Escape ``text`` and show its `backquoted` parts (commands a reader may copy) as <code>."""
    parts = text.split("`")
    return Markup("").join(Markup("<code>{}</code>").format(p) if i % 2 else escape(p) for i, p in enumerate(parts))


@cache
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)), autoescape=select_autoescape(default=True), auto_reload=False
    )
    env.filters["sentence"] = sentence
    env.filters["code_spans"] = code_spans
    return env


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
