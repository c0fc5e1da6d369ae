"""A payer's bridge session ends on the server: sign-out, SAML logout and "end every payer session"
revoke it in the store, this node at once and every other node at its next cache poll (``store.cache_refresh``,
SECURITY.md), and no use extends it past its absolute lifetime.

Each test captures the cookie as an attacker would (a copy taken before the payer signed out) and
replays it from a client of its own.
"""

from __future__ import annotations

from onelogin.saml2.auth import OneLogin_Saml2_Auth
from saml_peers import OneLoginSP

from bridge import session_state
from bridge.delegation.sessions import renewal_step

from .conftest import PAYER, answered, sso_with


def _launched(bridge, **body) -> str:  # type: ignore[no-untyped-def]
    response = bridge.launch("city", **PAYER, **body)
    assert response.status_code == 303, response.text[:300]
    return str(bridge.client.cookies["bridge_session"])


def test_a_cookie_copied_before_logout_gets_no_assertion_after_it(bridge, sp):
    stolen = _launched(bridge)
    assert answered(sso_with(bridge.client, sp, bridge.clock, stolen))
    bridge.client.cookies.set("bridge_session", stolen, domain="bridge.test")
    assert bridge.client.get("/logout", follow_redirects=False).status_code == 200
    replay = sso_with(bridge.client, sp, bridge.clock, stolen)
    assert not answered(replay)
    assert replay.status_code == 404  # treated as no session: start again from the portal


def test_logout_on_one_node_ends_the_session_on_the_other_at_its_next_poll(bridge, sp, other_node):
    stolen = _launched(bridge)
    assert answered(sso_with(other_node, sp, bridge.clock, stolen))
    bridge.client.get("/logout")
    other_node.app.state.instance.store_cache.poll()  # its background refresh, every store.cache_refresh
    assert not answered(sso_with(other_node, sp, bridge.clock, stolen))


def test_saml_single_logout_revokes_the_session_too(bridge):
    sp = OneLoginSP("https://sp-slo.test/metadata", "https://sp-slo.test/acs", sign_requests=True,
                    slo_url="https://sp-slo.test/slo")
    bridge.trust(sp)
    bridge.add_biller("town", sp.entity_id)
    bridge.launch("town", **PAYER)
    stolen = str(bridge.client.cookies["bridge_session"])
    auth = OneLogin_Saml2_Auth(sp._request_data(), sp._settings())
    assert bridge.sso_redirect(auth.logout(name_id=PAYER["email"], session_index="s1")).status_code == 303
    assert not answered(sso_with(bridge.client, sp, bridge.clock, stolen))


def test_ending_every_payer_session_ends_sessions_started_before_only(bridge, sp):
    before = _launched(bridge)
    bridge.clock.advance(1)
    session_state.sign_out_everywhere(bridge.store, bridge.settings, admins=False, payers=True,
                                      now=bridge.clock(), actor="test", cache=bridge.instance.store_cache)
    bridge.clock.advance(1)
    after = _launched(bridge)
    assert not answered(sso_with(bridge.client, sp, bridge.clock, before))
    assert answered(sso_with(bridge.client, sp, bridge.clock, after))
    assert bridge.audit(session_state.SESSIONS_REVOKED)[-1].actor == "test"


def test_ending_one_billers_payer_sessions_leaves_another_billers(bridge, sp):
    other = OneLoginSP("https://sp-town.test/metadata", "https://sp-town.test/acs")
    bridge.trust(other)
    bridge.add_biller("town", other.entity_id)
    city = _launched(bridge)
    bridge.launch("town", **PAYER)
    town = str(bridge.client.cookies["bridge_session"])
    bridge.clock.advance(1)
    session_state.sign_out_everywhere(bridge.store, bridge.settings, admins=False, payers=True,
                                      now=bridge.clock(), actor="test", biller="city",
                                      cache=bridge.instance.store_cache)
    assert not answered(sso_with(bridge.client, sp, bridge.clock, city))
    assert answered(sso_with(bridge.client, other, bridge.clock, town))


def test_each_sso_answer_renews_the_cookie_so_the_idle_timeout_slides(bridge, sp):
    _launched(bridge)
    idle = bridge.settings.session.idle_timeout
    for _ in range(3):  # three uses, each within the idle timeout of the last: 3 x 0.8 idle > idle
        bridge.clock.advance(idle * 0.8)
        response = sso_with(bridge.client, sp, bridge.clock)
        assert answered(response)
        assert "bridge_session=" in response.headers["set-cookie"]
    bridge.clock.advance(idle + 1)
    assert not answered(sso_with(bridge.client, sp, bridge.clock))


def test_an_answer_within_the_renewal_step_leaves_the_fresh_cookie_as_it_is(bridge, sp):
    _launched(bridge)
    bridge.clock.advance(renewal_step(bridge.settings.session.idle_timeout) - 1)
    response = sso_with(bridge.client, sp, bridge.clock)
    assert answered(response)
    assert "set-cookie" not in response.headers  # re-signing it would slide the idle timeout by a few seconds


def test_the_idle_timeout_slides_in_renewal_steps_never_past_the_last_use_plus_the_timeout(bridge, sp):
    _launched(bridge)
    idle = bridge.settings.session.idle_timeout
    bridge.clock.advance(renewal_step(idle) - 1)
    assert answered(sso_with(bridge.client, sp, bridge.clock))  # used, cookie not re-issued
    bridge.clock.advance(idle - renewal_step(idle) + 2)  # idle since the cookie's issue, not since the last use
    assert not answered(sso_with(bridge.client, sp, bridge.clock))


def test_renewal_never_carries_a_session_past_its_absolute_lifetime(bridge, sp):
    _launched(bridge)
    lifetime = bridge.settings.session.absolute_lifetime
    step = bridge.settings.session.idle_timeout * 0.9
    used = 0.0
    while used + step < lifetime:
        bridge.clock.advance(step)
        used += step
        response = sso_with(bridge.client, sp, bridge.clock)
        assert answered(response), f"refused after {used} s"
        max_age = int(response.headers["set-cookie"].lower().split("max-age=")[1].split(";")[0])
        assert used + max_age <= lifetime + 1  # the cookie itself never outlives the session
    bridge.clock.advance(lifetime - used + 1)
    assert not answered(sso_with(bridge.client, sp, bridge.clock))
