"""Independent SAML implementations we did not write, driven as service providers in the tests.

- ``OneLoginSP``: python3-saml's SP in strict mode (wantAssertionsSigned).
- ``PySaml2SP``: pysaml2's SP (signature checks shell out to xmlsec1).
- ``xmlsec1_verify``: the xmlsec1 command-line verifier.

Each SP generates its own metadata with its own library, so the bridge's
metadata parser is exercised on what real SPs publish. Keys are made fresh
per SP.
"""

from __future__ import annotations

import base64
import html
import re
import shutil
import subprocess
import tempfile
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlencode, urlsplit

from cryptography.hazmat.primitives import serialization
from onelogin.saml2.auth import OneLogin_Saml2_Auth
from onelogin.saml2.authn_request import OneLogin_Saml2_Authn_Request
from onelogin.saml2.constants import OneLogin_Saml2_Constants as C
from onelogin.saml2.idp_metadata_parser import OneLogin_Saml2_IdPMetadataParser
from onelogin.saml2.settings import OneLogin_Saml2_Settings
from onelogin.saml2.utils import OneLogin_Saml2_Utils

from bridge.keys.material import generate_rsa_key, private_key_pem, self_signed_certificate

XMLSEC1 = shutil.which("xmlsec1") or "/usr/bin/xmlsec1"
SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"


@dataclass
class KeyPair:
    key_pem: str
    cert_pem: str

    @classmethod
    def fresh(cls, name: str = "test-sp") -> KeyPair:
        key = generate_rsa_key(2048)
        cert = self_signed_certificate(key, common_name=name, now=datetime.now(UTC), validity_days=30)
        return cls(key_pem=private_key_pem(key).decode(), cert_pem=cert.pem)

    @property
    def cert_b64(self) -> str:
        return "".join(line for line in self.cert_pem.splitlines() if "-----" not in line)


@dataclass
class Consumed:
    name_id: str
    name_id_format: str | None
    attributes: dict[str, list[str]]
    relay_state: str | None
    session_index: str | None = None


@dataclass
class PostedForm:
    action: str
    fields: dict[str, str]

    @property
    def saml_response(self) -> str:
        return self.fields["SAMLResponse"]

    @property
    def xml(self) -> bytes:
        return base64.b64decode(self.saml_response)


_INPUT = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')
_ACTION = re.compile(r'<form id="saml" method="post" action="([^"]+)">')


def parse_post_page(page: str) -> PostedForm:
    """The SAMLResponse form the bridge renders (HTTP-POST binding)."""
    action = _ACTION.search(page)
    assert action, f"no SAML POST form in page: {page[:300]}"
    return PostedForm(
        action=html.unescape(action.group(1)),
        fields={name: html.unescape(value) for name, value in _INPUT.findall(page)},
    )


def xmlsec1_verify(xml: bytes, cert_pem: str, *, node: str = "Assertion") -> subprocess.CompletedProcess[str]:
    namespace = {
        "Assertion": "urn:oasis:names:tc:SAML:2.0:assertion:Assertion",
        "Response": "urn:oasis:names:tc:SAML:2.0:protocol:Response",
        "EntityDescriptor": "urn:oasis:names:tc:SAML:2.0:metadata:EntityDescriptor",
    }[node]
    with tempfile.TemporaryDirectory() as tmp:
        doc = Path(tmp, "doc.xml")
        doc.write_bytes(xml)
        cert = Path(tmp, "idp.crt")
        cert.write_text(cert_pem)
        return subprocess.run(
            [XMLSEC1, "--verify", "--enabled-key-data", "raw-x509-cert", "--pubkey-cert-pem", str(cert),
             "--id-attr:ID", namespace, str(doc)],
            capture_output=True, text=True, timeout=30,
        )


class OneLoginSP:
    """python3-saml's SP, strict."""

    def __init__(
        self, entity_id: str = "https://sp-onelogin.test/metadata", acs_url: str = "https://sp-onelogin.test/acs",
        *, sign_requests: bool = False, want_messages_signed: bool = False, keys: KeyPair | None = None,
        slo_url: str | None = None, want_assertions_encrypted: bool = False,
    ) -> None:
        self.slo_url = slo_url
        self.want_assertions_encrypted = want_assertions_encrypted
        self.entity_id = entity_id
        self.acs_url = acs_url
        self.keys = keys or KeyPair.fresh("onelogin-sp")
        self.sign_requests = sign_requests
        self.want_messages_signed = want_messages_signed
        self.idp_metadata: bytes | None = None

    def _settings(self) -> dict[str, Any]:
        settings: dict[str, Any] = {
            "strict": True,
            "debug": False,
            "sp": {
                "entityId": self.entity_id,
                "assertionConsumerService": {"url": self.acs_url, "binding": C.BINDING_HTTP_POST},
                "NameIDFormat": C.NAMEID_EMAIL_ADDRESS,
                "x509cert": self.keys.cert_pem,
                "privateKey": self.keys.key_pem,
            },
            "security": {
                "authnRequestsSigned": self.sign_requests,
                "wantAssertionsSigned": True,
                "wantAssertionsEncrypted": self.want_assertions_encrypted,
                "wantMessagesSigned": self.want_messages_signed,
                "signatureAlgorithm": RSA_SHA256,
                "digestAlgorithm": SHA256,
                "requestedAuthnContext": False,
                "rejectDeprecatedAlgorithm": True,
                "wantNameId": True,
            },
        }
        if self.slo_url:
            settings["sp"]["singleLogoutService"] = {"url": self.slo_url, "binding": C.BINDING_HTTP_REDIRECT}
            settings["security"].update(logoutRequestSigned=self.sign_requests, wantMessagesSigned=True)
        if self.idp_metadata is not None:
            parsed = OneLogin_Saml2_IdPMetadataParser.parse(
                self.idp_metadata.decode(), required_sso_binding=C.BINDING_HTTP_REDIRECT,
                required_slo_binding=C.BINDING_HTTP_REDIRECT,
            )
            settings = OneLogin_Saml2_IdPMetadataParser.merge_settings(settings, parsed)
            # Our metadata says WantAuthnRequestsSigned="false"; the SP signs anyway when told to.
            settings["security"]["authnRequestsSigned"] = self.sign_requests
        else:
            settings["idp"] = {"entityId": "https://placeholder.test", "singleSignOnService": {
                "url": "https://placeholder.test/sso", "binding": C.BINDING_HTTP_REDIRECT}, "x509cert": ""}
        return settings

    def settings(self) -> OneLogin_Saml2_Settings:
        return OneLogin_Saml2_Settings(self._settings(), sp_validation_only=self.idp_metadata is None)

    def metadata(self) -> bytes:
        xml = self.settings().get_sp_metadata()
        return xml if isinstance(xml, bytes) else xml.encode()

    def _request_data(self, get: dict[str, str] | None = None, post: dict[str, str] | None = None) -> dict[str, Any]:
        parts = urlsplit(self.acs_url)
        return {
            "https": "on" if parts.scheme == "https" else "off",
            "http_host": parts.netloc,
            "script_name": parts.path,
            "get_data": get or {},
            "post_data": post or {},
        }

    def start_redirect(self, relay_state: str | None = None) -> tuple[str, str]:
        """(URL the browser follows to the IdP, request ID)."""
        auth = OneLogin_Saml2_Auth(self._request_data(), self._settings())
        url = auth.login(return_to=relay_state)
        return url, auth.get_last_request_id()

    def start_post(self, relay_state: str | None = None) -> tuple[dict[str, str], str]:
        """(form fields to POST to the IdP's SSO URL, request ID)."""
        settings = OneLogin_Saml2_Settings(self._settings())
        request = OneLogin_Saml2_Authn_Request(settings)
        xml = request.get_xml()
        if self.sign_requests:
            xml = OneLogin_Saml2_Utils.add_sign(
                xml, self.keys.key_pem, self.keys.cert_pem, sign_algorithm=RSA_SHA256, digest_algorithm=SHA256
            )
        fields = {"SAMLRequest": base64.b64encode(xml if isinstance(xml, bytes) else xml.encode()).decode()}
        if relay_state is not None:
            fields["RelayState"] = relay_state
        return fields, request.get_id()

    def consume(self, form: PostedForm, request_id: str | None) -> Consumed:
        assert form.action == self.acs_url, f"posted to {form.action}, expected {self.acs_url}"
        auth = OneLogin_Saml2_Auth(self._request_data(post=form.fields), self._settings())
        auth.process_response(request_id=request_id)
        errors = auth.get_errors()
        assert not errors, f"python3-saml refused the Response: {errors}: {auth.get_last_error_reason()}"
        assert auth.is_authenticated()
        return Consumed(
            name_id=auth.get_nameid(), name_id_format=auth.get_nameid_format(), attributes=auth.get_attributes(),
            relay_state=form.fields.get("RelayState"), session_index=auth.get_session_index(),
        )


class PySaml2SP:
    """pysaml2's SP, checking InResponseTo, Recipient and Destination."""

    def __init__(
        self, entity_id: str = "https://sp-pysaml2.test/metadata", acs_url: str = "https://sp-pysaml2.test/acs",
        *, sign_requests: bool = False,
    ) -> None:
        self.entity_id = entity_id
        self.acs_url = acs_url
        self.sign_requests = sign_requests
        self.keys = KeyPair.fresh("pysaml2-sp")
        self._dir = Path(tempfile.mkdtemp(prefix="pysaml2-sp-"))
        (self._dir / "sp.key").write_text(self.keys.key_pem)
        (self._dir / "sp.crt").write_text(self.keys.cert_pem)
        self.idp_metadata: bytes | None = None
        self._client: Any = None

    def _config(self) -> Any:
        from saml2 import BINDING_HTTP_POST
        from saml2.config import SPConfig
        from saml2.saml import NAMEID_FORMAT_EMAILADDRESS

        conf: dict[str, Any] = {
            "entityid": self.entity_id,
            "service": {"sp": {
                "endpoints": {"assertion_consumer_service": [(self.acs_url, BINDING_HTTP_POST)]},
                "want_assertions_signed": True,
                "want_response_signed": False,
                "authn_requests_signed": self.sign_requests,
                "allow_unsolicited": False,
                "name_id_format": NAMEID_FORMAT_EMAILADDRESS,
                "signing_algorithm": RSA_SHA256,
                "digest_algorithm": SHA256,
            }},
            "key_file": str(self._dir / "sp.key"),
            "cert_file": str(self._dir / "sp.crt"),
            "xmlsec_binary": XMLSEC1,
            "allow_unknown_attributes": True,
            "accepted_time_diff": 5,
        }
        if self.idp_metadata is not None:
            path = self._dir / "idp.xml"
            path.write_bytes(self.idp_metadata)
            conf["metadata"] = {"local": [str(path)]}
        config = SPConfig()
        config.load(conf)
        return config

    def metadata(self) -> bytes:
        from saml2.metadata import create_metadata_string

        return create_metadata_string(None, config=self._config(), valid=24)

    def client(self) -> Any:
        from saml2.client import Saml2Client

        if self._client is None:
            self._client = Saml2Client(config=self._config())
        return self._client

    def _idp_entity(self) -> str:
        client = self.client()
        return next(iter(client.metadata.identity_providers()))

    def start_redirect(self, relay_state: str | None = None) -> tuple[str, str]:
        from saml2 import BINDING_HTTP_REDIRECT

        request_id, info = self.client().prepare_for_authenticate(
            entityid=self._idp_entity(), relay_state=relay_state or "", binding=BINDING_HTTP_REDIRECT,
            sigalg=RSA_SHA256 if self.sign_requests else None, digest_alg=SHA256,
        )
        return dict(info["headers"])["Location"], request_id

    def consume(self, form: PostedForm, request_id: str | None) -> Consumed:
        from saml2 import BINDING_HTTP_POST

        assert form.action == self.acs_url
        outstanding = {request_id: "/"} if request_id else {}
        response = self.client().parse_authn_request_response(
            form.saml_response, BINDING_HTTP_POST, outstanding=outstanding,
            conv_info={"entity_id": self.entity_id, "remote_addr": "127.0.0.1", "request_uri": self.acs_url},
        )
        assert response is not None, "pysaml2 returned no response"
        # A Destination mismatch gives ava=None rather than raising (SAML-NOTES).
        assert response.ava is not None, "pysaml2 rejected the Response (ava is None)"
        name_id = response.name_id
        return Consumed(
            name_id=name_id.text, name_id_format=name_id.format, attributes=dict(response.ava),
            relay_state=form.fields.get("RelayState"),
            session_index=response.assertion.authn_statement[0].session_index,
        )


def redirect_query(url: str) -> str:
    return urlsplit(url).query


def deflate_b64(xml: bytes) -> str:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    return base64.b64encode(compressor.compress(xml) + compressor.flush()).decode()


def redirect_url(sso_url: str, xml: bytes, relay_state: str | None = None) -> str:
    params = {"SAMLRequest": deflate_b64(xml)}
    if relay_state is not None:
        params["RelayState"] = relay_state
    return f"{sso_url}?{urlencode(params, quote_via=quote)}"


def authn_request_xml(
    *, issuer: str, acs_url: str | None = None, destination: str | None = None, request_id: str = "_req1",
    issue_instant: datetime | None = None, extra_attrs: str = "", body: str = "",
) -> bytes:
    """A hand-made AuthnRequest for the bad-input tests (the happy paths use the SP libraries)."""
    instant = (issue_instant or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    attrs = f' AssertionConsumerServiceURL="{acs_url}"' if acs_url else ""
    if destination:
        attrs += f' Destination="{destination}"'
    return (
        f'<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" '
        f'xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{request_id}" Version="2.0" '
        f'IssueInstant="{instant}"{attrs}{extra_attrs}><saml:Issuer>{issuer}</saml:Issuer>{body}'
        f"</samlp:AuthnRequest>"
    ).encode()


def query_params(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def future(seconds: int) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


__all__ = ["Consumed", "KeyPair", "OneLoginSP", "PostedForm", "PySaml2SP", "field", "serialization"]
