"""Hardened XML in and SAML schemas: the only place untrusted XML is parsed.

Parsing goes through python3-saml's hardened parser (no DTDs, no entity
expansion, no network, no huge trees). Schemas are the XSDs python3-saml
ships, compiled once per process: its own ``validate_xml`` recompiles the
schema on every call, which costs more than the rest of a login.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from pathlib import Path

import onelogin.saml2
from lxml import etree
from onelogin.saml2.xmlparser import fromstring

from bridge.errors import SamlError

NS = {
    "samlp": "urn:oasis:names:tc:SAML:2.0:protocol",
    "saml": "urn:oasis:names:tc:SAML:2.0:assertion",
    "md": "urn:oasis:names:tc:SAML:2.0:metadata",
    "ds": "http://www.w3.org/2000/09/xmldsig#",
    "xenc": "http://www.w3.org/2001/04/xmlenc#",
    "xs": "http://www.w3.org/2001/XMLSchema",
    "xsi": "http://www.w3.org/2001/XMLSchema-instance",
}
ALG = "urn:oasis:names:tc:SAML:metadata:algsupport"  # SAML V2.0 Metadata Profile for Algorithm Support
SAMLP = "{%s}" % NS["samlp"]
SAML = "{%s}" % NS["saml"]
MD = "{%s}" % NS["md"]
DS = "{%s}" % NS["ds"]

SCHEMA_DIR = Path(onelogin.saml2.__file__).parent / "schemas"
PROTOCOL_XSD = "saml-schema-protocol-2.0.xsd"
METADATA_XSD = "saml-schema-metadata-2.0.xsd"
ASSERTION_XSD = "saml-schema-assertion-2.0.xsd"
# The metadata schema takes md:Extensions content laxly; this one checks the alg:* elements themselves.
ALGSUPPORT_XSD = "sstc-saml-metadata-algsupport-v1.0.xsd"


def parse_untrusted(data: bytes, *, what: str = "XML message") -> etree._Element:
    """Parse bytes from outside with DTDs, entities, XInclude and network all refused."""
    upper = data.upper()
    if b"<!DOCTYPE" in upper or b"<!ENTITY" in upper:
        raise SamlError(f"the {what} carries a DTD or entity declaration, which SAML never needs")
    try:
        root = fromstring(data, forbid_dtd=True, forbid_entities=True)
    except Exception as exc:  # lxml/defusedxml raise a variety of classes for hostile input
        # Where, not what: the parser's own message may quote the sender's bytes.
        raise SamlError(f"the {what} is not well-formed XML{_where(exc)}") from None
    if not isinstance(root, etree._Element) or not isinstance(root.tag, str):
        raise SamlError(f"the {what} has no root element")
    return root


def _where(exc: Exception) -> str:
    position = getattr(exc, "position", None)  # lxml's XMLSyntaxError: (line, column)
    if isinstance(position, tuple) and len(position) == 2 and all(isinstance(n, int) for n in position):
        return f" (line {position[0]}, column {position[1]})"
    return ""


@cache
def _schema(name: str) -> etree.XMLSchema:
    # The XSDs import each other by relative file name; no network is involved.
    parser = etree.XMLParser(no_network=True, resolve_entities=False)
    return etree.XMLSchema(etree.parse(str(SCHEMA_DIR / name), parser))


def validate(root: etree._Element, schema: str, *, what: str) -> None:
    """Raise SamlError naming the first schema violation."""
    xsd = _schema(schema)
    if not xsd.validate(root):
        # lxml-stubs lack filter_from_errors; lxml has it.
        first = xsd.error_log.filter_from_errors()[0] if xsd.error_log else None  # type: ignore[attr-defined]
        reason = f"{first.message} (line {first.line})" if first is not None else "invalid"
        raise SamlError(f"the {what} does not follow the SAML schema: {reason}")


def text_of(element: etree._Element | None) -> str | None:
    """All text below ``element`` joined, comments and PIs skipped.

    Taking ``.text`` alone stops at the first comment: the NameID truncation of
    python-saml CVE-2017-11427. ``string()`` concatenates every text node.
    """
    if element is None:
        return None
    return str(_STRING(element)).strip()


_STRING = etree.XPath("string()")  # compiled once: element.xpath() compiles its expression on every call


def parse_xs_datetime(value: str, *, what: str, naive_is_utc: bool) -> datetime:
    """An xs:dateTime as an aware datetime. SAML's own instants must carry a zone (SAML Core 1.3.3);
    metadata's validUntil may omit it, and is then read as UTC (never compared naive against aware)."""
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise SamlError(f"{what} {value!r} is not an xs:dateTime") from None
    if parsed.tzinfo is None:
        if not naive_is_utc:
            raise SamlError(f"{what} must be in UTC (SAML Core 1.3.3)")
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def is_schema_valid(root: etree._Element, schema: str) -> bool:
    return bool(_schema(schema).validate(root))
