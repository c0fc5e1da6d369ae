"""Pages a payer sees: the auto-POST page and every message, in one layout (templates/payer/).

The biller a page belongs to is remembered on the request as soon as a route knows it
(:func:`remember_biller`), so an error raised later still shows the biller's name, its "Return to …"
link and its stylesheet. Framing: a page with an action (the auto-POST form) may be framed only by the
biller's portal origins; a page with none (every message) may be framed by anyone, so that the payer
and the portal's developers can read it wherever it appears, instead of a browser's grey frame.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from markupsafe import escape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from bridge.billers import Biller
from bridge.web.pages import environment
from bridge.web.security import page_csp

DEFAULT_SITE_NAME = "Invoice Cloud sign-in"
ANY_FRAME = "*"  # frame-ancestors of pages without actions (see the module docstring)


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def frame_ancestors(biller: Biller | None) -> str:
    """``'none'`` unless the biller lists its portal origins (ViewMode 1 pages run inside them)."""
    if biller is None or not biller.portal_origins:
        return "'none'"
    return " ".join(biller.portal_origins)


@dataclass(frozen=True, slots=True)
class PayerView:
    """What the layout shows of a biller: its name, the way back to its portal, its stylesheet."""

    site_name: str = DEFAULT_SITE_NAME
    return_url: str | None = None
    return_label: str = "your portal"
    css_url: str | None = None

    @classmethod
    def of(cls, biller: Biller | None) -> PayerView:
        if biller is None:
            return cls()
        name = biller.return_site_name or biller.name
        return cls(site_name=name, return_url=biller.return_url, return_label=name, css_url=biller.css_url)


def remember_biller(request: Request, biller: Biller | None) -> None:
    request.state.payer_biller = biller


def remembered_biller(request: Request) -> Biller | None:
    return getattr(request.state, "payer_biller", None)


def _render(request: Request, template: str, *, status: int, csp: str, **context: Any) -> HTMLResponse:
    nonce = getattr(request.state, "csp_nonce", "")
    html = environment().get_template(template).render(
        nonce=nonce, payer=PayerView.of(remembered_biller(request)), **context
    )
    return HTMLResponse(html, status_code=status, headers={"content-security-policy": csp})


def _csp(request: Request, *, form_action: str, ancestors: str) -> str:
    biller = remembered_biller(request)
    css = origin_of(biller.css_url) if biller is not None and biller.css_url else None
    return page_csp(getattr(request.state, "csp_nonce", ""), form_action=form_action, frame_ancestors=ancestors,
                    style_origin=css)


def message_page(
    request: Request, *, title: str, message: str, status: int, code: str | None = None, advice: str | None = None,
    link: tuple[str, str] | None = None,
) -> HTMLResponse:
    """A page with words and links only (``link``: the (URL, text) of the one way on, if any; the portal's
    return link): framable anywhere, no form may leave it."""
    return _render(
        request, "payer/message.html", status=status, csp=_csp(request, form_action="'none'", ancestors=ANY_FRAME),
        title=title, message=message, code=code, advice=advice, link=link,
        request_id=getattr(request.state, "request_id", None),
    )


def post_page(request: Request, action: str, fields: list[tuple[str, str]], *, biller: Biller | None) -> HTMLResponse:
    """The HTTP-POST binding page (SAML Bindings 3.5): auto-submits with the nonce'd script, a labelled
    button without scripts; framed only by the biller's portal origins, posting only to ``action``'s origin."""
    if biller is not None:
        remember_biller(request, biller)
    csp = _csp(request, form_action=origin_of(action), ancestors=frame_ancestors(biller))
    skeleton = _post_skeleton(PayerView.of(remembered_biller(request)), POST_TITLE) if fields else None
    if skeleton is None:
        return _render(request, POST_TEMPLATE, status=200, csp=csp, title=POST_TITLE, action=action, fields=fields)
    html = skeleton.fill(nonce=_escaped(getattr(request.state, "csp_nonce", "")), action=_escaped(action),
                         fields=[(_escaped(name), _escaped(value)) for name, value in fields])
    return HTMLResponse(html, status_code=200, headers={"content-security-policy": csp})


# --- the auto-POST page, rendered once per biller (issue 21) ---------------------------------------------
# Every login shows the same page but for the nonce, the form's action and its fields. payer/post.html is
# rendered by Jinja once per (PayerView, title) with markers in their place and kept as its literal pieces;
# a login joins the pieces with its own values, escaped as Jinja escapes them. The page is the template's,
# character for character (tests/embedding/test_payer_pages.py compares the two).

POST_TEMPLATE = "payer/post.html"
POST_TITLE = "Signing you in to Invoice Cloud"
_MARK = "m" + secrets.token_hex(16)  # a per-process random marker: no biller setting or SP URL can hold it
_MARKS = re.compile(f"{_MARK}(nonce|action|name1|value1|name2|value2)")


def _escaped(value: str) -> str:
    """The text of ``escape(value)``, as Jinja writes ``{{ value }}``, cheaper for the usual field: a value with
    none of the five characters escaping replaces (a base64 SAMLResponse, 8 KB and more) is written as it is,
    and looking for them costs a few percent of escaping it."""
    if type(value) is not str or "&" in value or "<" in value or ">" in value or "'" in value or '"' in value:
        return str(escape(value))
    return value


@dataclass(frozen=True, slots=True)
class _Skeleton:
    """The page as literal pieces: ``head`` and ``tail`` hold literals and "nonce"/"action" slots; each field
    is ``name + between + value``, fields are joined with ``separator``."""

    head: tuple[tuple[bool, str], ...]  # (is a slot, text or slot name)
    between: str
    separator: str
    tail: tuple[tuple[bool, str], ...]

    def fill(self, *, nonce: str, action: str, fields: list[tuple[str, str]]) -> str:
        """The page; every value given already escaped."""
        slots = {"nonce": nonce, "action": action}
        rows = self.separator.join(f"{name}{self.between}{value}" for name, value in fields)
        head = "".join(slots[text] if slot else text for slot, text in self.head)
        tail = "".join(slots[text] if slot else text for slot, text in self.tail)
        return head + rows + tail


@lru_cache(maxsize=256)
def _post_skeleton(view: PayerView, title: str) -> _Skeleton | None:
    """The page with markers for the per-login values, cut at them; None (render with Jinja) if the template
    does not show each field's name and value once, in order, and the nonce and action only as they are."""
    html = environment().get_template(POST_TEMPLATE).render(
        nonce=f"{_MARK}nonce", payer=view, title=title, action=f"{_MARK}action",  # letters: escaping keeps them
        fields=[(f"{_MARK}name1", f"{_MARK}value1"), (f"{_MARK}name2", f"{_MARK}value2")],
    )
    parts = _MARKS.split(html)  # literal, mark, literal, mark, …, literal
    literals, marks = parts[0::2], parts[1::2]
    fields = ["name1", "value1", "name2", "value2"]
    if _MARK in "".join(literals) or [m for m in marks if m in fields] != fields:
        return None
    first = marks.index("name1")
    if marks[first:first + 4] != fields or literals[first + 1] != literals[first + 3]:
        return None

    def pieces(start: int, stop: int) -> tuple[tuple[bool, str], ...]:
        out: list[tuple[bool, str]] = [(False, literals[start])]
        for i in range(start, stop):
            out += [(True, marks[i]), (False, literals[i + 1])]
        return tuple((slot, text) for slot, text in out if slot or text)

    return _Skeleton(head=pieces(0, first), between=literals[first + 1], separator=literals[first + 2],
                     tail=pieces(first + 4, len(marks)))
