"""Where trusted SP metadata comes from: the ``metadata/`` folder, more files and folders, and URLs.

Sources are configured under ``[[metadata.sources]]`` (bridge.config.MetadataSource); the
instance's ``metadata/`` folder is always one of them. A URL source is fetched with httpx (TLS
verified, bounded in time and size, at most ``MAX_REDIRECTS`` redirects and only to https),
parsed with the hardened parser and the metadata XSD (bridge.saml.sp_metadata), held to its
expected entity IDs (an unexpected SP is dropped, a missing expected one refuses the document),
and, when a signing certificate is pinned, to the metadata's enveloped signature. Expired
metadata (``validUntil``, SAML Metadata 2.1) is never used; ``cacheDuration`` brings the next
refresh forward. Plain http is accepted only for loopback hosts (development and tests), the
rule of bridge.urls.https_or_loopback.

The last good copy of each URL source is written atomically to ``metadata.cache_dir`` with a
small JSON status file beside it (last and next refresh, last error), so a restart without
network trusts the same SPs and ``icbridge sp list`` can show the refresh times. A refresh that
fails keeps the last good copy, logs one line, counts ``bridge_sp_metadata_refreshes_total``
with ``outcome="failed"``, and reports a readiness problem only once the copy is older than the
source's ``max_staleness`` (or when there is no usable copy at all). Every change reaches the live
registry through ServiceProviderRegistry.replace with the union of all sources, so requests in
flight see the old set or the new one. Each node (each worker) fetches for itself and keeps its
own cached copy; nothing goes through the store.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import tempfile
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

import httpx
from lxml import etree

from bridge.clock import Clock, utcnow
from bridge.config import MetadataSource, Settings
from bridge.errors import ConfigError, NotFound, SamlError, SignatureError
from bridge.keys.material import Certificate
from bridge.saml.signing import verify_enveloped
from bridge.saml.sp_metadata import ServiceProvider, parse_sp_metadata, parse_valid_until
from bridge.saml.xml import DS, MD, parse_untrusted, text_of
from bridge.trust.service_providers import METADATA_SUFFIXES, ServiceProviderRegistry, http_acs_allowed
from bridge.urls import https_or_loopback

if TYPE_CHECKING:
    from bridge.instance import Instance
    from bridge.metrics import Metrics

log = logging.getLogger(__name__)

MAX_REDIRECTS = 3
RETRY_AFTER_FAILURE = 60  # seconds; a failed source is tried again this soon (or at its own interval if shorter)
READINESS_PREFIX = "sp_metadata "
_ACCEPT = {"Accept": "application/samlmetadata+xml, application/xml;q=0.9, text/xml;q=0.8"}
_XS_DURATION = re.compile(
    r"^P(?!$)(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)D)?(?:T(?=\d)(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$"
)
_DURATION_UNITS = (365 * 86400, 30 * 86400, 86400, 3600, 60, 1)  # Y and M approximated: only ever shortens


# -- fetching ---------------------------------------------------------------------------------------------


def fetch(url: str, *, timeout: float, max_bytes: int, transport: httpx.BaseTransport | None = None) -> bytes:
    """GET ``url`` and return the body; ConfigError with a one-line reason on any failure.

    TLS is verified; redirects are followed by hand, at most ``MAX_REDIRECTS``, and only to https
    (to loopback http only when the configured URL is itself loopback http). The body is streamed
    and the download abandoned past ``max_bytes``; every read is bounded by ``timeout`` and the
    whole download by the same ``timeout`` once bytes flow.
    """
    https_only = urlsplit(url).scheme == "https"
    deadline = time.monotonic() + timeout
    current = url
    try:
        with httpx.Client(timeout=timeout, verify=True, follow_redirects=False, transport=transport,
                          headers=_ACCEPT) as client:
            for _ in range(MAX_REDIRECTS + 1):
                with client.stream("GET", current) as response:
                    if response.is_redirect:
                        current = _redirect_target(current, response.headers["location"], https_only=https_only)
                        continue
                    if response.status_code != 200:
                        raise ConfigError(f"the server answered HTTP {response.status_code}")
                    return _read_capped(response, max_bytes=max_bytes, deadline=deadline, timeout=timeout)
    except httpx.TimeoutException:
        raise ConfigError(f"no answer within {timeout:g} s") from None
    except httpx.HTTPError as exc:
        raise ConfigError(f"cannot fetch: {type(exc).__name__}: {str(exc)[:160]}") from None
    raise ConfigError(f"more than {MAX_REDIRECTS} redirects")


def _redirect_target(current: str, location: str, *, https_only: bool) -> str:
    target = urljoin(current, location)
    scheme = urlsplit(target).scheme
    try:
        https_or_loopback(target)
        if https_only and scheme != "https":
            raise ValueError
    except ValueError:
        raise ConfigError(f"refused a redirect to a non-https URL ({scheme}://{urlsplit(target).hostname})") from None
    return target


def _read_capped(response: httpx.Response, *, max_bytes: int, deadline: float, timeout: float) -> bytes:
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise ConfigError(f"the document is larger than {max_bytes} bytes (Content-Length {declared})")
    body = bytearray()
    for chunk in response.iter_bytes():
        body += chunk
        if len(body) > max_bytes:
            raise ConfigError(f"the document is larger than {max_bytes} bytes")
        if time.monotonic() > deadline:
            raise ConfigError(f"the download took longer than {timeout:g} s")
    return bytes(body)


# -- checking ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Pin:
    """The certificate that must have signed a source's metadata: the certificate itself, or its SHA-256."""

    fingerprint: str
    certificate: Certificate | None = None


def load_pin(value: str | None, settings: Settings) -> Pin | None:
    if not value:
        return None
    if value.lower().startswith("sha256:"):
        digest = value[7:].replace(":", "").strip().lower()
        if not re.fullmatch(r"[0-9a-f]{64}", digest):
            raise ConfigError(f"metadata signing_cert {value!r}: expected sha256: and 64 hex digits")
        return Pin(fingerprint=digest)
    path = settings.path(value)
    try:
        certificate = Certificate.from_pem(path.read_bytes())
    except OSError as exc:
        raise ConfigError(f"metadata signing_cert {path}: cannot read: {exc.strerror}") from None
    except ConfigError:
        raise ConfigError(f"metadata signing_cert {path}: not a PEM X.509 certificate") from None
    return Pin(fingerprint=certificate.fingerprint, certificate=certificate)


def verify_pinned_signature(root: etree._Element, pin: Pin) -> None:
    """The document's own enveloped signature, by the pinned certificate (KeyInfo only names candidates)."""
    signature = root.find(f"{DS}Signature")
    if signature is None:
        raise ConfigError("the metadata is not signed, but a signing certificate is pinned for this source")
    candidates = [pin.certificate] if pin.certificate is not None else []
    if pin.certificate is None:
        for node in signature.iterfind(f"{DS}KeyInfo/{DS}X509Data/{DS}X509Certificate"):
            with contextlib.suppress(ValueError):
                cert = Certificate.from_base64_der(text_of(node) or "")
                if cert.fingerprint == pin.fingerprint:
                    candidates.append(cert)
        if not candidates:
            raise ConfigError("the metadata is not signed by the pinned certificate (fingerprint differs)")
    try:
        verify_enveloped(root, candidates, what="metadata")
    except SignatureError as exc:
        raise ConfigError(f"signature refused: {exc.detail}") from None


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


@dataclass(frozen=True, slots=True)
class _Document:
    providers: list[ServiceProvider]
    valid_until: datetime | None
    cache_duration: int | None


def check_document(
    data: bytes, *, label: str, pin: Pin | None, now: datetime, allow_http_for: frozenset[str]
) -> _Document:
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
    return _Document(providers, valid_until, parse_xs_duration(root.get("cacheDuration")))


def _select(providers: Iterable[ServiceProvider], expected: list[str], *, label: str) -> list[ServiceProvider]:
    """Only the expected entity IDs; every one of them must be present."""
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


# -- one source -------------------------------------------------------------------------------------------


def _label(source: MetadataSource, settings: Settings) -> str:
    if source.type == "url":
        parts = urlsplit(source.url or "")
        return f"{parts.scheme}://{parts.netloc}{parts.path}"  # never the query: it may carry a token
    return str(settings.path(source.path or ""))


@dataclass
class SourceState:
    config: MetadataSource
    label: str
    key: str
    pin: Pin | None
    copy: Copy | None = None
    last_attempt: datetime | None = None
    last_error: str | None = None
    next_refresh: datetime | None = None  # None: due now
    cache_stamp: tuple[int, int] | None = None

    @property
    def is_url(self) -> bool:
        return self.config.type == "url"

    def due(self, now: datetime) -> bool:
        return self.next_refresh is None or self.next_refresh <= now

    def provides(self, entity_id: str) -> bool:
        in_copy = self.copy is not None and any(sp.entity_id == entity_id for sp in self.copy.providers)
        return entity_id in self.config.entity_ids or in_copy

    def schedule(self, copy: Copy) -> datetime:
        """Refresh no later than the interval, the metadata's cacheDuration, or its validUntil."""
        seconds = self.config.refresh_interval
        if copy.cache_duration is not None:
            seconds = min(seconds, copy.cache_duration)
        when = copy.fetched_at + timedelta(seconds=max(seconds, 1))
        return min(when, copy.valid_until) if copy.valid_until is not None else when


def configured_sources(settings: Settings) -> list[MetadataSource]:
    """The ``metadata/`` folder first (always), then the configured sources."""
    folder = settings.path(settings.metadata.dir).resolve()
    sources = [MetadataSource(type="folder", path=settings.metadata.dir)]
    for source in settings.metadata.sources:
        if source.type == "folder" and settings.path(source.path or "").resolve() == folder:
            sources[0] = source
            continue
        if source.type == "url":
            try:
                https_or_loopback(source.url or "")
            except ValueError as exc:
                raise ConfigError(f"metadata source {source.url}: {exc}") from None
            if not source.entity_ids:
                raise ConfigError(f"metadata source {_label(source, settings)}: a url source needs entity_ids "
                                  "(the SPs it may describe; anything else in the document is ignored)")
        sources.append(source)
    return sources


@dataclass(frozen=True, slots=True)
class RefreshResult:
    source: str
    ok: bool
    error: str | None
    entity_ids: tuple[str, ...]


# -- all sources ------------------------------------------------------------------------------------------


class MetadataSources:
    """Every configured source, its last good copy, and the registry they feed."""

    def __init__(
        self,
        settings: Settings,
        registry: ServiceProviderRegistry | None = None,
        *,
        clock: Clock = utcnow,
        metrics: Metrics | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.settings = settings
        self.registry = registry if registry is not None else ServiceProviderRegistry(clock=clock)
        self.clock = clock
        self.metrics = metrics
        self.cache_dir = settings.path(settings.metadata.cache_dir)
        self._transport = transport
        self._allow_http_for = http_acs_allowed(settings)
        self._lock = threading.RLock()
        self._owned: set[str] = set()
        self.states: list[SourceState] = []
        for source in configured_sources(settings):
            label = _label(source, settings)
            key = f"{source.type}-{hashlib.sha256((source.url or label).encode()).hexdigest()[:16]}"
            self.states.append(SourceState(source, label, key, load_pin(source.signing_cert, settings)))

    # The public operations -------------------------------------------------------------------------------

    def load(self) -> ServiceProviderRegistry:
        """Local sources (a broken one raises ConfigError, as at every start) and URL sources' cached copies."""
        with self._lock:
            now = self.clock()
            for state in self.states:
                if state.is_url:
                    self._load_cache(state, now)
                else:
                    state.copy = self._read_local(state, now)
                    state.next_refresh = state.schedule(state.copy)
            self._apply()
            return self.registry

    def tick(self) -> None:
        """One pass of the background job: drop expired copies, adopt newer cached copies, refresh what is due."""
        with self._lock:
            now = self.clock()
            self._expire(now)
            for state in self.states:
                if state.is_url:
                    self._adopt_cache(state, now)
                if state.due(now):
                    self._refresh(state, now)

    def refresh(self, entity_id: str | None = None) -> list[RefreshResult]:
        """Refresh every source now, or those that provide ``entity_id``."""
        with self._lock:
            now = self.clock()
            targets = [s for s in self.states if entity_id is None or s.provides(entity_id)]
            if not targets:
                raise NotFound(f"no metadata source provides {entity_id}")
            results = []
            for state in targets:
                ok = self._refresh(state, now)
                ids = tuple(sp.entity_id for sp in state.copy.providers) if state.copy else ()
                results.append(RefreshResult(state.label, ok, None if ok else state.last_error, ids))
            return results

    def problems(self) -> dict[str, str]:
        """Readiness problems: no usable copy, or a copy older than its source's max_staleness."""
        now = self.clock()
        found: dict[str, str] = {}
        for state in self.states:
            name = READINESS_PREFIX + state.label
            if state.copy is None:
                if state.last_attempt is not None or not state.is_url:
                    found[name] = f"no usable metadata: {state.last_error or 'never fetched'}"
                continue
            age = now - state.copy.fetched_at
            if age > timedelta(seconds=state.config.max_staleness):
                found[name] = (f"metadata last refreshed {_ago(age)} ago (max_staleness {state.config.max_staleness} s)"
                               f"; last error: {state.last_error or 'none'}")
        return found

    def attach(self, instance: Instance) -> None:
        """Run in the instance's background loop (every few seconds) and report readiness there."""
        self.metrics = instance.metrics
        instance.extras["metadata_sources"] = self
        instance.extras.setdefault("jobs", []).append(self.run_job)

    def run_job(self, instance: Instance) -> None:
        self.tick()
        current = instance.extras.setdefault("readiness_problems", {})
        found = self.problems()
        for name in [n for n in current if n.startswith(READINESS_PREFIX) and n not in found]:
            current.pop(name, None)
        for name, problem in found.items():
            if current.get(name) != problem:
                current[name] = problem

    def state_of(self, entity_id: str) -> SourceState | None:
        for state in self.states:
            if state.copy is not None and any(sp.entity_id == entity_id for sp in state.copy.providers):
                return state
        return None

    def status(self, state: SourceState) -> dict[str, Any]:
        """What the last refresh by any process recorded (status file), else this process's view."""
        recorded = self._read_status(state)
        copy = state.copy
        return {
            "source": state.label,
            "type": state.config.type,
            "last_refresh": recorded.get("last_success") or (_iso(copy.fetched_at) if copy else None),
            "next_refresh": recorded.get("next_refresh") or _iso(state.next_refresh),
            "last_error": recorded.get("last_error", state.last_error),
            "valid_until": _iso(copy.valid_until) if copy else None,
            "entity_ids": [sp.entity_id for sp in copy.providers] if copy else [],
        }

    # Loading and refreshing ------------------------------------------------------------------------------

    def _check(self, documents: Iterable[tuple[str, bytes]], state: SourceState, now: datetime) -> Copy:
        providers: list[ServiceProvider] = []
        valid: list[datetime] = []
        durations: list[int] = []
        digest = hashlib.sha256()
        for label, data in documents:
            document = check_document(data, label=label, pin=state.pin, now=now, allow_http_for=self._allow_http_for)
            providers.extend(document.providers)
            valid += [document.valid_until] if document.valid_until else []
            durations += [document.cache_duration] if document.cache_duration is not None else []
            digest.update(hashlib.sha256(data).digest())
        kept = _select(providers, state.config.entity_ids, label=state.label)
        for sp in kept:
            if sp.valid_until is not None and sp.valid_until <= now:
                raise ConfigError(f"the metadata of {sp.entity_id} expired at {sp.valid_until.isoformat()}")
            valid += [sp.valid_until] if sp.valid_until else []
        return Copy(tuple(kept), now, digest.hexdigest(), min(valid, default=None), min(durations, default=None))

    def _read_local(self, state: SourceState, now: datetime) -> Copy:
        path = self.settings.path(state.config.path or "")
        try:
            if state.config.type == "file":
                documents = [(str(path), path.read_bytes())]
            elif path.is_dir():
                files = sorted(p for p in path.iterdir() if p.suffix.lower() in METADATA_SUFFIXES and p.is_file())
                documents = [(str(p), p.read_bytes()) for p in files]
            else:
                documents = []  # a missing metadata/ folder holds no SPs
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
        copy = self._check(documents, state, now)
        for sp in copy.providers:
            for warning in sp.warnings:
                log.warning(warning)
        return copy

    def _fetch(self, state: SourceState, now: datetime) -> tuple[Copy, bytes]:
        metadata = self.settings.metadata
        data = fetch(state.config.url or "", timeout=metadata.fetch_timeout, max_bytes=metadata.max_size,
                     transport=self._transport)
        return self._check([(state.label, data)], state, now), data

    def _refresh(self, state: SourceState, now: datetime) -> bool:
        state.last_attempt = now
        data = None
        try:
            if state.is_url:
                copy, data = self._fetch(state, now)
            else:
                copy = self._read_local(state, now)
            self._apply(state, copy)
        except ConfigError as exc:
            self._failed(state, now, exc.detail)
            return False
        except Exception as exc:  # hostile input must never take the refresh job (or the CLI) down
            log.debug("sp metadata %s: unexpected error", state.label, exc_info=True)
            self._failed(state, now, f"unexpected error while checking the document ({type(exc).__name__})")
            return False
        changed = state.copy is None or state.copy.digest != copy.digest
        state.copy, state.last_error, state.next_refresh = copy, None, state.schedule(copy)
        self._count(state, "ok")
        if data is not None:
            self._save_cache(state, data)
        self._write_status(state, now)
        if changed:
            log.info("sp metadata %s: now trusting %s", state.label,
                     ", ".join(sp.entity_id for sp in copy.providers) or "no SP")
        return True

    def _failed(self, state: SourceState, now: datetime, reason: str) -> None:
        state.last_error = reason
        state.next_refresh = now + timedelta(seconds=min(state.config.refresh_interval, RETRY_AFTER_FAILURE))
        self._count(state, "failed")
        kept = (f"keeping the copy from {_iso(state.copy.fetched_at)}" if state.copy is not None
                else "no copy to keep: its SPs are not trusted")
        log.warning("sp metadata %s: refresh refused: %s; %s", state.label, reason, kept)
        self._write_status(state, now)

    def _expire(self, now: datetime) -> None:
        for state in self.states:
            copy = state.copy
            if copy is not None and copy.valid_until is not None and copy.valid_until <= now:
                state.copy, state.next_refresh = None, None
                state.last_error = f"the metadata expired at {copy.valid_until.isoformat()} (validUntil)"
                log.warning("sp metadata %s: %s; its SPs are no longer trusted", state.label, state.last_error)
                self._apply()

    def _apply(self, state: SourceState | None = None, copy: Copy | None = None) -> None:
        """Swap the whole registry for the union of all sources (with ``copy`` standing in for ``state``'s).

        SPs this class did not put there (the built-in simulator) are kept. ConfigError when two
        sources describe the same entity: the registry is then left as it was.
        """
        ours: list[ServiceProvider] = []
        for each in self.states:
            chosen = copy if each is state else each.copy
            if chosen is not None:
                ours.extend(_expiring_with(sp, chosen.valid_until) for sp in chosen.providers)
        others = [sp for sp in self.registry if sp.entity_id not in self._owned]
        self.registry.replace([*others, *ours])
        self._owned = {sp.entity_id for sp in ours}

    def _count(self, state: SourceState, outcome: str) -> None:
        if self.metrics is not None:
            self.metrics.sp_metadata_refreshes.labels(state.label, outcome).inc()

    # The cache folder --------------------------------------------------------------------------------------

    def _cache_path(self, state: SourceState) -> Path:
        return self.cache_dir / f"{state.key}.xml"

    def _status_path(self, state: SourceState) -> Path:
        return self.cache_dir / f"{state.key}.json"

    def _load_cache(self, state: SourceState, now: datetime) -> bool:
        """Take the cached copy if it is still acceptable (same checks as a fetch); never raises."""
        path = self._cache_path(state)
        state.cache_stamp = _stamp(path)
        if state.cache_stamp is None:
            return False
        try:
            data = path.read_bytes()
            copy = self._check([(state.label, data)], state, now)
            recorded = self._read_status(state)
            fetched_at = _parse_iso(recorded.get("last_success")) if recorded.get("sha256") == copy.digest else None
            copy = _with_fetched_at(copy, fetched_at or datetime.fromtimestamp(path.stat().st_mtime, UTC))
            self._apply(state, copy)
        except (ConfigError, OSError) as exc:
            reason = exc.detail if isinstance(exc, ConfigError) else exc.strerror
            log.warning("sp metadata %s: cached copy %s not used: %s", state.label, path, reason)
            return False
        state.copy, state.next_refresh = copy, state.schedule(copy)
        state.last_error = self._read_status(state).get("last_error")
        return True

    def _adopt_cache(self, state: SourceState, now: datetime) -> None:
        """Another process (``icbridge sp refresh``, another worker) wrote a newer copy: use it."""
        stamp = _stamp(self._cache_path(state))
        if stamp is None or stamp == state.cache_stamp:
            return
        before = state.copy.digest if state.copy is not None else None
        if self._load_cache(state, now) and state.copy is not None and state.copy.digest != before:
            log.info("sp metadata %s: took the newer copy saved in %s", state.label, self.cache_dir)

    def _save_cache(self, state: SourceState, data: bytes) -> None:
        try:
            write_atomic(self._cache_path(state), data)
            state.cache_stamp = _stamp(self._cache_path(state))
        except OSError as exc:
            log.warning("sp metadata %s: cannot save the copy in %s: %s", state.label, self.cache_dir, exc.strerror)

    def _read_status(self, state: SourceState) -> dict[str, Any]:
        try:
            loaded = json.loads(self._status_path(state).read_text())
        except (OSError, ValueError):
            return {}
        return loaded if isinstance(loaded, dict) else {}

    def _write_status(self, state: SourceState, now: datetime) -> None:
        copy = state.copy
        status = {
            "source": state.label,
            "type": state.config.type,
            "last_attempt": _iso(now),
            "last_success": _iso(copy.fetched_at) if copy else None,
            "last_error": state.last_error,
            "next_refresh": _iso(state.next_refresh),
            "valid_until": _iso(copy.valid_until) if copy else None,
            "sha256": copy.digest if copy else None,
            "entity_ids": [sp.entity_id for sp in copy.providers] if copy else [],
        }
        try:
            write_atomic(self._status_path(state), json.dumps(status, indent=1, sort_keys=True).encode())
        except OSError as exc:
            log.warning("sp metadata %s: cannot write its status in %s: %s", state.label, self.cache_dir, exc.strerror)


def write_atomic(path: Path, data: bytes) -> None:
    """Write to a temporary file in the same folder, fsync, then rename: readers see old or new, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, 0o644)  # public metadata; mkstemp makes 0600
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def _with_fetched_at(copy: Copy, fetched_at: datetime) -> Copy:
    return Copy(copy.providers, fetched_at, copy.digest, copy.valid_until, copy.cache_duration)


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        info = path.stat()
    except OSError:
        return None
    return info.st_mtime_ns, info.st_size


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _parse_iso(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _ago(age: timedelta) -> str:
    seconds = int(age.total_seconds())
    if seconds >= 86400:
        return f"{seconds // 86400} d"
    return f"{seconds // 3600} h" if seconds >= 3600 else f"{seconds} s"


def _expiring_with(sp: ServiceProvider, document_valid_until: datetime | None) -> ServiceProvider:
    """The SP with the earliest validUntil that covers it (its own, or its document's or aggregate's)."""
    if document_valid_until is None or (sp.valid_until is not None and sp.valid_until <= document_valid_until):
        return sp
    return replace(sp, valid_until=document_valid_until)
