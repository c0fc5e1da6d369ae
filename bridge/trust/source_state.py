"""Which metadata sources an instance has, and what each one holds right now.

The ``metadata/`` folder is always a source; ``[[metadata.sources]]`` adds files, folders and URLs
(bridge.config.MetadataSource). A local source (file or folder) holds a last good copy per file, so a
file that stops parsing keeps what it last trusted while the others change; its ``scanned`` stamp (the
names, sizes and modification times of its files) tells the refresh job when to read it again.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

from bridge.config import MetadataSource, Settings
from bridge.errors import ConfigError
from bridge.trust.documents import Copy
from bridge.trust.metadata_cache import Stamp, stamp
from bridge.trust.pinning import Pin, load_pin
from bridge.trust.service_providers import METADATA_SUFFIXES
from bridge.urls import https_or_loopback


@dataclass
class FileState:
    """One file of a local source: its stamp when last read, its last good copy, and why it was refused."""

    stamp: Stamp | None
    copy: Copy | None = None
    error: str | None = None


@dataclass
class SourceState:
    config: MetadataSource
    label: str
    key: str
    pin: Pin | None
    path: Path | None = None  # a local source's file or folder
    copy: Copy | None = None
    last_attempt: datetime | None = None
    last_error: str | None = None
    next_refresh: datetime | None = None  # None: due now
    cache_stamp: Stamp | None = None
    files: dict[Path, FileState] = field(default_factory=dict)
    scanned: tuple[tuple[str, Stamp | None], ...] | None = None

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

    def local_files(self) -> list[Path]:
        """A local source's metadata files now (a missing ``metadata/`` folder holds none)."""
        path = self.path
        if path is None:
            return []
        if self.config.type == "file":
            return [path]
        if not path.is_dir():
            return []
        return sorted(p for p in path.iterdir() if p.suffix.lower() in METADATA_SUFFIXES and p.is_file())

    def local_stamp(self) -> tuple[tuple[str, Stamp | None], ...]:
        """Cheap to take every few seconds: one stat per file. Raises ConfigError for an unreadable folder."""
        try:
            return tuple((str(p), stamp(p)) for p in self.local_files())
        except OSError as exc:
            raise ConfigError(f"{self.path}: cannot read: {exc.strerror}") from None


def label_of(source: MetadataSource, settings: Settings) -> str:
    if source.type == "url":
        parts = urlsplit(source.url or "")
        return f"{parts.scheme}://{parts.netloc}{parts.path}"  # never the query: it may carry a token
    return str(settings.path(source.path or ""))


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
                raise ConfigError(f"metadata source {label_of(source, settings)}: a url source needs entity_ids "
                                  "(the SPs it may describe; anything else in the document is ignored)")
        sources.append(source)
    return sources


def source_states(settings: Settings) -> list[SourceState]:
    states = []
    for source in configured_sources(settings):
        label = label_of(source, settings)
        key = f"{source.type}-{hashlib.sha256((source.url or label).encode()).hexdigest()[:16]}"
        path = None if source.type == "url" else settings.path(source.path or "")
        states.append(SourceState(source, label, key, load_pin(source.signing_cert, settings), path=path))
    return states
