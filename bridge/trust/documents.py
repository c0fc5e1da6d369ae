"""Checking metadata documents and what a source accepts from them (one document, or a folder's files).

A document passes the hardened parser, its pinned signature (bridge.trust.pinning), the metadata
XSD and SP rules (bridge.saml.sp_metadata), and must not have expired (``validUntil``, SAML
Metadata 2.1); its ``cacheDuration`` only ever brings the next refresh forward. A :class:`Copy` is
what one source trusts at one moment.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from bridge.errors import ConfigError, SamlError
from bridge.saml.sp_metadata import ServiceProvider, parse_sp_metadata, parse_valid_until
from bridge.saml.xml import MD, parse_untrusted
from bridge.trust.pinning import Pin, verify_pinned_signature

log = logging.getLogger("bridge.trust.metadata_sources")

_XS_DURATION = re.compile(
    r"^P(?!$)(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)D)?(?:T(?=\d)(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$"
)
_DURATION_UNITS = (365 * 86400, 30 * 86400, 86400, 3600, 60, 1)  # Y and M approximated: only ever shortens


def parse_xs_duration(value: str | None) -> int | None:
    """Seconds in an xs:duration such as ``PT6H`` or ``P1D``; None when absent or not understood."""
    match = _XS_DURATION.match((value or "").strip())
    if not match:
        return None
    return int(sum(float(part or 0) * unit for part, unit in zip(match.groups(), _DURATION_UNITS, strict=True)))


@dataclass(frozen=True, slots=True)
class Copy:
    """One accepted set of metadata for a source: what it trusts and until when."""

    providers: tuple[ServiceProvider, ...]
    fetched_at: datetime
    digest: str
    valid_until: datetime | None = None
    cache_duration: int | None = None

    def at(self, fetched_at: datetime) -> Copy:
        return replace(self, fetched_at=fetched_at)


@dataclass(frozen=True, slots=True)
class Document:
    providers: list[ServiceProvider]
    valid_until: datetime | None
    cache_duration: int | None


def check_document(
    data: bytes, *, label: str, pin: Pin | None, now: datetime, allow_http_for: frozenset[str]
) -> Document:
    """Parse and check one metadata document: hardened parse, pinned signature, schema, validUntil."""
    try:
        root = parse_untrusted(data, what=f"metadata from {label}")
    except SamlError as exc:
        raise ConfigError(exc.detail) from None
    if root.tag not in (f"{MD}EntityDescriptor", f"{MD}EntitiesDescriptor"):
        raise ConfigError("the document is not SAML metadata (no EntityDescriptor or EntitiesDescriptor root)")
    if pin is not None:
        verify_pinned_signature(root, pin)
    providers = parse_sp_metadata(data, source=label, allow_http_for=allow_http_for)
    try:
        valid_until = parse_valid_until(root.get("validUntil"))
    except SamlError as exc:
        raise ConfigError(exc.detail) from None
    if valid_until is not None and valid_until <= now:
        raise ConfigError(f"the metadata expired at {valid_until.isoformat()} (validUntil)")
    return Document(providers, valid_until, parse_xs_duration(root.get("cacheDuration")))


def select_expected(providers: Iterable[ServiceProvider], expected: Sequence[str], *,
                    label: str) -> list[ServiceProvider]:
    """Only the expected entity IDs; every one of them must be present (no expectation: all of them)."""
    providers = list(providers)
    if not expected:
        return providers
    kept = [sp for sp in providers if sp.entity_id in expected]
    for sp in providers:
        if sp.entity_id not in expected:
            log.warning("sp metadata %s: %s is not an expected entity ID of this source; ignored", label, sp.entity_id)
    missing = sorted(set(expected) - {sp.entity_id for sp in kept})
    if missing:
        raise ConfigError(f"expected entity ID(s) missing from the document: {', '.join(missing)}")
    return kept


def accept(documents: Iterable[tuple[str, bytes]], *, pin: Pin | None, expected: Sequence[str], label: str,
           now: datetime, allow_http_for: frozenset[str]) -> Copy:
    """Every document checked, the expected SPs selected, and the earliest validUntil/cacheDuration kept."""
    providers: list[ServiceProvider] = []
    valid: list[datetime] = []
    durations: list[int] = []
    digest = hashlib.sha256()
    for name, data in documents:
        document = check_document(data, label=name, pin=pin, now=now, allow_http_for=allow_http_for)
        providers.extend(document.providers)
        valid += [document.valid_until] if document.valid_until else []
        durations += [document.cache_duration] if document.cache_duration is not None else []
        digest.update(hashlib.sha256(data).digest())
    return _copy(select_expected(providers, expected, label=label), now, digest.hexdigest(), valid, durations)


def merge(copies: Sequence[Copy], *, expected: Sequence[str], label: str, now: datetime) -> Copy:
    """A folder's copy from its files' copies (each file keeps its own last good copy)."""
    digest = hashlib.sha256()
    for copy in copies:
        digest.update(copy.digest.encode())
    providers = [sp for copy in copies for sp in copy.providers]
    valid = [c.valid_until for c in copies if c.valid_until is not None]
    durations = [c.cache_duration for c in copies if c.cache_duration is not None]
    return _copy(select_expected(providers, expected, label=label), now, digest.hexdigest(), valid, durations)


def _copy(kept: list[ServiceProvider], now: datetime, digest: str, valid: list[datetime],
          durations: list[int]) -> Copy:
    for sp in kept:
        if sp.valid_until is not None and sp.valid_until <= now:
            raise ConfigError(f"the metadata of {sp.entity_id} expired at {sp.valid_until.isoformat()}")
        valid += [sp.valid_until] if sp.valid_until else []
    return Copy(tuple(kept), now, digest, min(valid, default=None), min(durations, default=None))


def expiring_with(sp: ServiceProvider, document_valid_until: datetime | None) -> ServiceProvider:
    """The SP with the earliest validUntil that covers it (its own, or its document's or aggregate's)."""
    if document_valid_until is None or (sp.valid_until is not None and sp.valid_until <= document_valid_until):
        return sp
    return replace(sp, valid_until=document_valid_until)
