"""Shibboleth SP 3 (Debian's shibd + mod_shib under Apache) signs in through a real bridge server.

The bridge runs under uvicorn on 127.0.0.1; each Shibboleth SP reads the bridge's metadata from its
metadata URL and is trusted from the metadata its own MetadataGenerator publishes. A small browser
(httpx, following redirects and auto-POST forms) goes from the partner's launch URL to the SP's
protected page, which shows the attributes Shibboleth extracted. Each SP signs its requests (one over
HTTP-Redirect, one over HTTP-POST); the bridge signs its Responses and encrypts the assertions to the
SP's encryption key.
"""

from __future__ import annotations

import base64
import re
import shutil
import threading
import time
import uuid
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx
import pytest
import uvicorn

from bridge.billers import Biller, issue_api_key, validate_biller
from bridge.clock import utcnow
from bridge.config import load_settings
from bridge.instance import Instance, init_instance, open_instance
from bridge.trust.service_providers import load_registry
from bridge.web.app import create_app
from interop.shibboleth import ShibbolethSP, free_port, sandbox

pytestmark = pytest.mark.interop
PAYER = {"email": "pat.payer@example.com", "account_number": "101Invoice", "role": "owner"}
REDIRECT = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
POST = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"


class _Forms(HTMLParser):
    """The first POST form of a page: its action and fields (the bridge's and Shibboleth's auto-POST pages)."""

    def __init__(self) -> None:
        super().__init__()
        self.action: str | None = None
        self.fields: dict[str, str] = {}
        self._inside = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "form" and self.action is None and (values.get("method") or "").lower() == "post":
            self.action, self._inside = values.get("action") or "", True
        elif tag == "input" and self._inside and values.get("name"):
            self.fields[values["name"] or ""] = values.get("value") or ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._inside = False


@dataclass
class Browser:
    """Follows redirects and auto-submitting POST forms like a browser with scripts on; keeps what it saw."""

    client: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=15, follow_redirects=False))
    seen: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)

    def go(self, url: str, *, limit: int = 10) -> httpx.Response:
        response = self.client.get(url)
        for _ in range(limit):
            if response.is_redirect:
                target = urljoin(str(response.url), response.headers["location"])
                self.seen.append(("GET", target, {}))
                response = self.client.get(target)
                continue
            forms = _Forms()
            forms.feed(response.text)
            if response.status_code == 200 and forms.action and "SAML" in "".join(forms.fields):
                target = urljoin(str(response.url), forms.action)
                self.seen.append(("POST", target, forms.fields))
                response = self.client.post(target, data=forms.fields)
                continue
            return response
        raise AssertionError(f"more than {limit} hops; last: {response.status_code} {response.url}")

    def sent(self, field_name: str) -> list[tuple[str, str, dict[str, str]]]:
        return [hop for hop in self.seen if field_name in hop[2] or f"{field_name}=" in hop[1]]


@dataclass
class Rig:
    bridge_url: str
    instance: Instance
    sps: dict[str, ShibbolethSP]
    api_keys: dict[str, str]

    def launch_url(self, biller: str, **body: str | int) -> str:
        response = httpx.post(f"{self.bridge_url}/api/v1/logins", json={"biller": biller, **PAYER, **body},
                              headers={"Authorization": f"Bearer {self.api_keys[biller]}"}, timeout=15)
        assert response.status_code == 201, response.text
        return response.json()["url"]


def _serve(instance: Instance, port: int) -> tuple[uvicorn.Server, threading.Thread]:
    config = uvicorn.Config(create_app(instance), host="127.0.0.1", port=port, log_config=None, access_log=False,
                            server_header=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "the bridge did not start"
    return server, thread


def _sp_section(sp: ShibbolethSP) -> str:
    # Shibboleth treats an unsolicited RelayState as the URL to land on (docs/service-providers.md).
    template = f"{sp.base}/secure/{{deep_link}}?account={{account}}"
    return (f'\n[sp."{sp.entity_id}"]\nallow_http_acs = true\nsign_response = true\nencrypt_assertion = true\n'
            f'relay_state_template = "{template}"\n')


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    folders = {name: sandbox() for name in ("redirect", "post")}
    bridge_port = free_port()
    bridge_url = f"http://127.0.0.1:{bridge_port}"
    directory = tmp_path_factory.mktemp("shib") / "instance"
    init_instance(directory, base_url=bridge_url, now=utcnow(), simulator=False)
    settings = load_settings(directory / "bridge.toml")
    sps = {
        name: ShibbolethSP(directory=folder, port=free_port(), idp_entity_id=settings.idp.resolved_entity_id,
                           idp_metadata_url=f"{bridge_url}/saml/metadata", entity_id=f"https://shib-{name}.test/sp",
                           request_binding=REDIRECT if name == "redirect" else POST)
        for name, folder in folders.items()
    }
    config = directory / "bridge.toml"
    config.write_text(config.read_text() + "".join(_sp_section(sp) for sp in sps.values()))
    instance = open_instance(load_settings(config))
    server, thread = _serve(instance, bridge_port)
    try:
        api_keys = {}
        for name, sp in sps.items():
            sp.start()  # reads the bridge's metadata from its URL
            (directory / "metadata" / f"shib-{name}.xml").write_bytes(sp.metadata())
            biller = validate_biller(Biller(name=f"shib-{name}", biller_guid=str(uuid.uuid4()),
                                            sp_entity_id=sp.entity_id, link_base=f"{sp.base}/secure"))
            instance.store.put_biller(biller.record(created_at=utcnow()))
            api_keys[biller.name] = issue_api_key(instance.store, biller.name, now=utcnow())
        instance.registry.replace(list(load_registry(instance.settings)))  # trust the SPs' own metadata
        yield Rig(bridge_url, instance, sps, api_keys)
    finally:
        for sp in sps.values():
            sp.stop()
        server.should_exit = True
        thread.join(timeout=10)
        instance.close()
        for folder in folders.values():
            shutil.rmtree(folder, ignore_errors=True)


def _shown(rig: Rig, page: httpx.Response) -> dict[str, str]:
    """The attributes the protected page shows; on any other page, the SPs' logs say why."""
    if page.status_code != 200 or 'id="Email"' not in page.text:
        logs = "\n".join(sp.logs() for sp in rig.sps.values())
        raise AssertionError(f"{page.status_code} {page.url}\n{page.text[:1500]}\n{logs}")
    return dict(re.findall(r'<dd id="(\w+)">([^<]*)</dd>', page.text))


def _request_xml(hop: tuple[str, str, dict[str, str]]) -> bytes:
    method, url, fields = hop
    if method == "POST":
        return base64.b64decode(fields["SAMLRequest"])
    value = parse_qs(urlsplit(url).query)["SAMLRequest"][0]
    return zlib.decompress(base64.b64decode(value), -15)


@pytest.mark.parametrize("binding", ["redirect", "post"])
def test_sp_initiated_login_shows_the_attributes_on_the_protected_page(rig, binding):
    browser = Browser()
    page = browser.go(rig.launch_url(f"shib-{binding}", deep_link="autopay", view_mode=1))
    shown = _shown(rig, page)
    assert shown["Email"] == PAYER["email"]
    assert shown["LoginType"] == "1"
    assert shown["AccountNumber"] == "101Invoice"
    assert "DeepLinkID=3" in shown["Query"]  # the IC link's query survived Shibboleth's RelayState round trip
    requests = browser.sent("SAMLRequest")
    assert len(requests) == 1


def test_shibboleth_signs_its_redirect_requests_with_rsa_sha256(rig):
    browser = Browser()
    _shown(rig, browser.go(rig.launch_url("shib-redirect")))
    (_method, url, _fields), = browser.sent("SAMLRequest")
    query = parse_qs(urlsplit(url).query)
    assert query["SigAlg"] == [RSA_SHA256] and query["Signature"]


def test_shibboleth_signs_its_post_requests_with_rsa_sha256(rig):
    browser = Browser()
    _shown(rig, browser.go(rig.launch_url("shib-post")))
    hop, = browser.sent("SAMLRequest")
    assert hop[0] == "POST"
    assert f'Algorithm="{RSA_SHA256}"'.encode() in _request_xml(hop)


def test_the_response_is_signed_and_its_assertion_encrypted(rig):
    browser = Browser()
    _shown(rig, browser.go(rig.launch_url("shib-redirect")))
    (_method, _url, fields), = browser.sent("SAMLResponse")
    xml = base64.b64decode(fields["SAMLResponse"])
    assert b"EncryptedAssertion" in xml and b"<saml:Assertion" not in xml
    assert re.search(rb"<samlp:Response[^>]*>\s*<saml:Issuer[^<]*</saml:Issuer>\s*<ds:Signature", xml)


def test_idp_initiated_login_lands_on_the_relay_state_url(rig):
    browser = Browser()
    page = browser.go(rig.launch_url("shib-redirect", flow="idp-initiated", deep_link="pay-by-text"))
    assert urlsplit(str(page.url)).path == "/secure/11"
    shown = _shown(rig, page)
    assert shown["Email"] == PAYER["email"] and shown["AccountNumber"] == "101Invoice"
    assert shown["Query"] == "account=101Invoice"
    assert browser.sent("SAMLRequest") == []
