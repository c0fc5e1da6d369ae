"""The payer journeys of DOMAIN.md, end to end through the real app, with IC stand-ins on two SP stacks."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from ic_standin import LINK_BASE, ICStandIn
from saml_peers import OneLoginSP, PySaml2SP

from bridge.invoicecloud.links import DEEP_LINK_BY_NAME

PAYER = {"email": "pat.payer@example.com", "account_number": "101Invoice"}


@pytest.fixture(params=["python3-saml", "pysaml2"])
def ic(request, sqlite_bridge) -> ICStandIn:
    sp = OneLoginSP(sign_requests=True) if request.param == "python3-saml" else PySaml2SP(sign_requests=True)
    sqlite_bridge.trust(sp)
    return ICStandIn(sp)


def journey(bridge, ic: ICStandIn, biller: str, **body):
    """Partner API → launch URL → IC link → AuthnRequest → signed Response → what IC sees."""
    launched = bridge.launch(biller, **body)
    assert launched.status_code == 303, launched.text
    link = launched.headers["location"]
    sso = ic.follow_link(link)
    return link, ic.land(bridge.posted(bridge.sso_redirect(sso)))


@pytest.mark.parametrize("deep_link", [1, 2, 3, 5, 9, 11])
def test_each_deep_link_lands_on_its_ic_page_in_an_iframe(sqlite_bridge, ic, deep_link):
    sqlite_bridge.add_biller("city", ic.sp.entity_id, login_types={"owner": "1", "default": "1"})
    link, landing = journey(sqlite_bridge, ic, "city", **PAYER, role="owner", deep_link=deep_link, view_mode=1)
    guid = sqlite_bridge.store.get_biller("city").biller_guid
    assert link == f"{LINK_BASE}/{guid}?account=101Invoice&ViewMode=1&DeepLinkID={deep_link}"
    assert (landing.account, landing.view_mode, landing.deep_link) == ("101Invoice", "1", str(deep_link))
    assert landing.claims == {"Email": PAYER["email"], "LoginType": "1", "AccountNumber": "101Invoice"}


def test_deep_link_names_resolve_to_ic_ids(sqlite_bridge, ic):
    sqlite_bridge.add_biller("city", ic.sp.entity_id)
    for name, number in DEEP_LINK_BY_NAME.items():
        if number == 13:
            continue
        created = sqlite_bridge.create_login("city", **PAYER, deep_link=name)
        assert created.status_code == 201, created.text
        launched = sqlite_bridge.client.get(created.json()["url"], follow_redirects=False)
        assert parse_qs(urlsplit(launched.headers["location"]).query)["DeepLinkID"] == [str(number)]


def test_full_page_view_mode_zero_is_carried_to_ic(sqlite_bridge, ic):
    sqlite_bridge.add_biller("city", ic.sp.entity_id, view_mode=0)
    _, landing = journey(sqlite_bridge, ic, "city", **PAYER)
    assert landing.view_mode == "0"


@pytest.mark.parametrize(
    ("mapping", "role", "expected"),
    [
        ({"owner": "1", "co-owner": "5", "default": "1"}, "co-owner", "5"),
        ({"owner": "1", "co-owner": "5", "default": "1"}, "owner", "1"),
        ({"default": "5"}, None, "5"),  # partners that always register with 5
        ({"default": "1"}, None, "1"),  # partners that always register with 1
    ],
)
def test_partner_role_maps_to_the_billers_login_type(sqlite_bridge, ic, mapping, role, expected):
    sqlite_bridge.add_biller("city", ic.sp.entity_id, login_types=mapping)
    body = {**PAYER, **({"role": role} if role else {})}
    _, landing = journey(sqlite_bridge, ic, "city", **body)
    assert landing.claims["LoginType"] == expected


def test_payer_with_several_accounts_launches_once_per_account(sqlite_bridge, ic):
    sqlite_bridge.add_biller("city", ic.sp.entity_id)
    _, first = journey(sqlite_bridge, ic, "city", email=PAYER["email"], account_number="ACC-1")
    _, second = journey(sqlite_bridge, ic, "city", email=PAYER["email"], account_number="ACC-2")
    assert (first.account, first.claims["AccountNumber"]) == ("ACC-1", "ACC-1")
    assert (second.account, second.claims["AccountNumber"]) == ("ACC-2", "ACC-2")


def test_first_time_and_returning_payers_get_the_same_claims(sqlite_bridge, ic):
    sqlite_bridge.add_biller("city", ic.sp.entity_id)
    _, first = journey(sqlite_bridge, ic, "city", **PAYER)
    _, again = journey(sqlite_bridge, ic, "city", **PAYER)
    assert first.claims == again.claims


def test_idp_initiated_launch_posts_an_unsolicited_response_with_the_deep_link_relay_state(sqlite_bridge):
    sp = OneLoginSP()
    sqlite_bridge.trust(sp)
    sqlite_bridge.add_biller("city", sp.entity_id)
    launched = sqlite_bridge.launch("city", **PAYER, flow="idp-initiated", deep_link="autopay", view_mode=1)
    form = sqlite_bridge.posted(launched)
    assert form.fields["RelayState"] == "account=101Invoice&ViewMode=1&DeepLinkID=3"
    consumed = sp.consume(form, None)
    assert consumed.attributes["AccountNumber"] == ["101Invoice"]


def test_every_login_is_audited_without_secrets(sqlite_bridge, ic):
    sqlite_bridge.add_biller("city", ic.sp.entity_id)
    journey(sqlite_bridge, ic, "city", **PAYER, role="owner")
    issued = sqlite_bridge.audit("login.issued")
    assert len(issued) == 1
    event = issued[0]
    assert (event.biller, event.sp, event.account, event.email, event.login_type, event.flow, event.outcome) == (
        "city", ic.sp.entity_id, "101Invoice", PAYER["email"], "1", "sp-initiated", "ok")
    assert event.client_ip
    rows = repr(sqlite_bridge.store.audit_events())
    assert "ticket=" not in rows and "SAMLResponse" not in rows and "bk_" not in rows
    assert [e.event for e in sqlite_bridge.audit()][-3:] == ["launch.created", "ticket.consumed", "login.issued"]
