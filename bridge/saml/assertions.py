"""Building and signing Responses and Assertions (SAML Core 2.3.3, 3.3.3; Profiles 4.1.4.2).

The XML is built with lxml and signed with python-xmlsec (bridge.saml.signing)
using a key parsed once. The Assertion is signed always; the Response too
when asked. The output is serialised exactly once, after signing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import xmlsec
from lxml import etree

from bridge.keys.material import Certificate, SigningKey
from bridge.saml.signing import sign
from bridge.saml.xml import NS

STATUS_SUCCESS = "urn:oasis:names:tc:SAML:2.0:status:Success"
STATUS_RESPONDER = "urn:oasis:names:tc:SAML:2.0:status:Responder"
STATUS_REQUESTER = "urn:oasis:names:tc:SAML:2.0:status:Requester"
STATUS_NO_PASSIVE = "urn:oasis:names:tc:SAML:2.0:status:NoPassive"
STATUS_INVALID_NAMEID_POLICY = "urn:oasis:names:tc:SAML:2.0:status:InvalidNameIDPolicy"
BEARER = "urn:oasis:names:tc:SAML:2.0:cm:bearer"
ATTRNAME_BASIC = "urn:oasis:names:tc:SAML:2.0:attrname-format:basic"
AUTHN_CONTEXT_PPT = "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"
NAMEID_EMAIL = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"
NAMEID_UNSPECIFIED = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"
NAMEID_PERSISTENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"
NAMEID_TRANSIENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient"
SUPPORTED_NAMEID_FORMATS = (NAMEID_EMAIL, NAMEID_UNSPECIFIED)

_P = "{%s}" % NS["samlp"]
_A = "{%s}" % NS["saml"]
_XSI_TYPE = "{%s}type" % NS["xsi"]


def instant(value: datetime) -> str:
    """xs:dateTime in UTC with a Z and no fractional seconds (SAML Core 1.3.3)."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True, slots=True)
class Subject:
    name_id: str
    name_id_format: str
    attributes: Mapping[str, str]  # final attribute name → value


@dataclass(frozen=True, slots=True)
class ResponseSpec:
    """Everything one Response says. IDs and times are passed in: the builder draws nothing itself."""

    issuer: str
    audience: str
    destination: str  # the ACS location
    in_response_to: str | None
    response_id: str
    assertion_id: str
    session_index: str
    now: datetime
    authn_instant: datetime
    lifetime: int
    skew: int


def _issuer(parent: etree._Element, value: str) -> etree._Element:
    issuer = etree.SubElement(parent, f"{_A}Issuer")
    issuer.text = value
    return issuer


def _response_root(spec: ResponseSpec) -> tuple[etree._Element, etree._Element]:
    root = etree.Element(f"{_P}Response", nsmap={"samlp": NS["samlp"], "saml": NS["saml"]})
    root.set("ID", spec.response_id)
    root.set("Version", "2.0")
    root.set("IssueInstant", instant(spec.now))
    root.set("Destination", spec.destination)
    if spec.in_response_to:
        root.set("InResponseTo", spec.in_response_to)
    return root, _issuer(root, spec.issuer)


def _status(root: etree._Element, code: str, second: str | None = None, message: str | None = None) -> None:
    status = etree.SubElement(root, f"{_P}Status")
    top = etree.SubElement(status, f"{_P}StatusCode", Value=code)
    if second:
        etree.SubElement(top, f"{_P}StatusCode", Value=second)
    if message:
        etree.SubElement(status, f"{_P}StatusMessage").text = message


def _assertion(spec: ResponseSpec, subject: Subject) -> tuple[etree._Element, etree._Element]:
    not_after = instant(spec.now + timedelta(seconds=spec.lifetime))
    assertion = etree.Element(f"{_A}Assertion", nsmap={"saml": NS["saml"]})
    assertion.set("ID", spec.assertion_id)
    assertion.set("Version", "2.0")
    assertion.set("IssueInstant", instant(spec.now))
    issuer = _issuer(assertion, spec.issuer)

    subj = etree.SubElement(assertion, f"{_A}Subject")
    name_id = etree.SubElement(subj, f"{_A}NameID", Format=subject.name_id_format)
    name_id.text = subject.name_id
    confirmation = etree.SubElement(subj, f"{_A}SubjectConfirmation", Method=BEARER)
    data = etree.SubElement(confirmation, f"{_A}SubjectConfirmationData")
    data.set("NotOnOrAfter", not_after)
    data.set("Recipient", spec.destination)
    if spec.in_response_to:
        data.set("InResponseTo", spec.in_response_to)

    conditions = etree.SubElement(assertion, f"{_A}Conditions")
    conditions.set("NotBefore", instant(spec.now - timedelta(seconds=spec.skew)))
    conditions.set("NotOnOrAfter", not_after)
    restriction = etree.SubElement(conditions, f"{_A}AudienceRestriction")
    etree.SubElement(restriction, f"{_A}Audience").text = spec.audience

    authn = etree.SubElement(assertion, f"{_A}AuthnStatement")
    authn.set("AuthnInstant", instant(spec.authn_instant))
    authn.set("SessionIndex", spec.session_index)
    context = etree.SubElement(authn, f"{_A}AuthnContext")
    etree.SubElement(context, f"{_A}AuthnContextClassRef").text = AUTHN_CONTEXT_PPT

    statement = etree.SubElement(assertion, f"{_A}AttributeStatement")
    for name, value in subject.attributes.items():
        attribute = etree.SubElement(statement, f"{_A}Attribute", Name=name, NameFormat=ATTRNAME_BASIC)
        # xmlns:xs on the value itself: exclusive c14n does not see prefixes used only inside values.
        node = etree.SubElement(
            attribute, f"{_A}AttributeValue", nsmap={"xs": NS["xs"], "xsi": NS["xsi"]}
        )
        node.set(_XSI_TYPE, "xs:string")
        node.text = value
    return assertion, issuer


def build_response(
    spec: ResponseSpec,
    subject: Subject,
    key: SigningKey,
    *,
    sign_response: bool,
    encrypt_for: Certificate | None = None,
) -> bytes:
    """A successful Response carrying one signed Assertion; returns the serialised XML."""
    root, response_issuer = _response_root(spec)
    _status(root, STATUS_SUCCESS)
    assertion, assertion_issuer = _assertion(spec, subject)
    root.append(assertion)
    sign(assertion, key, after=assertion_issuer)
    if encrypt_for is not None:
        encrypt_assertion(root, assertion, encrypt_for)
    if sign_response:
        sign(root, key, after=response_issuer)
    return etree.tostring(root, encoding="UTF-8", xml_declaration=True)


def build_error_response(
    spec: ResponseSpec, key: SigningKey, *, code: str, second: str | None, message: str | None
) -> bytes:
    """A signed Response with a non-success Status and no Assertion (e.g. NoPassive)."""
    root, issuer = _response_root(spec)
    _status(root, code, second, message)
    sign(root, key, after=issuer)
    return etree.tostring(root, encoding="UTF-8", xml_declaration=True)


def encrypt_assertion(root: etree._Element, assertion: etree._Element, certificate: Certificate) -> None:
    """Replace the signed Assertion by an EncryptedAssertion (SAML Core 2.3.4).

    AES-256-GCM content, RSA-OAEP key transport; never rsa-1_5 (Bleichenbacher).
    """
    encrypted = etree.Element(f"{_A}EncryptedAssertion")
    assertion.addprevious(encrypted)
    template = xmlsec.template.encrypted_data_create(
        root, xmlsec.Transform.AES256_GCM, type=xmlsec.EncryptionType.ELEMENT, ns="xenc"
    )
    xmlsec.template.encrypted_data_ensure_cipher_value(template)
    key_info = xmlsec.template.encrypted_data_ensure_key_info(template, ns="ds")
    enc_key = xmlsec.template.add_encrypted_key(key_info, xmlsec.Transform.RSA_OAEP)
    xmlsec.template.encrypted_data_ensure_cipher_value(enc_key)
    manager = xmlsec.KeysManager()
    manager.add_key(xmlsec.Key.from_memory(certificate.pem.encode(), xmlsec.KeyFormat.CERT_PEM))
    ctx = xmlsec.EncryptionContext(manager)
    ctx.key = xmlsec.Key.generate(xmlsec.KeyData.AES, 256, xmlsec.KeyDataType.SESSION)
    data = ctx.encrypt_xml(template, assertion)
    encrypted.append(data)
