"""The key rings: which certificates are published and which key signs, per ring, as the store says.

A ring is the deployment's (``DEPLOYMENT_RING``, the default every biller
shares) or one biller's own (named after the biller). A biller's ring
*inherits* the deployment's until it has an active key of its own: while its
first own key is only pending, the biller's metadata publishes it beside the
deployment's certificates and the deployment's key still signs, so moving a
biller onto its own ring is an ordinary staged rotation.

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
DEPLOYMENT_RING = ""


def ring_label(ring: str) -> str:
    """How a ring is named to people: ``the deployment ring`` or ``biller NAME's ring``."""
    return "the deployment ring" if ring == DEPLOYMENT_RING else f"biller {ring}'s ring"


@dataclass(frozen=True, slots=True)
class KeySet:
    """An immutable snapshot of one ring: swapped whole on change, so readers never see half a rotation."""

    records: tuple[KeyRecord, ...]
    active: SigningKey | None
    published: tuple[Certificate, ...]

    @property
    def version(self) -> tuple[tuple[str, str], ...]:
        return tuple((r.kid, r.state) for r in self.records)

    @property
    def rotating(self) -> bool:
        return any(r.state in (PENDING, RETIRING) for r in self.records)


EMPTY = KeySet(records=(), active=None, published=())


def _publication_order(records: list[KeyRecord]) -> list[KeyRecord]:
    rank = {state: i for i, state in enumerate(PUBLISHED_STATES)}
    published = [r for r in records if r.state in rank]
    return sorted(published, key=lambda r: (rank[r.state], r.created_at))


def _inherit(own: KeySet, deployment: KeySet) -> KeySet:
    """A biller ring with no active key of its own: the deployment's key signs, both rings' certificates show."""
    if own.active is not None:
        return own
    if not own.published:
        return deployment
    shown = {c.kid for c in deployment.published}
    return KeySet(
        records=(*deployment.records, *own.records),
        active=deployment.active,
        published=(*deployment.published, *(c for c in own.published if c.kid not in shown)),
    )


class KeyRing:
    def __init__(self, store: Store, settings: Settings) -> None:
        self._store = store
        self._settings = settings
        self._lock = threading.Lock()
        self._loaded: dict[str, SigningKey] = {}
        self._version: tuple[tuple[str, str, str], ...] | None = None
        # (the rings, the views built from them): swapped as one, so a view is never cached against old rings.
        self._state: tuple[dict[str, KeySet], dict[str, KeySet]] = ({}, {})

    def _key_path(self, record: KeyRecord) -> Path:
        return self._settings.path(record.key_path)

    def _signing_key(self, record: KeyRecord) -> SigningKey:
        if record.kid not in self._loaded:
            certificate = Certificate.from_pem(record.cert_pem)
            self._loaded[record.kid] = load_signing_key(
                self._key_path(record), certificate, passphrase=self._settings.keys.passphrase
            )
        return self._loaded[record.kid]

    def _key_set(self, records: list[KeyRecord]) -> KeySet:
        actives = [r for r in records if r.state == ACTIVE]
        return KeySet(
            records=tuple(records),
            active=self._signing_key(actives[0]) if actives else None,
            published=tuple(Certificate.from_pem(r.cert_pem) for r in _publication_order(records)),
        )

    def refresh(self) -> bool:
        """Re-read the key states of every ring; True when anything changed."""
        records = self._store.list_keys()
        with self._lock:
            version = tuple((r.ring, r.kid, r.state) for r in records)
            if version == self._version:
                return False
            by_ring: dict[str, list[KeyRecord]] = {DEPLOYMENT_RING: []}
            for record in records:
                by_ring.setdefault(record.ring, []).append(record)
            self._state = ({ring: self._key_set(members) for ring, members in by_ring.items()}, {})
            self._version = version
            return True

    @property
    def current(self) -> KeySet:
        """The deployment ring."""
        return self._state[0].get(DEPLOYMENT_RING, EMPTY)

    def own(self, ring: str) -> KeySet:
        """One ring's own keys, without inheritance (the admin pages and the lifecycle read this)."""
        return self._state[0].get(ring, EMPTY)

    def view(self, ring: str) -> KeySet:
        """What a ring publishes and signs with: a biller ring inherits the deployment's until it has an active key."""
        if ring == DEPLOYMENT_RING:
            return self.current
        rings, views = self._state
        view = views.get(ring)
        if view is None:
            view = views[ring] = _inherit(rings.get(ring, EMPTY), rings.get(DEPLOYMENT_RING, EMPTY))
        return view

    def rings(self) -> tuple[str, ...]:
        """The rings that hold at least one key (the deployment ring always)."""
        return tuple(sorted(self._state[0]))

    def signing_key(self, ring: str = DEPLOYMENT_RING) -> SigningKey:
        active = self.view(ring).active
        if active is None:
            raise ConfigError("no active signing key: run `icbridge keys list` and activate one")
        return active

    @property
    def active(self) -> SigningKey:
        return self.signing_key(DEPLOYMENT_RING)

    def load_all_published(self) -> list[SigningKey]:
        """Load every published key of every ring (used by `icbridge check` to prove each file is usable)."""
        rings = self._state[0].values()
        return [self._signing_key(r) for ring in rings for r in _publication_order(list(ring.records))]
