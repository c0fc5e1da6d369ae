"""Admin console fixtures: a signed-in admin client on a development instance."""

from __future__ import annotations

import re

import pytest
from dev_bridge import DevBridge

CSRF_RE = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(page: str) -> str:
    match = CSRF_RE.search(page)
    assert match, f"no CSRF field in page: {page[:300]}"
    return match.group(1)


def sign_in(bridge: DevBridge, token: str | None = None) -> str:
    """Sign in with the admin token; return the session's CSRF token."""
    form = bridge.client.get("/admin/login")
    fields = {"csrf": csrf_of(form.text), "token": token or bridge.init.admin_token}
    answer = bridge.client.post("/admin/login", data=fields, follow_redirects=False)
    assert answer.status_code == 303, answer.text[:500]
    return csrf_of(bridge.client.get("/admin").text)


@pytest.fixture
def admin(dev_bridge: DevBridge) -> DevBridge:
    dev_bridge.csrf = sign_in(dev_bridge)  # type: ignore[attr-defined]
    return dev_bridge
