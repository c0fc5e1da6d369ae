"""Helpers for the hostile-input tests: forging and mutating SAML requests, and the one "refused" check.

Every hostile test ends in :func:`assert_refused`, which pins the exact safe
outcome: the status and error code, no SAMLResponse form, no stack trace, no
secret in the body, and no ``login.issued`` row in the audit trail.
"""

from __future__ import annotations

import base64
import copy
import zlib
from typing import Any
from urllib.parse import quote, urlencode

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from lxml import etree
from onelogin.saml2.utils import OneLogin_Saml2_Utils

SAMLP_NS = "urn:oasis:names:tc:SAML:2.0:protocol"
SAML_NS = "urn:oasis:names:tc:SAML:2.0:assertion"
DS_NS = "http://www.w3.org/2000/09/xmldsig#"
SAMLP = "{%s}" % SAMLP_NS
SAML = "{%s}" % SAML_NS
DS = "{%s}" % DS_NS
SSO_URL = "https://bridge.test/saml/sso"
RSA_SHA1 = "http://www.w3.org/2000/09/xmldsig#rsa-sha1"
RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
SHA1 = "http://www.w3.org/2000/09/xmldsig#sha1"
SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
PAYER = {"email": "pat.payer@example.com", "account_number": "101Invoice", "role": "owner"}
LEAK_MARKERS = ("Traceback", "PRIVATE KEY", 'File "/', "sqlite3.", "psycopg", "lxml.etree")


def secrets_of(harness: Any) -> list[str]:
    """Every secret of the instance that must never reach a page, a log line or metadata."""
    settings = harness.settings
    values = [*settings.tickets.secrets, *settings.session.secrets]
    for key_file in (harness.directory / "certs").glob("*.key"):
        pem = key_file.read_text()
        values.append("".join(pem.splitlines()[1:3]))  # a slice of the base64 body is enough to spot a leak
    return [v for v in values if v]


def assert_no_leak(harness: Any, text: str) -> None:
    for marker in LEAK_MARKERS:
        assert marker not in text, f"leaked {marker!r}"
    for secret in secrets_of(harness):
        assert secret not in text, "leaked an instance secret"


def assert_refused(harness: Any, response: Any, status: int, code: str) -> None:
    """The exact safe outcome of a hostile request: this status and error code, nothing issued, nothing leaked."""
    assert response.status_code == status, (response.status_code, response.text[:400])
    body = response.text
    if response.headers.get("content-type", "").startswith("application/json"):
        assert response.json()["error"] == code
    else:
        assert response.headers.get("content-type", "").startswith("text/html"), response.headers
        assert f"Reference: {code}" in body, body[-600:]
    assert "SAMLResponse" not in body
    assert_no_leak(harness, body)
    assert harness.audit("login.issued") == []


def sign_in(harness: Any, sp: Any, biller: str = "city", **payer: Any) -> None:
    """A payer holds a bridge session for ``sp``'s biller: a refused request is then the only thing in the way."""
    if biller not in harness.api_keys:
        harness.add_biller(biller, sp.entity_id)
    launched = harness.launch(biller, **{**PAYER, **payer})
    assert launched.status_code == 303, launched.text


# --- POST binding ------------------------------------------------------------------------------------------

def signed_post_xml(sp: Any) -> bytes:
    """A real signed AuthnRequest from python3-saml (the SP must have sign_requests=True)."""
    fields, _ = sp.start_post()
    return base64.b64decode(fields["SAMLRequest"])


def post_fields(xml: bytes, relay_state: str | None = None) -> dict[str, str]:
    fields = {"SAMLRequest": base64.b64encode(xml).decode()}
    if relay_state is not None:
        fields["RelayState"] = relay_state
    return fields


def parse(xml: bytes) -> etree._Element:
    return etree.fromstring(xml)


def dump(root: etree._Element) -> bytes:
    return etree.tostring(root)


def signature_of(root: etree._Element) -> etree._Element:
    return root.find(f"{DS}Signature")


def ensure_extensions(root: etree._Element) -> etree._Element:
    """samlp:Extensions in schema order: right after Issuer (and the Signature, if any)."""
    existing = root.find(f"{SAMLP}Extensions")
    if existing is not None:
        return existing
    extensions = etree.Element(f"{SAMLP}Extensions")
    anchor = root.find(f"{DS}Signature")
    if anchor is None:
        anchor = root.find(f"{SAML}Issuer")
    anchor.addnext(extensions)
    return extensions


def hide(root: etree._Element, element: etree._Element) -> None:
    """Tuck ``element`` into samlp:Extensions inside a foreign-namespace wrapper (the schema allows ##other there)."""
    wrapper = etree.SubElement(ensure_extensions(root), "{urn:example:evil}Wrapper")
    wrapper.append(element)


def evil_copy(original: etree._Element, *, new_id: str, acs_url: str | None = None) -> etree._Element:
    """The attacker's root: the legitimate request, its signature removed, a fresh ID (and maybe another ACS)."""
    evil = copy.deepcopy(original)
    signature = signature_of(evil)
    if signature is not None:
        evil.remove(signature)
    evil.set("ID", new_id)
    if acs_url is not None:
        evil.set("AssertionConsumerServiceURL", acs_url)
    return evil


def sign_xml(xml: bytes, key_pem: str, cert_pem: str, *, sign_alg: str = RSA_SHA256, digest_alg: str = SHA256) -> bytes:
    """Sign the root with any key (python3-saml add_sign puts the cert in KeyInfo)."""
    signed = OneLogin_Saml2_Utils.add_sign(xml, key_pem, cert_pem, sign_algorithm=sign_alg, digest_algorithm=digest_alg)
    return signed if isinstance(signed, bytes) else signed.encode()


# --- Redirect binding --------------------------------------------------------------------------------------

def deflate(xml: bytes) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    return compressor.compress(xml) + compressor.flush()


def redirect_query(xml: bytes, relay_state: str | None = None) -> str:
    params = {"SAMLRequest": base64.b64encode(deflate(xml)).decode()}
    if relay_state is not None:
        params["RelayState"] = relay_state
    return urlencode(params, quote_via=quote)


def signed_redirect_query(
    xml: bytes, key_pem: str, *, sig_alg: str | None = RSA_SHA256, relay_state: str | None = None,
    hash_alg: hashes.HashAlgorithm | None = None, send_sig_alg: bool = True,
) -> str:
    """SAML Bindings 3.4.4.1: sign ``SAMLRequest=..&RelayState=..&SigAlg=..`` as sent."""
    parts = [("SAMLRequest", base64.b64encode(deflate(xml)).decode())]
    if relay_state is not None:
        parts.append(("RelayState", relay_state))
    if sig_alg is not None:
        parts.append(("SigAlg", sig_alg))
    signed = "&".join(f"{name}={quote(value, safe='')}" for name, value in parts)
    key = serialization.load_pem_private_key(key_pem.encode(), None)
    algorithm = hash_alg or (hashes.SHA1() if sig_alg == RSA_SHA1 else hashes.SHA256())
    signature = key.sign(signed.encode(), padding.PKCS1v15(), algorithm)  # type: ignore[union-attr]
    query = signed if send_sig_alg else "&".join(
        f"{name}={quote(value, safe='')}" for name, value in parts if name != "SigAlg"
    )
    return f"{query}&Signature={quote(base64.b64encode(signature).decode(), safe='')}"
