"""Building and signing Responses and Assertions (SAML Core 2.3.3, 3.3.3; Profiles 4.1.4.2).

The Assertion is written directly in its canonical form and signed with a key
parsed once (bridge.saml.signing). The Assertion is signed always; the Response
too when asked (then through lxml), and the Assertion is encrypted when the SP
asks (python-xmlsec).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import xmlsec
from lxml import etree

from bridge.keys.material import Certificate, SigningKey
from bridge.saml.signing import enveloped_signature, sign
from bridge.saml.xml import NS

STATUS_SUCCESS = "urn:oasis:names:tc:SAML:2.0:status:Success"
STATUS_RESPONDER = "urn:oasis:names:tc:SAML:2.0:status:Responder"
STATUS_REQUESTER = "urn:oasis:names:tc:SAML:2.0:status:Requester"
STATUS_NO_PASSIVE = "urn:oasis:names:tc:SAML:2.0:status:NoPassive"
STATUS_INVALID_NAMEID_POLICY = "urn:oasis:names:tc:SAML:2.0:status:InvalidNameIDPolicy"
# The only StatusMessage texts we ever sign: fixed strings of ours, one per status. Never the requester's
# words (a requested format, an ID, a URL): a signature over attacker-chosen text is a signing oracle,
# the lesson of the ruby-saml and python3-saml parser-differential CVEs.
STATUS_MESSAGES: dict[str, str] = {
    STATUS_NO_PASSIVE: "The user is not signed in and the request does not allow the identity provider to ask.",
    STATUS_INVALID_NAMEID_POLICY: "The requested NameID format is not supported by this identity provider.",
}
BEARER = "urn:oasis:names:tc:SAML:2.0:cm:bearer"
ATTRNAME_BASIC = "urn:oasis:names:tc:SAML:2.0:attrname-format:basic"
AUTHN_CONTEXT_PPT = "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"
NAMEID_EMAIL = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"
NAMEID_UNSPECIFIED = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"
NAMEID_PERSISTENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"
NAMEID_TRANSIENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient"
SUPPORTED_NAMEID_FORMATS = (NAMEID_EMAIL, NAMEID_UNSPECIFIED)

_A = "{%s}" % NS["saml"]


def instant(value: datetime) -> str:
    """xs:dateTime in UTC with a Z and no fractional seconds (SAML Core 1.3.3)."""
    return value.astimezone(UTC).isoformat(timespec="seconds")[:-6] + "Z"  # "+00:00" → "Z"; half strftime's cost


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


# The Response and Assertion are written as text in exclusive-c14n form (W3C xml-exc-c14n, c14n 1.0
# section 2: sorted attributes, namespace declarations only where a prefix is used, no empty-element
# tags, these escapes) rather than built as an lxml tree and canonicalised: the bytes we digest are
# then the bytes we send, and a login skips a tree build, a c14n pass and a serialisation (issue #7).
# lxml cannot do this faster, and the rule is checked in the tests: lxml's own exclusive c14n of what
# we send must give the same bytes, for hostile values too; python3-saml, pysaml2, xmlsec1 and the
# SAML schemas check every Response.
_TEXT = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#xD;"})
_ATTR = str.maketrans({"&": "&amp;", "<": "&lt;", '"': "&quot;", "\t": "&#x9;", "\n": "&#xA;", "\r": "&#xD;"})
_DECLARE = 'xmlns:{prefix}="{uri}"'
_XS = " " + _DECLARE.format(prefix="xs", uri=NS["xs"])
_XSI = " " + _DECLARE.format(prefix="xsi", uri=NS["xsi"])
_SAML = " " + _DECLARE.format(prefix="saml", uri=NS["saml"])
_SAMLP = " " + _DECLARE.format(prefix="samlp", uri=NS["samlp"])


def _t(value: str) -> str:
    return value.translate(_TEXT)


def _a(value: str) -> str:
    return value.translate(_ATTR)


def _assertion_parts(spec: ResponseSpec, subject: Subject) -> tuple[str, str, str]:
    """(start through Issuer, the rest as c14n writes it, the rest as sent): the signature goes between.

    Sent and canonical differ in one place: each AttributeValue also declares ``xs``, which
    ``xsi:type="xs:string"`` needs but exclusive c14n omits (the prefix appears only in a value).
    """
    not_after = instant(spec.now + timedelta(seconds=spec.lifetime))
    in_response_to = f' InResponseTo="{_a(spec.in_response_to)}"' if spec.in_response_to else ""
    head = (
        f'<saml:Assertion{_SAML} ID="{_a(spec.assertion_id)}" IssueInstant="{instant(spec.now)}" Version="2.0">'
        f"<saml:Issuer>{_t(spec.issuer)}</saml:Issuer>"
    )
    subject_part = (
        f'<saml:Subject><saml:NameID Format="{_a(subject.name_id_format)}">{_t(subject.name_id)}</saml:NameID>'
        f'<saml:SubjectConfirmation Method="{BEARER}"><saml:SubjectConfirmationData{in_response_to} '
        f'NotOnOrAfter="{not_after}" Recipient="{_a(spec.destination)}"></saml:SubjectConfirmationData>'
        "</saml:SubjectConfirmation></saml:Subject>"
        f'<saml:Conditions NotBefore="{instant(spec.now - timedelta(seconds=spec.skew))}" '
        f'NotOnOrAfter="{not_after}"><saml:AudienceRestriction><saml:Audience>{_t(spec.audience)}</saml:Audience>'
        "</saml:AudienceRestriction></saml:Conditions>"
        f'<saml:AuthnStatement AuthnInstant="{instant(spec.authn_instant)}" '
        f'SessionIndex="{_a(spec.session_index)}"><saml:AuthnContext>'
        f"<saml:AuthnContextClassRef>{AUTHN_CONTEXT_PPT}</saml:AuthnContextClassRef></saml:AuthnContext>"
        "</saml:AuthnStatement><saml:AttributeStatement>"
    )
    values = [
        (f'<saml:Attribute Name="{_a(name)}" NameFormat="{ATTRNAME_BASIC}"><saml:AttributeValue',
         f' xsi:type="xs:string">{_t(value)}</saml:AttributeValue></saml:Attribute>')
        for name, value in subject.attributes.items()
    ]
    end = "</saml:AttributeStatement></saml:Assertion>"
    canonical = "".join(start + _XSI + rest for start, rest in values)
    sent = "".join(start + _XS + _XSI + rest for start, rest in values)
    return head, subject_part + canonical + end, subject_part + sent + end


def _response(spec: ResponseSpec, status: str, assertion: str = "") -> bytes:
    """The Response document around ``status`` and ``assertion`` (already-written XML)."""
    in_response_to = f' InResponseTo="{_a(spec.in_response_to)}"' if spec.in_response_to else ""
    return (
        "<?xml version='1.0' encoding='UTF-8'?>\n"
        f'<samlp:Response{_SAMLP}{_SAML} Destination="{_a(spec.destination)}" ID="{_a(spec.response_id)}"'
        f'{in_response_to} IssueInstant="{instant(spec.now)}" Version="2.0">'
        f"<saml:Issuer>{_t(spec.issuer)}</saml:Issuer>{status}{assertion}</samlp:Response>"
    ).encode()


def _status(code: str, second: str | None = None, message: str | None = None) -> str:
    inner = f'<samlp:StatusCode Value="{_a(second)}"></samlp:StatusCode>' if second else ""
    text = f"<samlp:StatusMessage>{_t(message)}</samlp:StatusMessage>" if message else ""
    return f'<samlp:Status><samlp:StatusCode Value="{_a(code)}">{inner}</samlp:StatusCode>{text}</samlp:Status>'


def _sign_root(document: bytes, key: SigningKey) -> bytes:
    """Sign the whole Response (the generic lxml path: only SPs that ask for it pay for the parse)."""
    root = etree.fromstring(document)
    sign(root, key, after=root.find(f"{_A}Issuer"))
    return etree.tostring(root, encoding="UTF-8", xml_declaration=True)


def build_response(
    spec: ResponseSpec,
    subject: Subject,
    key: SigningKey,
    *,
    sign_response: bool,
    encrypt_for: Certificate | None = None,
) -> bytes:
    """A successful Response carrying one signed Assertion; returns the serialised XML."""
    head, canonical_rest, sent_rest = _assertion_parts(spec, subject)
    signature = enveloped_signature(spec.assertion_id, (head + canonical_rest).encode(), key)
    document = _response(spec, _status(STATUS_SUCCESS), head + signature + sent_rest)
    if encrypt_for is not None:
        root = etree.fromstring(document)
        assertion = root.find(f"{_A}Assertion")
        if assertion is None:  # built just above: cannot happen, but never encrypt nothing silently
            raise ValueError("the Response has no Assertion to encrypt")
        encrypt_assertion(root, assertion, encrypt_for)
        document = etree.tostring(root, encoding="UTF-8", xml_declaration=True)
    return _sign_root(document, key) if sign_response else document


def build_error_response(spec: ResponseSpec, key: SigningKey, *, code: str, second: str) -> bytes:
    """A signed Response with a non-success Status and no Assertion (e.g. NoPassive).

    Its StatusMessage is ours (:data:`STATUS_MESSAGES`): there is no way to pass text in.
    """
    return _sign_root(_response(spec, _status(code, second, STATUS_MESSAGES[second])), key)


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
