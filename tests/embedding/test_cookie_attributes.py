"""The session cookie's attributes per deployment (CONTRACT.md "Cookies"), written by bridge/web/cookies.py."""

from __future__ import annotations

from bridge.delegation.sessions import CookiePolicy, cookie_policy
from bridge.web.cookies import cookie_header


def test_framed_use_on_https_is_samesite_none_secure_partitioned_httponly():
    header = cookie_header(cookie_policy(name="s", https=True, view_mode=1, idle_timeout=60), "v")
    assert header == "s=v; HttpOnly; Max-Age=60; Path=/; SameSite=None; Secure; Partitioned"


def test_full_page_use_on_https_is_lax_secure_and_not_partitioned():
    header = cookie_header(cookie_policy(name="s", https=True, view_mode=0, idle_timeout=60), "v")
    assert header == "s=v; HttpOnly; Max-Age=60; Path=/; SameSite=Lax; Secure"


def test_plain_http_development_is_lax_without_secure_or_partitioned():
    header = cookie_header(cookie_policy(name="s", https=False, view_mode=1, idle_timeout=60), "v")
    assert header == "s=v; HttpOnly; Max-Age=60; Path=/; SameSite=Lax"


def test_partitioned_is_never_written_without_samesite_none_and_secure():
    for https in (True, False):
        for view_mode in (0, 1):
            policy = cookie_policy(name="s", https=https, view_mode=view_mode, idle_timeout=1)
            assert policy.partitioned == (policy.samesite == "none" and policy.secure)


def test_a_framed_launch_sets_a_partitioned_session_cookie(sqlite_bridge, onelogin_sp):
    sqlite_bridge.add_biller("city", onelogin_sp.entity_id)
    response = sqlite_bridge.launch("city", email="pat@example.com", account_number="101Invoice", view_mode=1)
    assert response.headers["set-cookie"].endswith("SameSite=None; Secure; Partitioned")


def test_logout_removes_the_cookie_in_and_out_of_the_portals_partition(sqlite_bridge, onelogin_sp):
    sqlite_bridge.add_biller("city", onelogin_sp.entity_id)
    sqlite_bridge.launch("city", email="pat@example.com", account_number="101Invoice", view_mode=1)
    removals = sqlite_bridge.client.get("/logout").headers.get_list("set-cookie")
    assert sorted(removals) == sorted([
        'bridge_session=""; HttpOnly; Max-Age=0; Path=/; SameSite=None; Secure',
        'bridge_session=""; HttpOnly; Max-Age=0; Path=/; SameSite=None; Secure; Partitioned',
    ])


def test_the_header_value_is_quoted_by_the_standard_library_when_needed():
    header = cookie_header(CookiePolicy(name="s", secure=False, samesite="lax", max_age=1), "a b")
    assert header.startswith('s="a b";')
