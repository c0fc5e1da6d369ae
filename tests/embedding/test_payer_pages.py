"""Every page a payer can meet shares one layout (templates/payer/): viewport, the biller's name, plain words
first and the reference last, a way back to the portal, the biller's stylesheet, and HTML for 404/405."""

from __future__ import annotations

import re

import pytest
from saml_peers import OneLoginSP, authn_request_xml, redirect_url

PAYER = {"email": "pat@example.com", "account_number": "101Invoice"}
VIEWPORT = '<meta name="viewport" content="width=device-width, initial-scale=1">'
BRANDED = {"return_url": "https://portal.city.test/home", "return_site_name": "City of River portal",
           "css_url": "https://cdn.city.test/ic.css"}


@pytest.fixture
def sp(sqlite_bridge) -> OneLoginSP:
    sp = OneLoginSP()
    sqlite_bridge.trust(sp)
    return sp


def _csp(response) -> dict[str, str]:  # type: ignore[no-untyped-def]
    parts = (p.strip() for p in response.headers["content-security-policy"].split(";"))
    return {p.split(" ", 1)[0]: p.split(" ", 1)[1] for p in parts if " " in p}


def _replayed(bridge, biller: str):  # type: ignore[no-untyped-def]
    url = bridge.create_login(biller, **PAYER).json()["url"]
    assert bridge.client.get(url, follow_redirects=False).status_code == 303
    return bridge.client.get(url, follow_redirects=False)


def test_an_unknown_path_is_an_html_page_not_plain_text(sqlite_bridge):
    response = sqlite_bridge.client.get("/no/such/page")
    assert response.status_code == 404 and response.headers["content-type"].startswith("text/html")
    assert VIEWPORT in response.text and "<h1>Page not found</h1>" in response.text
    assert "Reference: not_found" in response.text


def test_an_unknown_api_path_answers_json(sqlite_bridge):
    response = sqlite_bridge.client.get("/api/v1/nothing")
    assert response.status_code == 404 and response.json()["error"] == "not_found"


def test_a_wrong_method_is_a_405_page_that_keeps_the_allow_header(sqlite_bridge):
    response = sqlite_bridge.client.delete("/launch")
    assert response.status_code == 405 and "GET" in response.headers["allow"]
    assert "Reference: method_not_allowed" in response.text and VIEWPORT in response.text


def test_a_replayed_link_page_names_the_biller_and_links_back_to_its_portal(sqlite_bridge, sp):
    sqlite_bridge.add_biller("city", sp.entity_id, **BRANDED)
    response = _replayed(sqlite_bridge, "city")
    assert response.status_code == 400
    text = response.text
    assert '<header class="payer-brand">City of River portal</header>' in text
    assert '<a id="return" href="https://portal.city.test/home" target="_top">Return to City of River portal</a>' \
        in text
    assert "<h1>This sign-in link cannot be used</h1>" in text


def test_plain_words_come_first_and_the_reference_last(sqlite_bridge, sp):
    sqlite_bridge.add_biller("city", sp.entity_id, **BRANDED)
    text = _replayed(sqlite_bridge, "city").text
    message = text.index('<p id="message">This launch link was already used')  # capitalised for a reader
    assert text.index("<h1>") < message < text.index('id="return"') < text.index("Reference: invalid_ticket")


def test_a_billers_stylesheet_is_linked_and_allowed_only_from_its_origin(sqlite_bridge, sp):
    sqlite_bridge.add_biller("city", sp.entity_id, **BRANDED)
    response = _replayed(sqlite_bridge, "city")
    assert '<link rel="stylesheet" href="https://cdn.city.test/ic.css">' in response.text
    style = _csp(response)["style-src"].split()
    assert style[0].startswith("'nonce-") and style[1:] == ["https://cdn.city.test"]


def test_a_page_without_a_biller_has_no_stylesheet_and_no_return_link(sqlite_bridge):
    response = sqlite_bridge.client.get("/launch", params={"ticket": "junk"})
    assert 'rel="stylesheet"' not in response.text and 'id="return"' not in response.text
    assert _csp(response)["style-src"].split()[1:] == []


def test_the_no_session_page_says_so_and_links_back_when_the_biller_is_known(sqlite_bridge, sp):
    sqlite_bridge.add_biller("city", sp.entity_id, **BRANDED)
    response = sqlite_bridge.client.get(redirect_url("https://bridge.test/saml/sso",
                                                     authn_request_xml(issuer=sp.entity_id)))
    assert response.status_code == 404
    assert "<h1>You are not signed in</h1>" in response.text and 'id="return"' in response.text


def test_the_auto_post_page_says_what_is_happening_and_works_without_scripts(sqlite_bridge, sp):
    sqlite_bridge.add_biller("city", sp.entity_id, **BRANDED)
    sqlite_bridge.launch("city", **PAYER)
    response = sqlite_bridge.client.get(redirect_url("https://bridge.test/saml/sso",
                                                     authn_request_xml(issuer=sp.entity_id)))
    text = response.text
    assert VIEWPORT in text and "<h1>Signing you in to Invoice Cloud…</h1>" in text
    noscript = re.search(r"<noscript>(.*?)</noscript>", text, re.S)
    assert noscript and "Continue to Invoice Cloud" in noscript.group(1)
    assert '<button type="submit" id="continue">Continue to Invoice Cloud</button>' in text
    assert "top.location" not in text and "window.top" not in text  # nothing moves the portal's window


def test_message_pages_can_submit_no_form(sqlite_bridge):
    response = sqlite_bridge.client.get("/no/such/page")
    assert _csp(response)["form-action"] == "'none'" and "<form" not in response.text


def test_commands_in_the_advice_for_the_portals_team_are_shown_as_code(sqlite_bridge, sp):
    sqlite_bridge.add_biller("city", sp.entity_id)
    url = sqlite_bridge.create_login("city", **PAYER).json()["url"]
    text = sqlite_bridge.client.get(url, headers={"sec-fetch-dest": "iframe"}).text
    assert "<code>icbridge billers update city --portal-origin https://portal.example</code>" in text
    assert "`" not in text


@pytest.mark.parametrize("biller", [None, {}, BRANDED, {
    "return_url": "https://portal.test/?a=1&b=\"2\"", "return_site_name": "Tom & Jerry's <portal>",
    "css_url": "https://cdn.test/x.css?v='1'&w=<2>",
}])
@pytest.mark.parametrize("fields", [
    [("SAMLResponse", "PHNhbWxwOlJlc3BvbnNlIC8+" * 300)],
    [("SAMLResponse", "PD94bWw+"), ("RelayState", "/pay?x=1&y=<2>\"'")],
    [("a", "1"), ("b<", "2&"), ("c", ""), ("d\"", "'")],
])
def test_the_auto_post_page_is_the_template_character_for_character(biller, fields):
    """post_page joins pieces of payer/post.html rendered once per biller (issue 21): the very page Jinja renders."""
    from starlette.requests import Request

    from bridge.billers import Biller
    from bridge.web.pages import environment
    from bridge.web.payer import POST_TITLE, PayerView, _post_skeleton, post_page

    record = None if biller is None else Biller(name="city", biller_guid="g", sp_entity_id="sp", **biller)
    action = "https://ic.test/acs?x=1&y=\"2\""
    request = Request({"type": "http", "state": {"csp_nonce": "Nonce-1_x", "request_id": "r"}, "headers": []})
    page = post_page(request, action, fields, biller=record).body.decode()
    expected = environment().get_template("payer/post.html").render(
        nonce="Nonce-1_x", payer=PayerView.of(record), title=POST_TITLE, action=action, fields=fields,
    )
    assert page == expected
    assert _post_skeleton(PayerView.of(record), POST_TITLE) is not None  # the pieces were used, not Jinja
