"""The registry of trusted service providers, and the rules for choosing where a Response may go.

Trust comes only from metadata: files in the instance's ``metadata/`` folder
(and, through bridge.trust.metadata_sources, URLs). The registry's mapping is
replaced whole, never edited in place, so a request in flight sees either the
old set or the new one.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import MappingProxyType

from bridge.clock import Clock, utcnow
from bridge.config import Settings
from bridge.errors import ConfigError, SamlError, UnknownServiceProvider
from bridge.saml.bindings import POST
from bridge.saml.sp_metadata import Endpoint, ServiceProvider, parse_sp_metadata

log = logging.getLogger(__name__)
METADATA_SUFFIXES = (".xml",)


class ServiceProviderRegistry:
    """The trusted SPs by entity ID. An SP whose metadata passed its validUntil is not trusted any more,
    from that moment (not only at the next refresh)."""

    def __init__(self, providers: Iterable[ServiceProvider] = (), *, clock: Clock = utcnow) -> None:
        self._providers: Mapping[str, ServiceProvider] = MappingProxyType({})
        self._clock = clock
        self.replace(providers)

    def replace(self, providers: Iterable[ServiceProvider]) -> None:
        mapping: dict[str, ServiceProvider] = {}
        for sp in providers:
            if sp.entity_id in mapping:
                raise ConfigError(
                    f"service provider {sp.entity_id} is described twice ({mapping[sp.entity_id].source}, {sp.source})"
                )
            mapping[sp.entity_id] = sp
        self._providers = MappingProxyType(mapping)

    def get(self, entity_id: str | None) -> ServiceProvider:
        sp = self._providers.get(entity_id or "")
        if sp is None:
            raise UnknownServiceProvider("the request comes from a service provider this bridge does not trust")
        if sp.valid_until is not None and sp.valid_until <= self._clock():
            raise UnknownServiceProvider(
                f"the metadata of service provider {sp.entity_id} expired at {sp.valid_until.isoformat()}; "
                "its operator must publish fresh metadata before the bridge trusts it again"
            )
        return sp

    def find(self, entity_id: str) -> ServiceProvider | None:
        return self._providers.get(entity_id)

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._providers.values())

    def __len__(self) -> int:
        return len(self._providers)


def load_folder(folder: Path, *, allow_http_for: frozenset[str] = frozenset()) -> list[ServiceProvider]:
    """Every SP described by the ``*.xml`` files in ``folder`` (a missing folder holds none)."""
    if not folder.is_dir():
        return []
    providers: list[ServiceProvider] = []
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() not in METADATA_SUFFIXES or not path.is_file():
            continue
        for sp in parse_sp_metadata(path.read_bytes(), source=str(path), allow_http_for=allow_http_for):
            for warning in sp.warnings:
                log.warning(warning)
            providers.append(sp)
    return providers


def http_acs_allowed(settings: Settings) -> frozenset[str]:
    return frozenset(entity_id for entity_id, sp in settings.sp.items() if sp.allow_http_acs)


def load_registry(settings: Settings) -> ServiceProviderRegistry:
    """Every configured source: ``metadata/``, other files and folders, URL sources from their cached copies
    (no network: bridge.trust.metadata_sources fetches in the background job or on ``icbridge sp refresh``)."""
    from bridge.trust.metadata_sources import MetadataSources  # builds on this module

    return MetadataSources(settings).load()


def choose_acs(
    sp: ServiceProvider, *, url: str | None, index: int | None, binding: str | None
) -> Endpoint:
    """The ACS a Response goes to (SAML Core 3.4.1): only ever one listed in the SP's metadata.

    The requested URL must match a listed location exactly, byte for byte:
    no case folding, no trailing-slash or port normalisation (lookalikes are
    how ACS checks get bypassed).
    """
    if url is not None and index is not None:
        raise SamlError("the request names both AssertionConsumerServiceURL and AssertionConsumerServiceIndex")
    if binding is not None and binding != POST:
        raise SamlError("only the HTTP-POST binding is supported for Responses")
    if url is not None:
        for endpoint in sp.acs:
            if endpoint.binding == POST and endpoint.location == url:
                return endpoint
        raise SamlError("the requested AssertionConsumerServiceURL is not in the service provider's metadata")
    if index is not None:
        for endpoint in sp.acs:
            if endpoint.index == index and endpoint.binding == POST:
                return endpoint
        raise SamlError("the requested AssertionConsumerServiceIndex is not in the service provider's metadata")
    return sp.default_acs()
