"""Per-biller endpoints: a request at /saml/b/<biller>/ is answered only for that biller."""

from __future__ import annotations

import html
import json
import re
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from saml_peers import OneLoginSP

from bridge.billers import get_biller
from bridge.cli import main
from bridge.delegation.launches import PendingRequest
from bridge.saml.xml import NS, parse_untrusted
from bridge.store.base import BillerRecord

from .conftest import LOGIN_URL, PAYER, TwoBillers, biller_path


def _sso_locations(xml: bytes) -> set[str]:
    return {str(e.get("Location")) for e in parse_untrusted(xml).iterfind(".//md:SingleSignOnService", NS)}


def _issuer(xml: bytes) -> str:
    return str(parse_untrusted(xml).findtext("saml:Issuer", namespaces=NS))


def _pending_id(location: str) -> str:
    return parse_qs(urlsplit(location).query)["saml_pending"][0]


def parse_post_link(page: str) -> str:
    """The refusal page's one way on: the biller's login URL carrying the parked request."""
    found = re.search(r'<a href="([^"]+saml_pending=[^"]+)"', page)
    assert found, page[:500]
    return html.unescape(found.group(1))


def _changed(billers: TwoBillers, name: str, **changes: Any) -> BillerRecord:
    return replace(get_biller(billers.bridge.store, name), **changes).record()


def test_biller_metadata_names_its_own_sso_url_and_the_deployments_entity_id(billers: TwoBillers):
    water = parse_untrusted(billers.metadata("water"))
    base = billers.bridge.settings.idp.base_url
    assert water.get("entityID") == billers.bridge.settings.idp.resolved_entity_id
    assert _sso_locations(billers.metadata("water")) == {base + biller_path("water", "sso")}
    assert _sso_locations(billers.metadata("power")) == {base + biller_path("power", "sso")}


def test_a_session_is_answered_at_its_own_billers_endpoint(billers: TwoBillers):
    billers.launch("water")
    answer, request_id = billers.start("water")
    consumed = billers.sp.consume(billers.bridge.posted(answer), request_id)
    assert consumed.name_id == PAYER["email"]
    assert [e.biller for e in billers.bridge.audit("login.issued")] == ["water"]


def test_a_session_for_another_biller_is_refused_with_a_page_and_parked_for_this_one(billers: TwoBillers):
    billers.launch("water")
    answer, _ = billers.start("power")
    assert answer.status_code == 403
    assert "SAMLResponse" not in answer.text and "another biller" in answer.text
    link = parse_post_link(answer.text)
    assert link.startswith(LOGIN_URL.format("power") + "?saml_pending=")
    pending = billers.bridge.store.take_pending(_pending_id(link), billers.bridge.clock())
    assert PendingRequest.from_dict(pending).biller == "power"
    refused = billers.bridge.audit("login.refused")
    assert [(e.biller, e.detail.split(":")[0]) for e in refused] == [("power", "session_other_biller")]


def test_crossing_without_a_login_url_is_refused_and_nothing_is_parked(billers: TwoBillers):
    billers.bridge.store.put_biller(_changed(billers, "power", login_url=None))
    billers.launch("water")
    answer, _ = billers.start("power")
    assert answer.status_code == 403 and "saml_pending" not in answer.text
    assert "Open Invoice Cloud from this biller" in answer.text


def test_parked_request_resumes_for_its_biller_with_that_billers_endpoints(billers: TwoBillers):
    billers.launch("water")
    billers.configure("power")
    url, request_id = billers.sp.start_redirect(relay_state="rs")
    refused = billers.bridge.sso_redirect(url)
    pending_id = _pending_id(parse_post_link(refused.text))
    created = billers.bridge.create_login("power", **PAYER)
    resumed = billers.bridge.client.get(created.json()["url"] + f"&pending={pending_id}", follow_redirects=False)
    form = billers.bridge.posted(resumed)
    assert billers.sp.consume(form, request_id).name_id == PAYER["email"]


def test_with_no_session_each_billers_endpoint_parks_for_exactly_that_biller(billers: TwoBillers):
    for name in ("water", "power"):
        answer, _ = billers.start(name)
        assert answer.status_code == 303
        location = answer.headers["location"]
        assert location.startswith(LOGIN_URL.format(name) + "?saml_pending=")
        pending = billers.bridge.store.take_pending(_pending_id(location), billers.bridge.clock())
        assert PendingRequest.from_dict(pending).biller == name
        assert PendingRequest.from_dict(pending).endpoints == name


def test_a_request_addressed_to_one_billers_endpoint_is_refused_at_anothers(billers: TwoBillers):
    billers.launch("water")
    billers.configure("water")
    url, _ = billers.sp.start_redirect()
    moved = url.replace(biller_path("water", "sso"), biller_path("power", "sso"))
    answer = billers.bridge.sso_redirect(moved)
    assert answer.status_code == 400 and "Destination" in answer.text


def test_shared_endpoint_answers_only_the_request_that_the_launch_started(billers: TwoBillers):
    for name in ("water", "power"):
        billers.bridge.store.put_biller(_changed(billers, name, idp_endpoints="shared"))
    billers.launch("water")
    answer, request_id = billers.start(None)  # IC's request right after water's link: the launch's own
    assert billers.sp.consume(billers.bridge.posted(answer), request_id).name_id == PAYER["email"]
    again, _ = billers.start(None)  # a later request from the shared SP (power's, say): cannot be told apart
    assert again.status_code == 403 and "SAMLResponse" not in again.text
    assert "ambiguous_biller" in again.text
    assert [e.biller for e in billers.bridge.audit("login.issued")] == ["water"]


def test_shared_endpoint_answers_the_one_biller_still_configured_there(billers: TwoBillers):
    billers.bridge.store.put_biller(_changed(billers, "water", idp_endpoints="shared"))
    billers.launch("water")
    answer, request_id = billers.start(None)
    form = billers.bridge.posted(answer)
    assert _issuer(form.xml) == billers.bridge.settings.idp.resolved_entity_id
    assert billers.sp.consume(form, request_id).name_id == PAYER["email"]


def test_unknown_or_malformed_biller_in_the_path_is_a_404_page(billers: TwoBillers):
    for path in ("/saml/b/nobody/metadata", "/saml/b/NOT_A_NAME/sso", "/saml/b/nobody/slo"):
        response = billers.bridge.client.get(path)
        assert response.status_code == 404 and "<html" in response.text.lower(), path


def test_a_request_from_an_sp_that_is_not_the_billers_is_refused(billers: TwoBillers):
    other = OneLoginSP(entity_id="https://other-sp.test/metadata", acs_url="https://other-sp.test/acs")
    billers.bridge.trust(other, name="other")
    other.idp_metadata = billers.metadata("water")
    url, _ = other.start_redirect()
    answer = billers.bridge.sso_redirect(url)
    assert answer.status_code == 403 and "water" in answer.text




def test_setup_sheet_gives_the_endpoints_ic_was_given(billers: TwoBillers, capsys: pytest.CaptureFixture[str]):
    base = billers.bridge.settings.idp.base_url
    billers.bridge.store.put_biller(_changed(billers, "power", idp_endpoints="shared"))
    sheets = {}
    for name in ("water", "power"):
        assert main(["setup-sheet", name, "--json", "--config", str(billers.bridge.init.config)]) == 0
        sheets[name] = json.loads(capsys.readouterr().out)
    assert (sheets["water"]["metadata_url"], sheets["water"]["sso_url"], sheets["water"]["slo_url"]) == (
        f"{base}/saml/b/water/metadata", f"{base}/saml/b/water/sso", f"{base}/saml/b/water/slo")
    assert (sheets["power"]["metadata_url"], sheets["power"]["sso_url"]) == (
        f"{base}/saml/metadata", f"{base}/saml/sso")
    deployment = billers.bridge.settings.idp.resolved_entity_id
    assert sheets["water"]["entity_id"] == sheets["power"]["entity_id"] == deployment


def test_idp_initiated_launch_speaks_as_the_identity_ic_was_given(billers: TwoBillers):
    own = f"{billers.bridge.settings.idp.base_url}/saml/b/water/metadata"
    billers.bridge.store.put_biller(_changed(billers, "water", idp_entity_id=own))
    launched = billers.bridge.launch("water", **PAYER, flow="idp-initiated")
    assert _issuer(billers.bridge.posted(launched).xml) == own
    launched = billers.bridge.launch("power", **PAYER, flow="idp-initiated")
    assert _issuer(billers.bridge.posted(launched).xml) == billers.bridge.settings.idp.resolved_entity_id
