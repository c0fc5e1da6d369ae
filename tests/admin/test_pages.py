"""What an admin does in the console: billers, API keys, the IC setup sheet, the key lifecycle, the audit trail."""

from __future__ import annotations

import csv
import io
import json
import re

from dev_bridge import BASE_URL, PAYER

from bridge.billers import get_biller
from bridge.setup_sheet import colon_hex, setup_sheet

from .conftest import sign_in

NEW_BILLER = {
    "name": "city-water", "biller_guid": "11111111-2222-4333-8444-555555555555",
    "sp_entity_id": f"{BASE_URL}/simulator/metadata", "link_base": f"{BASE_URL}/simulator/saml",
    "view_mode": "1", "deep_link": "1", "flow": "sp-initiated", "login_types": "owner=1\nco-owner=5\ndefault=1",
    "portal_origins": "https://portal.city.example", "allowed_deep_links": ["1", "2", "3"],
}


def _api_key(page: str) -> str:
    match = re.search(r'id="api-key">([^<]+)<', page)
    assert match, page[:500]
    return match.group(1)


def test_an_admin_creates_a_biller_and_its_key_works_once_shown(admin):
    page = admin.client.post("/admin/billers/new", data={**NEW_BILLER, "csrf": admin.csrf})
    assert page.status_code == 200, page.text[:500]
    assert page.url.path == "/admin/billers/city-water/api-key"  # followed the 303
    key = _api_key(page.text)
    assert key not in admin.client.get("/admin/billers/city-water").text
    created = admin.create_login("city-water", api_key=key, deep_link=3)
    assert created.status_code == 201, created.text
    biller = admin.instance.store.get_biller("city-water")
    assert biller.settings["login_types"] == {"owner": "1", "co-owner": "5", "default": "1"}
    assert biller.settings["portal_origins"] == ["https://portal.city.example"]
    assert biller.settings["allowed_deep_links"] == [1, 2, 3]
    assert [e.actor for e in admin.instance.store.audit_events() if e.event == "biller.changed"] == ["admin:token"]


def test_an_invalid_biller_is_refused_naming_the_field(admin):
    page = admin.client.post("/admin/billers/new", data={**NEW_BILLER, "biller_guid": "nope", "csrf": admin.csrf})
    assert page.status_code == 400
    assert "biller_guid: must be a GUID" in page.text
    assert admin.instance.store.get_biller("city-water") is None


def test_an_admin_edits_the_login_type_mapping_view_mode_and_origins(admin):
    form = {**NEW_BILLER, "biller_guid": "c09d08fb-a969-4778-bb58-b46a8e9224e7",
            "login_types": "owner=5\ndefault=5", "view_mode": "0", "portal_origins": "https://a.example\nhttps://b.example"}
    form.pop("name")
    page = admin.client.post("/admin/billers/demo", data={**form, "csrf": admin.csrf})
    assert page.status_code == 200 and "Saved biller demo." in page.text
    settings = admin.instance.store.get_biller("demo").settings
    assert settings["login_types"] == {"owner": "5", "default": "5"}
    assert settings["view_mode"] == 0
    assert settings["portal_origins"] == ["https://a.example", "https://b.example"]


def test_rotating_a_billers_api_key_revokes_the_old_one(admin):
    page = admin.client.post("/admin/billers/demo/rotate-key",
                             data={"csrf": admin.csrf, "confirmed": "yes", "typed": "demo"})
    new_key = _api_key(page.text)
    assert admin.create_login("demo").status_code == 401
    assert admin.create_login("demo", api_key=new_key).status_code == 201


def test_the_ic_setup_sheet_lists_what_the_ic_admin_enters(admin):
    page = admin.client.get("/admin/billers/demo/setup").text
    assert f'id="sheet-entity-id">{BASE_URL}/saml/metadata<' in page
    assert f'id="sheet-metadata-url">{BASE_URL}/saml/metadata<' in page
    assert f"{BASE_URL}/saml/sso" in page
    for claim in ("Email", "LoginType", "AccountNumber"):
        assert f'<code id="sheet-claim-{claim.lower()}">{claim}</code>' in page
    assert "<td>co-owner</td><td>5</td>" in page
    guid = "c09d08fb-a969-4778-bb58-b46a8e9224e7"
    link = f"{BASE_URL}/simulator/saml/{guid}?account=101Invoice&amp;ViewMode=1&amp;DeepLinkID=1"
    assert link in page


def test_the_console_setup_sheet_shows_what_the_cli_prints(admin):
    sheet = setup_sheet(admin.instance.settings, admin.instance.store, get_biller(admin.instance.store, "demo"))
    page = admin.client.get("/admin/billers/demo/setup").text
    assert f'id="sheet-slo-url">{BASE_URL}/saml/slo<' in page
    assert f'id="sheet-cert-sha256">{colon_hex(sheet["certificate_sha256"])}' in page


def test_an_admin_generates_stages_and_activates_a_key(admin):
    page = admin.client.post("/admin/keys/generate", data={"csrf": admin.csrf})
    kid = re.search(r"Generated key ([0-9a-f]{16})", page.text).group(1)
    assert admin.client.post("/admin/keys/stage", data={"csrf": admin.csrf, "kid": kid}).status_code == 200
    assert kid in admin.client.get("/saml/metadata").text
    confirmed = {"csrf": admin.csrf, "kid": kid, "confirmed": "yes"}
    early = admin.client.post("/admin/keys/activate", data=confirmed)
    assert early.status_code == 409 and "keys.min_overlap" in early.text  # the lifecycle's guard, unchanged
    assert "--force" not in early.text and "or force the activation" in early.text  # no CLI flag on a page…
    assert 'name="force"' in early.text  # …whose own "force" checkbox is right there
    admin.clock.advance(86400 + 60)
    admin.csrf = sign_in(admin)  # a day later: the admin session has long timed out
    done = admin.client.post("/admin/keys/activate", data={**confirmed, "csrf": admin.csrf})
    assert done.status_code == 200, done.text[:500]
    assert admin.instance.keyring.current.active.kid == kid
    states = {r.kid: r.state for r in admin.instance.store.list_keys()}
    assert states == {kid: "active", admin.init.kid: "retiring"}
    old = admin.init.kid
    retire = {"csrf": admin.csrf, "kid": old, "confirmed": "yes", "typed": old}
    refused = admin.client.post("/admin/keys/retire", data=retire)
    assert refused.status_code == 409 and "or force the retirement" in refused.text and 'name="force"' in refused.text
    assert "--force" not in refused.text
    forced = admin.client.post("/admin/keys/retire", data={**retire, "force": "on"})
    assert forced.status_code == 200 and f"forced: key {old} stopped signing" in forced.text


def _signed_in_through_simulator(bridge):
    page = bridge.follow(bridge.launch_url(deep_link=2))
    assert 'data-ok="true"' in page.text


def test_the_audit_page_shows_a_login_made_through_the_simulator(admin):
    _signed_in_through_simulator(admin)
    page = admin.client.get("/admin/audit", params={"biller": "demo", "since": "1h", "event": "login.issued"})
    assert page.status_code == 200
    rows = re.findall(r'<tr data-event="login.issued" data-biller="demo">', page.text)
    assert len(rows) == 1 and PAYER["email"] in page.text


def test_audit_exports_as_csv_and_json_lines(admin):
    _signed_in_through_simulator(admin)
    jsonl = admin.client.get("/admin/audit/export", params={"format": "jsonl", "biller": "demo"})
    events = [json.loads(line) for line in jsonl.text.splitlines()]
    assert "login.issued" in {e["event"] for e in events} and all(e["biller"] == "demo" for e in events)
    assert jsonl.headers["content-disposition"].startswith("attachment;")
    table = list(csv.DictReader(io.StringIO(admin.client.get("/admin/audit/export", params={"format": "csv"}).text)))
    assert {"login.issued", "ticket.consumed", "admin.login"} <= {row["event"] for row in table}


def test_the_dashboard_counts_logins_per_hour(admin):
    _signed_in_through_simulator(admin)
    page = admin.client.get("/admin").text
    assert 'id="logins-24h">1<' in page
    assert f"{BASE_URL}/simulator/metadata" in page
