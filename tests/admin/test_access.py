"""Who may use the admin console: credentials, session, CSRF on every form, no frames, rate-limited sign-in."""

from __future__ import annotations

import json
import tomllib

import pytest
from argon2 import PasswordHasher

from bridge.cli import main
from bridge.config import hash_admin_secret
from bridge.errors import AuthenticationError

from .conftest import csrf_of, sign_in

ADMIN_POSTS = ["/admin/billers/new", "/admin/billers/demo", "/admin/billers/demo/rotate-key",
               "/admin/billers/demo/remove", "/admin/keys/generate", "/admin/keys/purge", "/admin/logout"]


def test_bridge_init_prints_the_admin_token_once_and_stores_only_its_argon2_hash(tmp_path, capsys):
    assert main(["init", str(tmp_path / "i"), "--json"]) == 0
    token = json.loads(capsys.readouterr().out)["admin_token"]
    text = (tmp_path / "i" / "bridge.toml").read_text()
    assert token not in text
    stored = tomllib.loads(text)["admin"]["token_hash"]
    assert stored.startswith("$argon2id$") and PasswordHasher().verify(stored, token)


def test_the_admin_token_signs_in_and_the_dashboard_shows_the_active_key(dev_bridge):
    sign_in(dev_bridge)
    page = dev_bridge.client.get("/admin")
    assert page.status_code == 200
    assert f'id="active-kid">{dev_bridge.init.kid}<' in page.text


def test_a_password_signs_in_as_the_configured_user(dev_bridge):
    settings = dev_bridge.instance.settings
    admin = settings.admin.model_copy(update={"password_hash": hash_admin_secret("correct horse battery")})
    dev_bridge.instance.settings = settings.model_copy(update={"admin": admin})
    form = dev_bridge.client.get("/admin/login")
    answer = dev_bridge.client.post("/admin/login", data={"csrf": csrf_of(form.text), "username": "admin",
                                                          "password": "correct horse battery"}, follow_redirects=False)
    assert answer.status_code == 303
    assert "signed in as <strong>admin</strong>" in dev_bridge.client.get("/admin").text


def test_a_wrong_token_is_refused_and_audited(dev_bridge):
    form = dev_bridge.client.get("/admin/login")
    answer = dev_bridge.client.post("/admin/login", data={"csrf": csrf_of(form.text), "token": "wrong"})
    assert answer.status_code == 401
    assert dev_bridge.client.get("/admin", follow_redirects=False).status_code == 303
    refused = [e for e in dev_bridge.instance.store.audit_events() if e.event == "admin.login"]
    assert [e.outcome for e in refused] == ["refused"]


def test_sign_in_attempts_are_rate_limited_per_address(dev_bridge):
    form = dev_bridge.client.get("/admin/login")
    codes = [dev_bridge.client.post("/admin/login", data={"csrf": csrf_of(form.text), "token": "x"}).status_code
             for _ in range(11)]
    assert codes[:10] == [401] * 10 and codes[10] == 429


def test_the_login_form_needs_its_csrf_token(dev_bridge):
    dev_bridge.client.get("/admin/login")
    answer = dev_bridge.client.post("/admin/login", data={"token": dev_bridge.init.admin_token})
    assert answer.status_code == 403


ADMIN_PAGES = ["/admin", "/admin/billers", "/admin/keys", "/admin/audit", "/admin/billers/demo/setup"]


@pytest.mark.parametrize("path", ADMIN_PAGES)
def test_pages_without_a_session_send_to_sign_in(dev_bridge, path):
    answer = dev_bridge.client.get(path, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/admin/login"


@pytest.mark.parametrize("path", ADMIN_POSTS)
def test_forms_without_a_session_are_refused(dev_bridge, path):
    assert dev_bridge.client.post(path, data={"csrf": "anything"}).status_code == AuthenticationError.status


@pytest.mark.parametrize("path", ADMIN_POSTS)
def test_forms_without_the_csrf_token_are_refused(admin, path):
    assert admin.client.post(path, data={"name": "x"}).status_code == 403
    assert admin.client.post(path, data={"csrf": "forged"}).status_code == 403
    assert admin.client.get("/admin/billers/x", follow_redirects=False).status_code == 404  # nothing was created


def test_admin_pages_forbid_framing(admin):
    page = admin.client.get("/admin")
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY"
    login = admin.client.get("/admin/login")
    assert "frame-ancestors 'none'" in login.headers["content-security-policy"]


def test_requests_for_a_frame_are_refused(admin):
    assert admin.client.get("/admin", headers={"Sec-Fetch-Dest": "iframe"}).status_code == 403
    assert admin.client.get("/admin/login", headers={"Sec-Fetch-Dest": "frame"}).status_code == 403
    answer = admin.client.post("/admin/keys/generate", data={"csrf": admin.csrf}, headers={"Sec-Fetch-Dest": "iframe"})
    assert answer.status_code == 403


def test_the_session_cookie_is_host_only_strict_and_http_only(dev_bridge):
    form = dev_bridge.client.get("/admin/login")
    fields = {"csrf": csrf_of(form.text), "token": dev_bridge.init.admin_token}
    answer = dev_bridge.client.post("/admin/login", data=fields, follow_redirects=False)
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith("__Host-bridge_admin=")
    for attribute in ("HttpOnly", "Secure", "SameSite=strict", "Path=/", "Max-Age=900"):
        assert attribute.lower() in cookie.lower()


def test_the_session_ends_after_the_idle_timeout(admin):
    admin.clock.advance(600)
    assert admin.client.get("/admin").status_code == 200  # slides
    admin.clock.advance(901)
    assert admin.client.get("/admin", follow_redirects=False).status_code == 303


def test_sign_out_ends_the_session(admin):
    assert admin.client.post("/admin/logout", data={"csrf": admin.csrf}, follow_redirects=False).status_code == 303
    assert admin.client.get("/admin", follow_redirects=False).status_code == 303


def test_a_new_session_id_and_csrf_token_after_sign_in(dev_bridge):
    anonymous = csrf_of(dev_bridge.client.get("/admin/login").text)
    assert sign_in(dev_bridge) != anonymous
