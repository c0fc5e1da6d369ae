"""The admin console's edge against forged credentials (its own suite, tests/admin, covers sign-in and CSRF)."""

from __future__ import annotations

from itsdangerous import URLSafeTimedSerializer

from security.hostile import assert_no_leak

ADMIN_COOKIE = "__Host-bridge_admin"  # https base URL


def _forged(secret: str, salt: str, payload: dict) -> str:  # type: ignore[type-arg]
    import hashlib

    return URLSafeTimedSerializer(secret, salt=salt, signer_kwargs={"digest_method": hashlib.sha256}).dumps(payload)


def test_admin_cookie_signed_with_a_guessed_secret_is_not_a_session(sqlite_bridge):
    sqlite_bridge.client.cookies.set(ADMIN_COOKIE, _forged("guess", "bridge.admin-session.v1",
                                                           {"sid": "x", "csrf": "y", "u": "admin"}))
    response = sqlite_bridge.client.get("/admin", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/admin/login"


def test_payer_session_cookie_replayed_as_the_admin_cookie_is_not_a_session(sqlite_bridge, plain_sp):
    # Same secrets, different salt: a payer's signed cookie must never open the console.
    payer_cookie = sqlite_bridge.client.cookies[sqlite_bridge.settings.session.cookie_name]
    sqlite_bridge.client.cookies.set(ADMIN_COOKIE, payer_cookie)
    response = sqlite_bridge.client.get("/admin", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/admin/login"


def test_audit_export_without_a_session_leaks_no_rows(sqlite_bridge, plain_sp):
    response = sqlite_bridge.client.get("/admin/audit/export?format=csv", follow_redirects=False)
    assert response.status_code == 303
    assert "pat.payer@example.com" not in response.text
    assert_no_leak(sqlite_bridge, response.text)


def test_creating_a_biller_without_a_session_changes_nothing(sqlite_bridge):
    before = [b.name for b in sqlite_bridge.store.list_billers()]
    response = sqlite_bridge.client.post("/admin/billers/new", data={"csrf": "x", "name": "evil"})
    assert response.status_code == 401
    assert [b.name for b in sqlite_bridge.store.list_billers()] == before
    assert_no_leak(sqlite_bridge, response.text)


def test_admin_login_page_cannot_be_framed(sqlite_bridge):
    response = sqlite_bridge.client.get("/admin/login")
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert response.headers["cache-control"] == "no-store"
