"""RelayState the bridge composes for IdP-initiated launches: every placeholder, and the length checked
when the launch is created, so no ticket is spent on a launch that cannot work."""

from __future__ import annotations

import uuid

import pytest
from conftest import reopened
from saml_peers import OneLoginSP

from bridge.delegation.tickets import mint_partner_ticket, partner_secret
from bridge.invoicecloud.relay_state import PLACEHOLDERS

PAYER = {"email": "pat.payer@example.com", "role": "owner"}
GUID = "5f0c1c2e-8d5a-4a53-9a4e-2f1d3c4b5a69"
# account= (8) + 50 + &ViewMode=1 (11) + &DeepLinkID=11 (14): the 83 bytes of the issue.
LONG_ACCOUNT = "A" * 50


@pytest.fixture
def city(sqlite_bridge):
    sp = OneLoginSP()
    sqlite_bridge.trust(sp)
    sqlite_bridge.add_biller("city", sp.entity_id, biller_guid=GUID)
    return sqlite_bridge, sp


def test_default_relay_state_over_80_bytes_is_refused_when_the_launch_is_created(city):
    bridge, _sp = city
    response = bridge.create_login("city", **PAYER, account_number=LONG_ACCOUNT, deep_link=11, view_mode=1,
                                   flow="idp-initiated")
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "invalid_field"
    assert body["detail"].startswith("account_number:") and "83 bytes" in body["detail"]
    assert bridge.audit("launch.created") == []


def test_a_relay_state_of_exactly_80_bytes_launches(city):
    bridge, sp = city
    account = "A" * 47
    form = bridge.posted(bridge.launch("city", **PAYER, account_number=account, deep_link=11, view_mode=1,
                                       flow="idp-initiated"))
    assert len(form.fields["RelayState"].encode()) == 80
    assert sp.consume(form, None).attributes["AccountNumber"] == [account]


def test_the_same_long_account_is_fine_for_an_sp_initiated_launch(city):
    bridge, _sp = city
    assert bridge.create_login("city", **PAYER, account_number=LONG_ACCOUNT, deep_link=11).status_code == 201


def test_a_partner_ticket_whose_relay_state_is_too_long_is_refused_before_it_is_spent(city):
    bridge, _sp = city
    secret = partner_secret(bridge.settings.tickets.secrets[-1], "city")
    token = mint_partner_ticket(secret, {"biller": "city", **PAYER, "account_number": LONG_ACCOUNT, "deep_link": 11,
                                         "flow": "idp-initiated"}, ticket_id="_long", now=bridge.clock())
    response = bridge.client.get("/launch", params={"partner_ticket": token}, follow_redirects=False)
    assert response.status_code == 400
    assert "account_number" in response.text and "Traceback" not in response.text
    assert bridge.audit("ticket.consumed") == []


EXPECTED = {
    "account": "101Invoice",
    "view_mode": "1",
    "deep_link": "3",
    "biller_guid": GUID,
    "biller": "city",
}


def test_every_documented_placeholder_is_tested():
    assert set(EXPECTED) == set(PLACEHOLDERS)


@pytest.mark.parametrize("name", list(PLACEHOLDERS))
def test_each_placeholder_becomes_its_value(sqlite_bridge, name):
    sp = OneLoginSP()
    sqlite_bridge.trust(sp)
    template = f"x={{{name}}}"
    with reopened(sqlite_bridge, append=f'\n[sp."{sp.entity_id}"]\nrelay_state_template = "{template}"\n') as node:
        node.add_biller("city", sp.entity_id, biller_guid=GUID)
        form = node.posted(node.launch("city", **PAYER, account_number="101Invoice", deep_link="autopay",
                                       view_mode=1, flow="idp-initiated"))
    assert form.fields["RelayState"] == f"x={EXPECTED[name]}"


def test_a_url_template_for_sps_that_treat_relay_state_as_a_url(sqlite_bridge):
    sp = OneLoginSP()
    sqlite_bridge.trust(sp)
    template = "https://sp.test/landing/{biller_guid}/{deep_link}"
    with reopened(sqlite_bridge, append=f'\n[sp."{sp.entity_id}"]\nrelay_state_template = "{template}"\n') as node:
        guid = str(uuid.uuid4())
        node.add_biller("town", sp.entity_id, biller_guid=guid)
        form = node.posted(node.launch("town", **PAYER, account_number="9", deep_link=1, flow="idp-initiated"))
    assert form.fields["RelayState"] == f"https://sp.test/landing/{guid}/1"
