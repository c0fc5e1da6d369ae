"""Single Logout (SAML Core 3.7, Profiles 4.4): parsing an SP's LogoutRequest, building our LogoutResponse."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from lxml import etree

from bridge.keys.material import SigningKey
from bridge.saml.assertions import STATUS_SUCCESS, instant
from bridge.saml.authn_request import is_signed, parse_instant, parse_request
from bridge.saml.signing import sign
from bridge.saml.xml import NS, SAML, SAMLP, text_of


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
    root, issuer = parse_request(data, "LogoutRequest")
    return root, LogoutRequest(
        id=root.get("ID", ""),
        issuer=issuer,
        issue_instant=parse_instant(root.get("IssueInstant", "")),
        destination=root.get("Destination"),
        name_id=text_of(root.find(f"{SAML}NameID")),
        session_indexes=tuple(filter(None, (text_of(n) for n in root.iterfind(f"{SAMLP}SessionIndex")))),
        signed=is_signed(root),
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
