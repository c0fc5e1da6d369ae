"""The IdP metadata during a rotation: which certificates, in which order, named how, cached how long, signed."""

from __future__ import annotations

from pathlib import Path

import pytest
from onelogin.saml2.utils import OneLogin_Saml2_Utils
from saml_peers import xmlsec1_verify
from starlette.testclient import TestClient

from bridge.config import load_settings
from bridge.instance import open_instance
from bridge.keys.material import Certificate
from bridge.saml.xml import METADATA_XSD, is_schema_valid, parse_untrusted
from bridge.web.app import create_app

from .conftest import DAY, Admin, cache_duration, metadata_certs, metadata_kids


def _mid_rotation(admin: Admin) -> tuple[str, str, str]:
    """(active, pending, retiring): a key in each published state."""
    old, new = admin.rolled_over()
    return new, admin.staged(), old


def test_every_published_key_is_listed_active_first_then_pending_then_retiring(sqlite_admin):
    active, pending, retiring = _mid_rotation(sqlite_admin)
    assert metadata_kids(sqlite_admin.bridge.metadata()) == [active, pending, retiring]


def test_each_key_name_is_the_kid_of_the_certificate_beside_it(sqlite_admin):
    _mid_rotation(sqlite_admin)
    metadata = sqlite_admin.bridge.metadata()
    assert [Certificate.from_base64_der(c).kid for c in metadata_certs(metadata)] == metadata_kids(metadata)


def test_every_key_descriptor_is_for_signing(sqlite_admin):
    _mid_rotation(sqlite_admin)
    root = parse_untrusted(sqlite_admin.bridge.metadata())
    uses = [d.get("use") for d in root.iter("{urn:oasis:names:tc:SAML:2.0:metadata}KeyDescriptor")]
    assert uses == ["signing"] * 3


def test_metadata_with_three_keys_is_schema_valid(sqlite_admin):
    _mid_rotation(sqlite_admin)
    assert is_schema_valid(parse_untrusted(sqlite_admin.bridge.metadata()), METADATA_XSD)


def test_cache_duration_is_shortened_while_a_rotation_is_in_progress(sqlite_admin):
    bridge = sqlite_admin.bridge
    idp = bridge.settings.idp
    assert cache_duration(bridge.metadata()) == f"PT{idp.metadata_cache_duration}S"
    old = sqlite_admin.active_kid
    new = sqlite_admin.staged()
    assert cache_duration(bridge.metadata()) == f"PT{idp.metadata_cache_duration_rotating}S"
    bridge.clock.advance(DAY)
    sqlite_admin.activate(new)
    assert cache_duration(bridge.metadata()) == f"PT{idp.metadata_cache_duration_rotating}S"
    sqlite_admin.bridge.clock.advance(DAY)  # keys.min_overlap after the activation
    sqlite_admin.retire(old)
    assert cache_duration(bridge.metadata()) == f"PT{idp.metadata_cache_duration}S"


def test_the_etag_changes_with_each_transition(sqlite_admin):
    client = sqlite_admin.bridge.client
    before = client.get("/saml/metadata").headers["etag"]
    sqlite_admin.staged()
    assert client.get("/saml/metadata").headers["etag"] != before
    assert client.get("/saml/metadata", headers={"If-None-Match": before}).status_code == 200


@pytest.fixture
def signed(sqlite_admin):
    """A second node of the same instance with ``idp.sign_metadata = true``; yields (admin, its client)."""
    config: Path = sqlite_admin.bridge.init.config
    config.write_text(config.read_text().replace("[idp]\n", "[idp]\nsign_metadata = true\n", 1))
    node = open_instance(load_settings(config), clock=sqlite_admin.bridge.clock)
    with TestClient(create_app(node, background=False), base_url="https://bridge.test") as client:
        yield sqlite_admin, node, client
    node.close()


def _signed_metadata(node, client) -> bytes:
    node.keyring.refresh()
    response = client.get("/saml/metadata")
    assert response.status_code == 200
    return response.content


def test_signed_metadata_verifies_with_the_active_cert(signed):
    admin, node, client = signed
    metadata = _signed_metadata(node, client)
    active = admin.certificate(admin.active_kid)
    result = xmlsec1_verify(metadata, active.pem, node="EntityDescriptor")
    assert result.returncode == 0, result.stderr
    assert OneLogin_Saml2_Utils.validate_metadata_sign(metadata, active.pem, raise_exceptions=True)
    assert is_schema_valid(parse_untrusted(metadata), METADATA_XSD)


def test_signed_metadata_is_signed_by_the_new_key_after_activation(signed):
    admin, node, client = signed
    old, new = admin.rolled_over()
    metadata = _signed_metadata(node, client)
    assert metadata_kids(metadata) == [new, old]
    assert xmlsec1_verify(metadata, admin.certificate(new).pem, node="EntityDescriptor").returncode == 0
    assert xmlsec1_verify(metadata, admin.certificate(old).pem, node="EntityDescriptor").returncode != 0
