"""Our IdP metadata (SAML Metadata 2.0 §2.4.3 IDPSSODescriptor), built from the published keys.

One KeyDescriptor per published certificate, the signing one first (some SPs
read only the first), each named by its kid. The entity's ``md:Extensions``
list the digest and signature algorithms the bridge accepts, most preferred
first (SAML V2.0 Metadata Profile for Algorithm Support 1.0 §2.2-2.3): SPs
that read them (Shibboleth SP) sign their requests with RSA-SHA256 instead of
their RSA-SHA1 default. Built once per key change by the caller, never per
request.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from lxml import etree

from bridge.identity import CLAIMS
from bridge.keys.material import Certificate, SigningKey
from bridge.saml.assertions import ATTRNAME_BASIC, SUPPORTED_NAMEID_FORMATS, instant
from bridge.saml.bindings import POST, REDIRECT
from bridge.saml.signing import accepted_digest_methods, accepted_signature_methods, sign
from bridge.saml.xml import ALG, NS

PROTOCOL = "urn:oasis:names:tc:SAML:2.0:protocol"
_MD = "{%s}" % NS["md"]
_DS = "{%s}" % NS["ds"]
_A = "{%s}" % NS["saml"]
_ALG = "{%s}" % ALG


@dataclass(frozen=True, slots=True)
class IdpEndpoints:
    entity_id: str
    sso_url: str
    slo_url: str | None = None


def _algorithm_support(root: etree._Element, *, allow_sha1: bool) -> None:
    extensions = etree.SubElement(root, f"{_MD}Extensions")
    for algorithm in accepted_digest_methods(allow_sha1=allow_sha1):
        etree.SubElement(extensions, f"{_ALG}DigestMethod", Algorithm=algorithm)
    for algorithm in accepted_signature_methods(allow_sha1=allow_sha1):
        etree.SubElement(extensions, f"{_ALG}SigningMethod", Algorithm=algorithm)


def _key_descriptor(parent: etree._Element, certificate: Certificate) -> None:
    descriptor = etree.SubElement(parent, f"{_MD}KeyDescriptor", use="signing")
    info = etree.SubElement(descriptor, f"{_DS}KeyInfo", nsmap={"ds": NS["ds"]})
    etree.SubElement(info, f"{_DS}KeyName").text = certificate.kid
    data = etree.SubElement(info, f"{_DS}X509Data")
    etree.SubElement(data, f"{_DS}X509Certificate").text = certificate.der_base64


def build_idp_metadata(
    endpoints: IdpEndpoints,
    certificates: Sequence[Certificate],
    *,
    now: datetime,
    valid_for: int,
    cache_duration: int,
    organization: str,
    claim_names: Sequence[str] = CLAIMS,
    sign_with: SigningKey | None = None,
    want_authn_requests_signed: bool = False,
    allow_sha1: bool = False,
) -> bytes:
    """``certificates`` in publication order: the active (signing) one first."""
    root = etree.Element(f"{_MD}EntityDescriptor", nsmap={"md": NS["md"], "saml": NS["saml"], "alg": ALG})
    root.set("entityID", endpoints.entity_id)
    root.set("ID", "_meta" + certificates[0].kid if certificates else "_meta")
    root.set("validUntil", instant(now + timedelta(seconds=valid_for)))
    root.set("cacheDuration", f"PT{cache_duration}S")
    _algorithm_support(root, allow_sha1=allow_sha1)  # schema order: (Signature), Extensions, role descriptors
    idp = etree.SubElement(root, f"{_MD}IDPSSODescriptor", protocolSupportEnumeration=PROTOCOL)
    idp.set("WantAuthnRequestsSigned", "true" if want_authn_requests_signed else "false")
    for certificate in certificates:
        _key_descriptor(idp, certificate)
    if endpoints.slo_url:
        for binding in (REDIRECT, POST):
            etree.SubElement(idp, f"{_MD}SingleLogoutService", Binding=binding, Location=endpoints.slo_url)
    for name_format in SUPPORTED_NAMEID_FORMATS:
        etree.SubElement(idp, f"{_MD}NameIDFormat").text = name_format
    for binding in (REDIRECT, POST):
        etree.SubElement(idp, f"{_MD}SingleSignOnService", Binding=binding, Location=endpoints.sso_url)
    for claim in claim_names:
        etree.SubElement(idp, f"{_A}Attribute", Name=claim, NameFormat=ATTRNAME_BASIC)
    organization_el = etree.SubElement(root, f"{_MD}Organization")
    for tag, _text in (("OrganizationName", organization), ("OrganizationDisplayName", organization)):
        node = etree.SubElement(organization_el, f"{_MD}{tag}")
        node.set("{http://www.w3.org/XML/1998/namespace}lang", "en")
        node.text = organization
    url = etree.SubElement(organization_el, f"{_MD}OrganizationURL")
    url.set("{http://www.w3.org/XML/1998/namespace}lang", "en")
    url.text = endpoints.entity_id
    if sign_with is not None:
        sign(root, sign_with, after=None)
    return etree.tostring(root, encoding="UTF-8", xml_declaration=True)
