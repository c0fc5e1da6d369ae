"""Single Logout (SAML Core 3.7, Profiles 4.4): parsing an SP's LogoutRequest, building our LogoutResponse."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from lxml import etree

from bridge.errors import SamlError
from bridge.keys import SigningKey
from bridge.saml.assertions import STATUS_SUCCESS, instant
from bridge.saml.authn_request import parse_instant
from bridge.saml.signing import sign
from bridge.saml.xml import NS, PROTOCOL_XSD, SAML, SAMLP, parse_untrusted, text_of, validate


@dataclass(frozen=True, slots=True)
class LogoutRequest:
    id: str
    issuer: str
    issue_instant: datetime
    destination: str | None
    name_id: str | None
    session_indexes: tuple[str, ...]
    signed: bool


def parse_logout_request(data: bytes) -> tuple[etree._Element, LogoutRequest]:
    root = parse_untrusted(data, what="SAML logout request")
    if root.tag != f"{SAMLP}LogoutRequest":
        raise SamlError("expected a samlp:LogoutRequest")
    validate(root, PROTOCOL_XSD, what="LogoutRequest")
    if root.get("Version") != "2.0":
        raise SamlError("only SAML 2.0 requests are accepted (Version must be 2.0)")
    issuer = text_of(root.find(f"{SAML}Issuer"))
    if not issuer:
        raise SamlError("the LogoutRequest has no Issuer")
    return root, LogoutRequest(
        id=root.get("ID", ""),
        issuer=issuer,
        issue_instant=parse_instant(root.get("IssueInstant", "")),
        destination=root.get("Destination"),
        name_id=text_of(root.find(f"{SAML}NameID")),
        session_indexes=tuple(filter(None, (text_of(n) for n in root.iterfind(f"{SAMLP}SessionIndex")))),
        signed=root.find("{http://www.w3.org/2000/09/xmldsig#}Signature") is not None,
    )


def build_logout_response(
    *, issuer: str, destination: str, in_response_to: str, response_id: str, now: datetime, key: SigningKey | None
) -> bytes:
    """A LogoutResponse with Success; signed enveloped when ``key`` is given (HTTP-POST binding)."""
    root = etree.Element(f"{SAMLP}LogoutResponse", nsmap={"samlp": NS["samlp"], "saml": NS["saml"]})
    root.set("ID", response_id)
    root.set("Version", "2.0")
    root.set("IssueInstant", instant(now))
    root.set("Destination", destination)
    root.set("InResponseTo", in_response_to)
    issuer_el = etree.SubElement(root, f"{SAML}Issuer")
    issuer_el.text = issuer
    status = etree.SubElement(root, f"{SAMLP}Status")
    etree.SubElement(status, f"{SAMLP}StatusCode", Value=STATUS_SUCCESS)
    if key is not None:
        sign(root, key, after=issuer_el)
    return etree.tostring(root, encoding="UTF-8", xml_declaration=True)
