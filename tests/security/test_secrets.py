"""Secrets hygiene: private keys and itsdangerous secrets never reach logs, pages, API answers or metadata.

Config secrets may come from the environment (``env:NAME``) or a file (``file:PATH``).
"""

from __future__ import annotations

import logging
from pathlib import Path

from saml_peers import authn_request_xml

from bridge.config import load_settings
from security.hostile import PAYER, SSO_URL, assert_no_leak, post_fields, redirect_query, secrets_of


def test_metadata_carries_no_private_key_and_no_secret(sqlite_bridge):
    metadata = sqlite_bridge.metadata().decode()
    assert_no_leak(sqlite_bridge, metadata)
    assert "PRIVATE" not in metadata


def test_a_whole_hostile_session_logs_no_secret(sqlite_bridge, plain_sp, caplog):
    caplog.set_level(logging.DEBUG)
    client = sqlite_bridge.client
    sqlite_bridge.create_login("city", **PAYER)
    client.get("/launch?ticket=forged.token.value", follow_redirects=False)
    sqlite_bridge.sso_post(post_fields(b"<!DOCTYPE x><x/>"))
    sqlite_bridge.sso_post({"SAMLRequest": "%%%"})
    xml = authn_request_xml(issuer=plain_sp.entity_id, destination=SSO_URL, request_id="_logs")
    sqlite_bridge.sso_redirect(f"/saml/sso?{redirect_query(xml)}")
    sqlite_bridge.create_login("city", key="bk_wrong_key", **PAYER)
    logged = "\n".join(record.getMessage() + (record.exc_text or "") for record in caplog.records)
    assert logged  # something was logged, and none of it is secret
    for secret in secrets_of(sqlite_bridge):
        assert secret not in logged
    assert sqlite_bridge.api_keys["city"].split("_", 2)[2] not in logged
    assert "PRIVATE KEY" not in logged


def test_the_api_key_secret_is_not_stored_in_clear(sqlite_bridge, plain_sp):
    _, key_id, secret = sqlite_bridge.api_keys["city"].split("_", 2)
    record = sqlite_bridge.store.get_api_key(key_id)
    assert secret not in record.secret_hash


def test_ticket_and_session_secrets_can_come_from_env_and_file(tmp_path: Path, sqlite_bridge, monkeypatch):
    config = Path(sqlite_bridge.init.config)
    (config.parent / "session.secret").write_text("from-a-file-0123456789abcdef\n")
    monkeypatch.setenv("BRIDGE_TEST_TICKET_SECRET", "from-env-0123456789abcdef")
    text = config.read_text()
    settings = load_settings(config)
    for value in (*settings.tickets.secrets, *settings.session.secrets):
        text = text.replace(f'"{value}"', '"PLACEHOLDER"', 1)
    text = text.replace('"PLACEHOLDER"', '"env:BRIDGE_TEST_TICKET_SECRET"', 1)
    text = text.replace('"PLACEHOLDER"', '"file:session.secret"', 1)
    config.write_text(text)
    loaded = load_settings(config)
    assert loaded.tickets.secrets == ["from-env-0123456789abcdef"]
    assert loaded.session.secrets == ["from-a-file-0123456789abcdef"]
