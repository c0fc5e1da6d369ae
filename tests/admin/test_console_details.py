"""The console's details: product name and favicon, who is signed in, the current page marked, human column names,
the simulator's link base as the default for a simulator biller, and the charts' words and escaping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dev_bridge import BASE_URL

from bridge.audit import FIELDS, TITLES
from bridge.store.base import KeyRecord
from bridge.web.admin.charts import hourly_chart, key_phases, key_timeline
from bridge.web.admin.views import AUDIT_COLUMNS

from .test_pages import NEW_BILLER

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def test_the_favicon_is_an_svg_served_by_the_app(dev_bridge):
    answer = dev_bridge.client.get("/favicon.svg")
    assert answer.status_code == 200 and answer.headers["content-type"] == "image/svg+xml"
    assert answer.text.startswith("<svg") and "public" in answer.headers["cache-control"]
    assert 'rel="icon" href="/favicon.svg"' in dev_bridge.client.get("/admin/login").text


def test_pages_carry_the_product_name_and_who_is_signed_in(admin):
    page = admin.client.get("/admin/keys").text
    assert "<title>Signing keys · IC Bridge</title>" in page
    assert 'id="who">signed in as <strong>admin</strong>' in page


def test_the_navigation_marks_the_current_section(admin):
    page = admin.client.get("/admin/billers/demo/setup").text
    assert '<a href="/admin/billers" aria-current="page">Billers</a>' in page
    assert page.count(' aria-current="page">') == 1
    assert '<a href="/admin" aria-current="page">Dashboard</a>' in admin.client.get("/admin").text


def test_admin_pages_allow_only_their_own_nonce_script(admin):
    answer = admin.client.get("/admin/billers/demo/setup")
    csp = answer.headers["content-security-policy"]
    assert "script-src 'nonce-" in csp and "frame-ancestors 'none'" in csp
    assert answer.headers["x-frame-options"] == "DENY"


def test_the_audit_page_shows_every_audit_field_with_a_title():
    assert sorted(AUDIT_COLUMNS) == sorted(FIELDS) == sorted(TITLES)


def test_the_audit_table_has_human_column_names(admin):
    page = admin.client.get("/admin/audit").text
    for title in ("When (UTC)", "Client IP", "Payer email", "Service provider"):
        assert f'<th scope="col">{title}</th>' in page
    assert ">client_ip<" not in page


def test_a_biller_bound_to_the_simulator_gets_the_simulators_link_base_by_default(admin):
    form = {**NEW_BILLER, "link_base": "", "csrf": admin.csrf}
    admin.client.post("/admin/billers/new", data=form)
    assert admin.instance.store.get_biller("city-water").settings["link_base"] == f"{BASE_URL}/simulator/saml"


def test_the_dashboard_draws_sign_ins_per_hour_and_keeps_the_numbers(admin):
    page = admin.client.get("/admin").text
    assert '<svg xmlns="http://www.w3.org/2000/svg" id="hours-chart"' in page
    assert 'aria-labelledby="hours-chart-title hours-chart-desc"' in page and '<table id="hours">' in page


def test_the_hourly_chart_says_in_words_what_it_shows():
    hours = [(f"2026-11-30 {h:02d}:00", 3 if h == 9 else 0, 1 if h == 10 else 0) for h in range(24)]
    svg = str(hourly_chart(hours))
    assert "3 assertions issued and 1 sign-ins refused in the last 24 hours" in svg
    assert "the busiest hour was 2026-11-30 09:00 UTC with 3 issued" in svg
    assert svg.count("<rect") == 25  # a bar per hour, and the refused one stacked


def _key(kid: str, **times: datetime) -> KeyRecord:
    return KeyRecord(kid=kid, state=times.pop("state"), cert_pem="", key_path="", **times)  # type: ignore[arg-type]


def test_a_keys_phases_follow_its_lifecycle_timestamps():
    record = _key("k1", state="retiring", created_at=NOW - timedelta(days=40), published_at=NOW - timedelta(days=39),
                  activated_at=NOW - timedelta(days=30), retiring_at=NOW - timedelta(days=1))
    phases = key_phases(record, now=NOW)
    assert [p.name for p in phases] == ["generated", "published", "active", "retiring"]
    assert phases[-1].end == NOW and phases[2].start == NOW - timedelta(days=30)


def test_the_timeline_names_every_key_its_state_and_expiry_and_escapes_text():
    active = _key("<k>", state="active", created_at=NOW - timedelta(days=3), published_at=NOW - timedelta(days=3),
                  activated_at=NOW - timedelta(days=2))
    svg = str(key_timeline([(active, NOW + timedelta(days=90))], now=NOW))
    assert "&lt;k&gt; is active, expires 2027-02-28 (90 days)" in svg and "<k>" not in svg
    assert 'role="img"' in svg and "<title id=\"key-timeline-title\">Signing key lifetimes</title>" in svg
