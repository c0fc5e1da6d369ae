"""An admin session ends on the server: sign-out and "sign out every admin session" revoke it in the
store for every node, it ends at its absolute lifetime however it is used, and password-equivalent
actions need the admin's credentials again when the last check is older than admin.reauth_window.
"""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from bridge.session_state import SESSIONS_REVOKED

from .conftest import BASE_URL, sign_in_admin


def _replayed(client: TestClient, cookie_name: str, value: str, path: str = "/admin"):  # type: ignore[no-untyped-def]
    client.cookies.clear()
    return client.get(path, headers={"cookie": f"{cookie_name}={value}"}, follow_redirects=False)


def _admin_cookie(bridge) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    name = next(n for n in bridge.client.cookies if "bridge_admin" in n)
    return name, str(bridge.client.cookies[name])


def test_a_cookie_copied_before_sign_out_is_refused_after_it(bridge):
    csrf = sign_in_admin(bridge.client, bridge.init.admin_token)
    name, stolen = _admin_cookie(bridge)
    assert bridge.client.post("/admin/logout", data={"csrf": csrf}, follow_redirects=False).status_code == 303
    with TestClient(bridge.client.app, base_url=BASE_URL) as attacker:
        replay = _replayed(attacker, name, stolen)
        assert (replay.status_code, replay.headers["location"]) == (303, "/admin/login")
        refused = attacker.post("/admin/billers/city/rotate-key", headers={"cookie": f"{name}={stolen}"},
                                data={"csrf": csrf, "confirmed": "yes", "typed": "city"}, follow_redirects=False)
        assert refused.status_code == 401
    assert bridge.audit("admin.logout")[-1].actor == "admin:token"


def test_sign_out_on_one_node_is_seen_by_the_other(bridge, other_node):
    csrf = sign_in_admin(bridge.client, bridge.init.admin_token)
    name, stolen = _admin_cookie(bridge)
    assert _replayed(other_node, name, stolen).status_code == 200
    bridge.client.post("/admin/logout", data={"csrf": csrf})
    assert _replayed(other_node, name, stolen).status_code == 303


def test_signing_out_every_admin_session_ends_every_copy_and_audits_who_did_it(bridge, other_node):
    csrf = sign_in_admin(bridge.client, bridge.init.admin_token)
    name, mine = _admin_cookie(bridge)
    sign_in_admin(other_node, bridge.init.admin_token)
    theirs = str(other_node.cookies[name])
    bridge.clock.advance(1)
    done = bridge.client.post("/admin/sessions/end", data={"csrf": csrf, "what": "admins", "confirmed": "yes"},
                              follow_redirects=False)
    assert done.status_code == 303
    assert _replayed(other_node, name, theirs).status_code == 303
    assert _replayed(other_node, name, mine).status_code == 303
    assert bridge.audit(SESSIONS_REVOKED)[-1].actor == "admin:token"
    bridge.clock.advance(1)
    sign_in_admin(bridge.client, bridge.init.admin_token)  # a new sign-in after it works


def test_ending_sessions_asks_for_a_confirmation_first(bridge):
    csrf = sign_in_admin(bridge.client, bridge.init.admin_token)
    page = bridge.client.post("/admin/sessions/end", data={"csrf": csrf, "what": "admins"})
    assert page.status_code == 200 and "Sign out every admin session?" in page.text
    assert bridge.audit(SESSIONS_REVOKED) == []
    assert bridge.client.get("/admin", follow_redirects=False).status_code == 200


def test_the_session_ends_at_its_absolute_lifetime_however_often_it_is_used(bridge):
    sign_in_admin(bridge.client, bridge.init.admin_token)
    lifetime = bridge.settings.admin.absolute_lifetime
    step = bridge.settings.admin.idle_timeout * 0.9
    used = 0.0
    while used + step < lifetime:
        bridge.clock.advance(step)
        used += step
        assert bridge.client.get("/admin", follow_redirects=False).status_code == 200, f"ended after {used} s"
    bridge.clock.advance(lifetime - used + 1)
    assert bridge.client.get("/admin", follow_redirects=False).status_code == 303


# -- re-authentication ----------------------------------------------------------------------------------

ROTATE = "/admin/billers/city/rotate-key"


@pytest.fixture
def stale(bridge, sp):  # type: ignore[no-untyped-def]
    """Signed in, then idle-renewed past the re-authentication window."""
    csrf = sign_in_admin(bridge.client, bridge.init.admin_token)
    bridge.clock.advance(bridge.settings.admin.reauth_window + 1)
    assert bridge.client.get("/admin", follow_redirects=False).status_code == 200
    return csrf


def _rotate(bridge, csrf: str, **extra: str):  # type: ignore[no-untyped-def]
    return bridge.client.post(ROTATE, data={"csrf": csrf, "confirmed": "yes", "typed": "city", **extra},
                              follow_redirects=False)


def _key_still(bridge) -> bool:  # type: ignore[no-untyped-def]
    return bridge.create_login("city", email="pat@example.com", account_number="1", role="owner").status_code == 201


def test_a_recent_sign_in_rotates_an_api_key_without_asking_again(bridge, sp):
    csrf = sign_in_admin(bridge.client, bridge.init.admin_token)
    assert _rotate(bridge, csrf).status_code == 303
    assert not _key_still(bridge)


def test_a_stale_session_must_enter_the_token_again_to_rotate_a_key(bridge, stale):
    page = bridge.client.get(ROTATE)
    assert 'name="reauth_token"' in page.text
    refused = _rotate(bridge, stale)
    assert refused.status_code == 401 and "again" in refused.text
    assert _key_still(bridge)


def test_a_wrong_token_does_not_rotate_and_is_audited(bridge, stale):
    assert _rotate(bridge, stale, reauth_token="wrong-token-guess").status_code == 401
    assert _key_still(bridge)
    assert bridge.audit("admin.reauth")[-1].outcome == "refused"


def test_the_right_token_rotates_and_keeps_the_session_fresh_for_the_window(bridge, stale):
    assert _rotate(bridge, stale, reauth_token=bridge.init.admin_token).status_code == 303
    assert not _key_still(bridge)
    assert bridge.audit("admin.reauth")[-1].outcome == "ok"
    assert _rotate(bridge, stale).status_code == 303  # within the window again: no second prompt


@pytest.mark.parametrize("path,fields", [
    ("/admin/billers/city/remove", {"typed": "city"}),
    ("/admin/keys/purge", {"kid": "k-none", "typed": "k-none"}),
    ("/admin/keys/activate", {"kid": "k-none"}),
], ids=["biller-remove", "key-purge", "key-activate"])
def test_every_password_equivalent_action_asks_a_stale_session_again(bridge, stale, path, fields):
    refused = bridge.client.post(path, data={"csrf": stale, "confirmed": "yes", **fields}, follow_redirects=False)
    assert refused.status_code == 401
    assert "nothing was changed" in refused.text
    assert bridge.store.get_biller("city") is not None


def test_a_stale_session_may_still_do_what_is_not_password_equivalent(bridge, stale):
    before = len(bridge.store.list_keys())
    done = bridge.client.post("/admin/keys/generate", data={"csrf": stale}, follow_redirects=False)
    assert done.status_code == 303
    assert len(bridge.store.list_keys()) == before + 1
