"""``icbridge setup-sheet``: the IC setup sheet from the one function the admin console renders too."""

from __future__ import annotations

import hashlib

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from bridge.setup_sheet import colon_hex


def test_json_sheet_has_every_field_ic_asks_for(icbridge, instance) -> None:  # type: ignore[no-untyped-def]
    sheet = icbridge("setup-sheet", "demo", "--json").json()
    base = "http://127.0.0.1:8000"
    assert {k: sheet[k] for k in ("entity_id", "metadata_url", "sso_url", "slo_url")} == {
        "entity_id": f"{base}/saml/metadata", "metadata_url": f"{base}/saml/metadata",
        "sso_url": f"{base}/saml/sso", "slo_url": f"{base}/saml/slo"}
    assert [c["attribute"] for c in sheet["claims"]] == ["Email", "LoginType", "AccountNumber"]
    assert sheet["login_type_mapping"] == {"co-owner": "5", "default": "1", "owner": "1"}
    assert sheet["certificate_kid"] == instance.kid


def test_fingerprint_is_the_sha256_of_the_active_certificate_file(icbridge, instance) -> None:  # type: ignore[no-untyped-def]
    pem = instance.config.parent / "certs" / f"{instance.kid}.crt"
    der = x509.load_pem_x509_certificate(pem.read_bytes()).public_bytes(serialization.Encoding.DER)
    sheet = icbridge("setup-sheet", "demo", "--json").json()
    assert sheet["certificate_sha256"] == hashlib.sha256(der).hexdigest()
    text = icbridge("setup-sheet", "demo").out
    assert f"Signing cert SHA-256:     {colon_hex(hashlib.sha256(der).hexdigest())}" in text


def test_text_sheet_names_the_slo_url_and_the_mapping(icbridge) -> None:  # type: ignore[no-untyped-def]
    text = icbridge("setup-sheet", "demo").out
    assert "IdP SLO Service URL:      http://127.0.0.1:8000/saml/slo" in text
    assert "LoginType claim mapping:  co-owner -> 5, default -> 1, owner -> 1" in text


def test_unknown_biller_is_one_line(icbridge) -> None:  # type: ignore[no-untyped-def]
    ran = icbridge("setup-sheet", "nobody")
    assert (ran.code, ran.err) == (1, ["icbridge: error: no biller named 'nobody'"])
