"""Reading service-provider metadata (SAML Metadata 2.0 §2.4.4 SPSSODescriptor) into plain records.

Only what the IdP acts on is kept: entity ID, AssertionConsumerService and
SingleLogoutService endpoints, signing and encryption certificates,
AuthnRequestsSigned, WantAssertionsSigned and NameID formats. An ACS
location must be https (plain http only for loopback): a location from
metadata ends up in an auto-POST form (crewjam/saml CVE-2023-45683).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from lxml import etree

from bridge.errors import ConfigError, SamlError
from bridge.keys.material import Certificate
from bridge.saml.bindings import POST, REDIRECT
from bridge.saml.xml import DS, MD, METADATA_XSD, parse_untrusted, parse_xs_datetime, text_of, validate
from bridge.urls import http_url, https_or_loopback

KEY_USE_SIGNING = "signing"
KEY_USE_ENCRYPTION = "encryption"


@dataclass(frozen=True, slots=True)
class Endpoint:
    binding: str
    location: str
    index: int | None = None
    is_default: bool | None = None
    response_location: str | None = None


@dataclass(frozen=True, slots=True)
class ServiceProvider:
    entity_id: str
    acs: tuple[Endpoint, ...]
    slo: tuple[Endpoint, ...] = ()
    signing_certs: tuple[Certificate, ...] = ()
    encryption_certs: tuple[Certificate, ...] = ()
    authn_requests_signed: bool = False
    want_assertions_signed: bool = True
    nameid_formats: tuple[str, ...] = ()
    valid_until: datetime | None = None
    source: str = ""
    warnings: tuple[str, ...] = field(default=())

    def default_acs(self) -> Endpoint:
        """SAML Metadata 2.2.3: isDefault="true", else the first not marked false, else the first."""
        posts = [e for e in self.acs if e.binding == POST]
        for endpoint in posts:
            if endpoint.is_default:
                return endpoint
        for endpoint in posts:
            if endpoint.is_default is None:
                return endpoint
        return posts[0]


def _bool(value: str | None, default: bool) -> bool:
    if value is None:
        return default
    return value.strip() in {"true", "1"}


def _certificates(descriptor: etree._Element, use: str) -> tuple[Certificate, ...]:
    certs = []
    for key_descriptor in descriptor.iterfind(f"{MD}KeyDescriptor"):
        if key_descriptor.get("use") not in (None, use):
            continue
        for node in key_descriptor.iterfind(f"{DS}KeyInfo/{DS}X509Data/{DS}X509Certificate"):
            try:
                certs.append(Certificate.from_base64_der(text_of(node) or ""))
            except ValueError:
                raise SamlError("an X509Certificate in the metadata is not a valid certificate") from None
    return tuple(certs)


def _endpoints(descriptor: etree._Element, tag: str) -> list[Endpoint]:
    endpoints = []
    for node in descriptor.iterfind(f"{MD}{tag}"):
        index = node.get("index")
        endpoints.append(
            Endpoint(
                binding=node.get("Binding", ""),
                location=node.get("Location", ""),
                index=int(index) if index is not None else None,
                is_default=None if node.get("isDefault") is None else _bool(node.get("isDefault"), False),
                response_location=node.get("ResponseLocation"),
            )
        )
    return endpoints


def parse_valid_until(value: str | None) -> datetime | None:
    """A metadata validUntil (SAML Metadata 2.2.1), or None when absent."""
    return parse_xs_datetime(value, what="validUntil", naive_is_utc=True) if value else None


def _why_no_acs(entity_id: str, refused: list[str], allow_http: bool) -> str:
    if not refused:
        return f"it lists none with Binding {POST}"
    hint = "" if allow_http else (f'; for a development SP set allow_http_acs = true under [sp."{entity_id}"] '
                                  "in bridge.toml")
    return "; ".join(refused) + hint


def _service_provider(entity: etree._Element, *, source: str, allow_http: bool) -> ServiceProvider | None:
    descriptor = entity.find(f"{MD}SPSSODescriptor")
    if descriptor is None:
        return None
    entity_id = entity.get("entityID", "")
    warnings: list[str] = []
    acs = []
    refused: list[str] = []  # why each HTTP-POST ACS was unusable, for the error below
    for endpoint in _endpoints(descriptor, "AssertionConsumerService"):
        try:
            if not allow_http:
                https_or_loopback(endpoint.location)
            else:
                # allow_http_acs relaxes https to http only: javascript: or data: would run in our POST page.
                http_url(endpoint.location)
            acs.append(endpoint)
        except ValueError as exc:
            warnings.append(f"{entity_id}: AssertionConsumerService ignored: {exc}")
            if endpoint.binding == POST:
                refused.append(str(exc))
    if not any(e.binding == POST for e in acs):
        raise SamlError(f"{entity_id}: no usable HTTP-POST AssertionConsumerService in its metadata: "
                        + _why_no_acs(entity_id, refused, allow_http))
    slo = [e for e in _endpoints(descriptor, "SingleLogoutService") if e.binding in (POST, REDIRECT)]
    return ServiceProvider(
        entity_id=entity_id,
        acs=tuple(acs),
        slo=tuple(slo),
        signing_certs=_certificates(descriptor, KEY_USE_SIGNING),
        encryption_certs=_certificates(descriptor, KEY_USE_ENCRYPTION),
        authn_requests_signed=_bool(descriptor.get("AuthnRequestsSigned"), False),
        want_assertions_signed=_bool(descriptor.get("WantAssertionsSigned"), True),
        nameid_formats=tuple(filter(None, (text_of(n) for n in descriptor.iterfind(f"{MD}NameIDFormat")))),
        valid_until=parse_valid_until(entity.get("validUntil")),
        source=source,
        warnings=tuple(warnings),
    )


def parse_sp_metadata(
    data: bytes, *, source: str, allow_http_for: frozenset[str] = frozenset()
) -> list[ServiceProvider]:
    """Every SP in an EntityDescriptor or EntitiesDescriptor document (schema-checked)."""
    try:
        root = parse_untrusted(data, what=f"metadata {source}")
        validate(root, METADATA_XSD, what=f"metadata {source}")
    except SamlError as exc:
        raise ConfigError(exc.detail) from None
    if root.tag == f"{MD}EntityDescriptor":
        entities = [root]
    elif root.tag == f"{MD}EntitiesDescriptor":
        entities = list(root.iter(f"{MD}EntityDescriptor"))
    else:
        raise ConfigError(f"metadata {source}: root is not an EntityDescriptor or EntitiesDescriptor")
    found = []
    for entity in entities:
        try:
            sp = _service_provider(
                entity, source=source, allow_http=entity.get("entityID", "") in allow_http_for
            )
        except SamlError as exc:
            raise ConfigError(f"metadata {source}: {exc.detail}") from None
        if sp is not None:
            found.append(sp)
    return found
