"""Session fixtures: a second node on the same store, and helpers to replay a captured cookie."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from saml_peers import OneLoginSP, authn_request_xml, redirect_url
from starlette.testclient import TestClient

from bridge.instance import open_instance
from bridge.web.app import create_app

BASE_URL = "https://bridge.test"
SSO = f"{BASE_URL}/saml/sso"
PAYER = {"email": "pat@example.com", "account_number": "101Invoice", "role": "owner"}
CSRF_RE = re.compile(r'name="csrf" value="([^"]+)"')
_sequence = iter(range(1, 1_000_000))


def csrf_of(page: str) -> str:
    match = CSRF_RE.search(page)
    assert match, f"no CSRF field in page: {page[:300]}"
    return match.group(1)


@pytest.fixture
def sp(bridge: Any) -> OneLoginSP:
    sp = OneLoginSP()
    bridge.trust(sp)
    bridge.add_biller("city", sp.entity_id)
    return sp


@pytest.fixture
def other_node(bridge: Any, sp: OneLoginSP) -> Iterator[TestClient]:
    """Another instance (node) on the same store, configuration and metadata folder, with its own cookie jar."""
    instance = open_instance(bridge.settings, clock=bridge.clock)
    with TestClient(create_app(instance, background=False), base_url=BASE_URL,
                    raise_server_exceptions=False) as client:
        yield client
    instance.close()


def sso_with(client: TestClient, sp: OneLoginSP, clock: Any, cookie: str | None = None) -> Any:
    """An AuthnRequest from ``sp`` arriving with ``cookie`` as the only bridge session (None: the jar's)."""
    xml = authn_request_xml(issuer=sp.entity_id, issue_instant=clock(), request_id=f"_r{next(_sequence)}")
    if cookie is None:
        return client.get(redirect_url(SSO, xml), follow_redirects=False)
    client.cookies.clear()
    return client.get(redirect_url(SSO, xml), headers={"cookie": f"bridge_session={cookie}"},
                      follow_redirects=False)


def answered(response: Any) -> bool:
    """The bridge posted a signed Response (the session was honoured)."""
    return response.status_code == 200 and 'name="SAMLResponse"' in response.text


def sign_in_admin(client: TestClient, token: str) -> str:
    """Sign in with the admin token; the session's CSRF token."""
    form = client.get("/admin/login")
    answer = client.post("/admin/login", data={"csrf": csrf_of(form.text), "token": token}, follow_redirects=False)
    assert answer.status_code == 303, answer.text[:300]
    return csrf_of(client.get("/admin").text)
