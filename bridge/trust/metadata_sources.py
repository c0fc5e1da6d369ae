"""Keeping trusted SP metadata current: loading every source, refreshing what is due, feeding the registry.

The parts live beside this module: where sources come from and what each holds (source_state),
fetching a URL (fetch), pinned signatures (pinning), checking documents (documents), the cache folder
(metadata_cache). This module schedules them:

- At start (``load``) every local source is read strictly (a broken file stops the start and
  ``icbridge check``), URL sources come from their cached copies (no network).
- The background job (``RefreshJob``, every few seconds on a serving node) drops expired copies,
  adopts copies another process saved, re-reads a local source whose files changed (added, changed
  or removed: one stat per file per pass), and refreshes URL sources when due (their interval,
  ``cacheDuration`` or ``validUntil``). ``icbridge sp reload`` (a marker in the cache folder) and
  SIGHUP (``request_reload``) make the next pass re-read every local source.
- A refresh that fails keeps the last good copy, logs one line, counts
  ``bridge_sp_metadata_refreshes_total{outcome="failed"}`` and is reported by ``problems()``
  (``/readyz`` detail): a local file at once, a URL source once its copy is older than its
  ``max_staleness`` (or when it has none). In a folder each file keeps its own last good copy.

Every change reaches the live registry through ServiceProviderRegistry.replace with the union of all
sources, so requests in flight see the old set or the new one. Each node (each worker) reads and
fetches for itself; nothing goes through the store.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, MutableMapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from bridge.clock import Clock, utcnow
from bridge.config import Settings
from bridge.errors import ConfigError, NotFound
from bridge.saml.sp_metadata import ServiceProvider
from bridge.trust.documents import Copy, accept, expiring_with, merge
from bridge.trust.fetch import fetch
from bridge.trust.metadata_cache import CacheFolder, Stamp, iso, parse_iso, stamp
from bridge.trust.service_providers import ServiceProviderRegistry, http_acs_allowed
from bridge.trust.source_state import FileState, SourceState, source_states

if TYPE_CHECKING:
    from bridge.metrics import Metrics

log = logging.getLogger(__name__)

RETRY_AFTER_FAILURE = 60  # seconds; a failed source is tried again this soon (or at its own interval if shorter)
READINESS_PREFIX = "sp_metadata "


@dataclass(frozen=True, slots=True)
class RefreshResult:
    source: str
    ok: bool
    error: str | None
    entity_ids: tuple[str, ...]


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
        self.cache = CacheFolder(settings.path(settings.metadata.cache_dir))
        self.cache_dir = self.cache.directory
        self._transport = transport
        self._allow_http_for = http_acs_allowed(settings)
        self._lock = threading.RLock()
        self._owned: set[str] = set()
        self._reload_requested = threading.Event()
        self._reload_stamp = self.cache.reload_stamp()
        self.states = source_states(settings)

    # The public operations -------------------------------------------------------------------------------

    def load(self) -> ServiceProviderRegistry:
        """Local sources (a broken one raises ConfigError, as at every start) and URL sources' cached copies."""
        with self._lock:
            now = self.clock()
            for state in self.states:
                if state.is_url:
                    self._load_cache(state, now)
                else:
                    state.copy = self._read_local(state, now, strict=True)
                    state.next_refresh = state.schedule(state.copy)
            self._apply()
            return self.registry

    def tick(self) -> None:
        """One pass of the background job: drop expired copies, adopt newer cached copies, re-read changed
        local sources, refresh what is due."""
        with self._lock:
            now = self.clock()
            self._expire(now)
            forced = self._reload_due()
            for state in self.states:
                if state.is_url:
                    self._adopt_cache(state, now)
                    if state.due(now):
                        self._refresh(state, now)
                elif forced or state.due(now) or self._changed(state):
                    self._refresh(state, now, force=forced)

    def request_reload(self) -> None:
        """Re-read every local source on the next pass (SIGHUP); safe to call from a signal handler."""
        self._reload_requested.set()

    def refresh(self, entity_id: str | None = None) -> list[RefreshResult]:
        """Refresh every source now, or those that provide ``entity_id``."""
        with self._lock:
            now = self.clock()
            targets = [s for s in self.states if entity_id is None or s.provides(entity_id)]
            if not targets:
                raise NotFound(f"no metadata source provides {entity_id}")
            return [self._result(state, self._refresh(state, now, force=True)) for state in targets]

    def reload_local(self) -> list[RefreshResult]:
        """``icbridge sp reload``: read the local sources now, and ask every serving process to do the same."""
        with self._lock:
            now = self.clock()
            results = [self._result(state, self._refresh(state, now, force=True))
                       for state in self.states if not state.is_url]
        try:
            self.cache.request_reload(self.clock())
        except OSError as exc:
            raise ConfigError(f"{self.cache_dir}: cannot leave the reload mark: {exc.strerror}") from None
        return results

    def file_problems(self) -> dict[str, str]:
        """Local files that are refused right now (each keeping its last good copy, if it had one)."""
        found = {}
        for state in self.states:
            for path, file in state.files.items():
                if file.error is not None:
                    kept = (f"keeping its last good copy from {iso(file.copy.fetched_at)}" if file.copy is not None
                            else "its SPs are not trusted")
                    found[str(path)] = f"{file.error}; {kept}"
        return found

    def problems(self) -> dict[str, str]:
        """Readiness problems: a refused local file, no usable copy, or a copy older than its max_staleness."""
        now = self.clock()
        found = {READINESS_PREFIX + path: problem for path, problem in self.file_problems().items()}
        for state in self.states:
            name = READINESS_PREFIX + state.label
            if state.copy is None:
                if state.last_attempt is not None or not state.is_url:
                    found[name] = f"no usable metadata: {state.last_error or 'never fetched'}"
                continue
            if not state.is_url and state.last_error is not None:
                found[name] = f"{state.last_error}; keeping the copy from {iso(state.copy.fetched_at)}"
                continue
            age = now - state.copy.fetched_at
            if state.is_url and age > timedelta(seconds=state.config.max_staleness):
                found[name] = (f"metadata last refreshed {_ago(age)} ago (max_staleness {state.config.max_staleness} s)"
                               f"; last error: {state.last_error or 'none'}")
        return found

    def state_of(self, entity_id: str) -> SourceState | None:
        for state in self.states:
            if state.copy is not None and any(sp.entity_id == entity_id for sp in state.copy.providers):
                return state
        return None

    def status(self, state: SourceState) -> dict[str, Any]:
        """What the last refresh by any process recorded (status file), else this process's view."""
        recorded = self.cache.read_status(state.key)
        copy = state.copy
        return {
            "source": state.label,
            "type": state.config.type,
            "last_refresh": recorded.get("last_success") or (iso(copy.fetched_at) if copy else None),
            "next_refresh": recorded.get("next_refresh") or iso(state.next_refresh),
            "last_error": recorded.get("last_error", state.last_error),
            "valid_until": iso(copy.valid_until) if copy else None,
            "entity_ids": [sp.entity_id for sp in copy.providers] if copy else [],
        }

    # Loading and refreshing ------------------------------------------------------------------------------

    @staticmethod
    def _result(state: SourceState, ok: bool) -> RefreshResult:
        ids = tuple(sp.entity_id for sp in state.copy.providers) if state.copy else ()
        return RefreshResult(state.label, ok, None if ok else state.last_error, ids)

    def _accept(self, documents: Iterable[tuple[str, bytes]], state: SourceState, now: datetime, *,
                expected: Iterable[str] = ()) -> Copy:
        return accept(documents, pin=state.pin, expected=list(expected), label=state.label, now=now,
                      allow_http_for=self._allow_http_for)

    def _changed(self, state: SourceState) -> bool:
        try:
            return state.local_stamp() != state.scanned
        except ConfigError:
            return True  # the refresh reports it

    def _reload_due(self) -> bool:
        marker = self.cache.reload_stamp()
        forced = self._reload_requested.is_set() or marker != self._reload_stamp
        self._reload_requested.clear()
        self._reload_stamp = marker
        if forced:
            log.info("sp metadata: reloading the local sources (icbridge sp reload or SIGHUP)")
        return forced

    def _read_file(self, state: SourceState, path: Path, now: datetime, *, strict: bool, force: bool) -> FileState:
        """One file's copy, read again only when its stamp changed (or ``force``); a refused file keeps its
        previous copy (never at start: ``strict``)."""
        previous = state.files.get(path)
        current = stamp(path)
        if previous is not None and previous.stamp == current and not (strict or force) and previous.error is None:
            return previous
        try:
            copy = self._accept([(str(path), path.read_bytes())], state, now)
        except OSError as exc:
            error = f"{path}: cannot read: {exc.strerror}"
        except ConfigError as exc:
            error = exc.detail if str(path) in exc.detail else f"{path}: {exc.detail}"
        else:
            for sp in copy.providers:
                for warning in sp.warnings:
                    log.warning(warning)
            return FileState(current, copy)
        if strict:
            raise ConfigError(error)
        kept = previous.copy if previous is not None else None
        if previous is None or previous.error != error or previous.stamp != current:
            log.warning("sp metadata %s: refused: %s; %s", path, error,
                        f"keeping its last good copy from {iso(kept.fetched_at)}" if kept is not None
                        else "its SPs are not trusted")
        return FileState(current, kept, error)

    def _read_local(self, state: SourceState, now: datetime, *, strict: bool = False, force: bool = False) -> Copy:
        scanned = state.local_stamp()
        files = {path: self._read_file(state, path, now, strict=strict, force=force) for path in state.local_files()}
        state.files, state.scanned = files, scanned  # read again only when the files change
        copies = [f.copy for f in files.values() if f.copy is not None]
        return merge(copies, expected=state.config.entity_ids, label=state.label, now=now)

    def _fetch(self, state: SourceState, now: datetime) -> tuple[Copy, bytes]:
        metadata = self.settings.metadata
        data = fetch(state.config.url or "", timeout=metadata.fetch_timeout, max_bytes=metadata.max_size,
                     transport=self._transport)
        return self._accept([(state.label, data)], state, now, expected=state.config.entity_ids), data

    def _refresh(self, state: SourceState, now: datetime, *, force: bool = False) -> bool:
        state.last_attempt = now
        data = None
        try:
            if state.is_url:
                copy, data = self._fetch(state, now)
            else:
                copy = self._read_local(state, now, force=force)
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
        kept = (f"keeping the copy from {iso(state.copy.fetched_at)}" if state.copy is not None
                else "no copy to keep: its SPs are not trusted")
        log.warning("sp metadata %s: refresh refused: %s; %s", state.label, reason, kept)
        self._write_status(state, now)

    def _expire(self, now: datetime) -> None:
        for state in self.states:
            for path, file in state.files.items():
                if file.copy is not None and file.copy.valid_until is not None and file.copy.valid_until <= now:
                    state.files[path] = FileState(file.stamp, None, f"{path}: the metadata expired at "
                                                                    f"{file.copy.valid_until.isoformat()}")
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
                ours.extend(expiring_with(sp, chosen.valid_until) for sp in chosen.providers)
        others = [sp for sp in self.registry if sp.entity_id not in self._owned]
        self.registry.replace([*others, *ours])
        self._owned = {sp.entity_id for sp in ours}

    def _count(self, state: SourceState, outcome: str) -> None:
        if self.metrics is not None:
            self.metrics.sp_metadata_refreshes.labels(state.label, outcome).inc()

    # The cache folder (URL sources) ------------------------------------------------------------------------

    def _load_cache(self, state: SourceState, now: datetime) -> bool:
        """Take the cached copy if it is still acceptable (same checks as a fetch); never raises."""
        path = self.cache.copy_path(state.key)
        state.cache_stamp = stamp(path)
        if state.cache_stamp is None:
            return False
        try:
            copy = self._accept([(state.label, path.read_bytes())], state, now, expected=state.config.entity_ids)
            recorded = self.cache.read_status(state.key)
            fetched_at = parse_iso(recorded.get("last_success")) if recorded.get("sha256") == copy.digest else None
            copy = copy.at(fetched_at or self.cache.saved_at(state.key) or now)
            self._apply(state, copy)
        except (ConfigError, OSError) as exc:
            reason = exc.detail if isinstance(exc, ConfigError) else exc.strerror
            log.warning("sp metadata %s: cached copy %s not used: %s", state.label, path, reason)
            return False
        state.copy, state.next_refresh = copy, state.schedule(copy)
        state.last_error = self.cache.read_status(state.key).get("last_error")
        return True

    def _adopt_cache(self, state: SourceState, now: datetime) -> None:
        """Another process (``icbridge sp refresh``, another worker) wrote a newer copy: use it."""
        current: Stamp | None = stamp(self.cache.copy_path(state.key))
        if current is None or current == state.cache_stamp:
            return
        before = state.copy.digest if state.copy is not None else None
        if self._load_cache(state, now) and state.copy is not None and state.copy.digest != before:
            log.info("sp metadata %s: took the newer copy saved in %s", state.label, self.cache_dir)

    def _save_cache(self, state: SourceState, data: bytes) -> None:
        try:
            state.cache_stamp = self.cache.save(state.key, data)
        except OSError as exc:
            log.warning("sp metadata %s: cannot save the copy in %s: %s", state.label, self.cache_dir, exc.strerror)

    def _write_status(self, state: SourceState, now: datetime) -> None:
        copy = state.copy
        status = {
            "source": state.label,
            "type": state.config.type,
            "last_attempt": iso(now),
            "last_success": iso(copy.fetched_at) if copy else None,
            "last_error": state.last_error,
            "next_refresh": iso(state.next_refresh),
            "valid_until": iso(copy.valid_until) if copy else None,
            "sha256": copy.digest if copy else None,
            "entity_ids": [sp.entity_id for sp in copy.providers] if copy else [],
        }
        try:
            self.cache.write_status(state.key, status)
        except OSError as exc:
            log.warning("sp metadata %s: cannot write its status in %s: %s", state.label, self.cache_dir, exc.strerror)


class RefreshJob:
    """The background job: one pass of the sources, their readiness problems kept in ``readiness`` (the
    mapping /readyz reports). It holds the sources and that mapping, not the instance."""

    def __init__(self, sources: MetadataSources, readiness: MutableMapping[str, str]) -> None:
        self.sources, self.readiness = sources, readiness

    def __call__(self) -> None:
        self.sources.tick()
        found = self.sources.problems()
        for name in [n for n in self.readiness if n.startswith(READINESS_PREFIX) and n not in found]:
            self.readiness.pop(name, None)
        for name, problem in found.items():
            if self.readiness.get(name) != problem:
                self.readiness[name] = problem

    def __repr__(self) -> str:
        return "<job sp-metadata-refresh>"


def _ago(age: timedelta) -> str:
    seconds = int(age.total_seconds())
    if seconds >= 86400:
        return f"{seconds // 86400} d"
    return f"{seconds // 3600} h" if seconds >= 3600 else f"{seconds} s"
