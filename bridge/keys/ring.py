"""The key ring: which certificates are published and which key signs, as the store says.

Key states live in the store so that every node agrees; the private key
files are read once per key per process (bridge.keys.material). ``refresh()`` re-reads
the states (cheap) and loads a newly active key only when it changes, so a
second node picks up a transition within its refresh interval without a
restart.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from bridge.config import Settings
from bridge.errors import ConfigError
from bridge.keys.material import Certificate, SigningKey, load_signing_key
from bridge.store.base import KeyRecord, Store

PENDING, ACTIVE, RETIRING, RETIRED = "pending", "active", "retiring", "retired"
PUBLISHED_STATES = (ACTIVE, PENDING, RETIRING)  # publication order: the signing one first


@dataclass(frozen=True, slots=True)
class KeySet:
    """An immutable snapshot: swapped whole on change, so readers never see half a rotation."""

    records: tuple[KeyRecord, ...]
    active: SigningKey | None
    published: tuple[Certificate, ...]

    @property
    def version(self) -> tuple[tuple[str, str], ...]:
        return tuple((r.kid, r.state) for r in self.records)

    @property
    def rotating(self) -> bool:
        return any(r.state in (PENDING, RETIRING) for r in self.records)


def _publication_order(records: list[KeyRecord]) -> list[KeyRecord]:
    rank = {state: i for i, state in enumerate(PUBLISHED_STATES)}
    published = [r for r in records if r.state in rank]
    return sorted(published, key=lambda r: (rank[r.state], r.created_at))


class KeyRing:
    def __init__(self, store: Store, settings: Settings) -> None:
        self._store = store
        self._settings = settings
        self._lock = threading.Lock()
        self._loaded: dict[str, SigningKey] = {}
        self._set = KeySet(records=(), active=None, published=())

    def _key_path(self, record: KeyRecord) -> Path:
        return self._settings.path(record.key_path)

    def _signing_key(self, record: KeyRecord) -> SigningKey:
        if record.kid not in self._loaded:
            certificate = Certificate.from_pem(record.cert_pem)
            self._loaded[record.kid] = load_signing_key(
                self._key_path(record), certificate, passphrase=self._settings.keys.passphrase
            )
        return self._loaded[record.kid]

    def refresh(self) -> bool:
        """Re-read the key states; True when anything changed."""
        records = self._store.list_keys()
        with self._lock:
            version = tuple((r.kid, r.state) for r in records)
            if version == self._set.version and self._set.records:
                return False
            actives = [r for r in records if r.state == ACTIVE]
            active = self._signing_key(actives[0]) if actives else None
            ordered = _publication_order(records)
            self._set = KeySet(
                records=tuple(records),
                active=active,
                published=tuple(Certificate.from_pem(r.cert_pem) for r in ordered),
            )
            return True

    @property
    def current(self) -> KeySet:
        return self._set

    @property
    def active(self) -> SigningKey:
        active = self._set.active
        if active is None:
            raise ConfigError("no active signing key: run `icbridge keys list` and activate one")
        return active

    def load_all_published(self) -> list[SigningKey]:
        """Load every published key (used by `icbridge check` to prove each file is usable)."""
        return [self._signing_key(r) for r in _publication_order(list(self._set.records))]
