"""What a process keeps of the store in memory: its billers and which sessions it found live (issue 21).

A login needs every biller (to find the one an AuthnRequest is for) and whether its session was revoked;
reading both from the store on every login was most of the store traffic and CPU of a login. A process
now keeps them here and asks the store only what changed:

- The database bumps a counter per topic in the same transaction as any insert, update or delete of
  ``billers`` or ``session_revocations`` (triggers, migration 0080_change_versions), so no write path,
  on any node, the CLI or ``psql`` included, can forget to announce a change.
- :meth:`StoreCache.poll` (blocking; the web app runs it off the event loop every ``store.cache_refresh``
  seconds, bridge.web.app) reads those counters, one small read. When ``billers`` moved it reloads every
  biller into a new immutable :class:`BillerSnapshot`; when ``session_revocations`` moved it forgets
  every session it had found live.
- **Fail closed.** The cache vouches for nothing once its last successful poll started ``stale_after``
  (three refreshes) ago: :meth:`StoreCache.billers` returns None, :meth:`StoreCache.known_live` False,
  and the caller reads the store. A failed poll is logged once (and once more when polls recover) and
  never raises.
- **This process's own changes take effect at once**: whoever writes a biller or a revocation here calls
  :meth:`StoreCache.invalidate_billers` / :meth:`StoreCache.invalidate_sessions` (bridge.session_state's
  ``revoke*`` do when given the cache). A poll that began before such a call does not install what it read.

So a biller removed or changed, or a session revoked, on another process or node stops being honoured here
within one refresh plus one poll, and never later than ``stale_after`` after the change (SECURITY.md,
"Cached billers and sessions"). Signing keys keep their own refresh (bridge.keys.ring, every 5 s).

The login's use, on the event loop (no store I/O)::

    snapshot = cache.billers()            # None: read the store off the loop
    live = session_state.live_from_memory(ref, cache, now=now, absolute_lifetime=lifetime)  # None: store

and off the loop, ``session_state.is_live(store, ref, ..., cache=cache)`` reads the store and remembers
a live answer for the next login (tagged with the revocation version read *before* the store read, so a
revocation racing the read is never remembered as live).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType

from bridge.billers import Biller, biller_from_record
from bridge.errors import StoreUnavailable
from bridge.session_state import SessionRef
from bridge.store.base import Store

log = logging.getLogger("bridge.store_cache")

BILLERS = "billers"
SESSION_REVOCATIONS = "session_revocations"
TOPICS = (BILLERS, SESSION_REVOCATIONS)
STALE_AFTER_REFRESHES = 3  # the cache vouches for nothing once its last good poll is this many refreshes old
MEMO_LIMIT = 50_000  # sessions remembered live (least recently used dropped first): a few MB at most


class BillerSnapshot:
    """Every biller as of one ``billers`` version; immutable, shared by every request that reads it."""

    __slots__ = ("_all", "_by_guid", "_by_name", "_by_sp", "version")

    def __init__(self, billers: Iterable[Biller], *, version: int) -> None:
        self.version = version
        self._all = tuple(sorted(billers, key=lambda b: b.name))
        self._by_name: Mapping[str, Biller] = MappingProxyType({b.name: b for b in self._all})
        self._by_guid: Mapping[str, Biller] = MappingProxyType({b.biller_guid: b for b in self._all})
        by_sp: dict[str, list[Biller]] = {}
        for biller in self._all:
            by_sp.setdefault(biller.sp_entity_id, []).append(biller)
        self._by_sp: Mapping[str, tuple[Biller, ...]] = MappingProxyType({k: tuple(v) for k, v in by_sp.items()})

    def get(self, name: str) -> Biller | None:
        return self._by_name.get(name)

    def by_guid(self, biller_guid: str) -> Biller | None:
        """``biller_guid`` as stored (lower case, as bridge.billers.validate_biller writes it)."""
        return self._by_guid.get(biller_guid)

    def on_sp(self, sp_entity_id: str) -> tuple[Biller, ...]:
        """The billers bound to one SP entity ID, by name (what bridge.endpoints.shared_candidates filters)."""
        return self._by_sp.get(sp_entity_id, ())

    def all(self) -> tuple[Biller, ...]:
        """Every biller, by name."""
        return self._all

    def __len__(self) -> int:
        return len(self._all)


def read_billers(store: Store, *, version: int) -> BillerSnapshot:
    """Every biller, read from the store now (blocking), as a snapshot of ``version``."""
    return BillerSnapshot((biller_from_record(r) for r in store.list_billers()), version=version)


class StoreCache:
    """Billers and session liveness from memory, refreshed by :meth:`poll`; thread-safe.

    ``monotonic`` is injectable so tests can age the cache without sleeping.
    """

    def __init__(
        self, store: Store, *, refresh: float = 1.0, stale_after: float | None = None,
        memo_limit: int = MEMO_LIMIT, monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if refresh <= 0 or memo_limit < 1:
            raise ValueError("refresh must be positive and memo_limit at least 1")
        self.store = store
        self.refresh = refresh
        self.stale_after = stale_after if stale_after is not None else STALE_AFTER_REFRESHES * refresh
        self._memo_limit = memo_limit
        self._monotonic = monotonic
        self._lock = threading.Lock()  # guards everything below; held only for dict work, never for I/O
        self._poll_lock = threading.Lock()  # one poll at a time
        self._fresh_at: float | None = None  # monotonic start of the last successful poll
        self._failing = False
        # billers
        self._snapshot: BillerSnapshot | None = None
        self._billers_version: int | None = None
        self._billers_generation = 0  # bumped by invalidate_billers: a poll already under way installs nothing
        # session liveness
        self._revocations_version: int | None = None
        self._epoch = 0  # bumped whenever revocations may have changed: a remembered answer must carry the current one
        self._live: OrderedDict[SessionRef, None] = OrderedDict()
        self.reloads = 0  # biller reloads so far (tests, metrics)

    # --- the background poll --------------------------------------------------------------------------

    def poll(self) -> bool:
        """Read the change versions and reload what moved; True when the store answered. Never raises."""
        with self._poll_lock:
            started = self._monotonic()
            try:
                self._poll(started)
            except StoreUnavailable as exc:
                self._failed(f"store unavailable: {exc.detail}")
                return False
            except Exception as exc:  # a biller that no longer loads, a missing topic: fail closed, keep polling
                self._failed(f"{type(exc).__name__}: {exc}", exc_info=True)
                return False
            if self._failing:
                self._failing = False
                log.info("store cache: polls succeed again; answering from memory")
            return True

    def _poll(self, started: float) -> None:
        versions = self.store.change_versions()
        missing = [topic for topic in TOPICS if topic not in versions]
        if missing:
            raise LookupError(f"the store has no change version for {', '.join(missing)} (run icbridge db upgrade)")
        billers_version, revocations_version = versions[BILLERS], versions[SESSION_REVOCATIONS]
        with self._lock:
            generation = self._billers_generation
            reload = self._snapshot is None or billers_version != self._billers_version
        snapshot = None
        if reload:  # read after the versions: a change committed in between is reloaded again next poll
            snapshot = read_billers(self.store, version=billers_version)
        with self._lock:
            if snapshot is not None:
                self.reloads += 1
                if generation == self._billers_generation:
                    self._snapshot, self._billers_version = snapshot, billers_version
                # else: this process changed a biller during the read; the next poll reloads (snapshot stays None)
            if revocations_version != self._revocations_version:
                self._revocations_version = revocations_version
                self._forget_live()
            self._fresh_at = started

    def _failed(self, detail: str, *, exc_info: bool = False) -> None:
        if not self._failing:
            self._failing = True
            log.warning("store cache: poll failed (%s); memory stops vouching %.1f s after the last good poll, "
                        "then logins read the store", detail, self.stale_after, exc_info=exc_info)

    def fresh(self) -> bool:
        """The last successful poll started less than ``stale_after`` ago."""
        with self._lock:
            return self._is_fresh()

    def _is_fresh(self) -> bool:
        return self._fresh_at is not None and self._monotonic() - self._fresh_at < self.stale_after

    # --- billers --------------------------------------------------------------------------------------

    def billers(self) -> BillerSnapshot | None:
        """Every biller from memory; None when the cache cannot vouch for them (read the store)."""
        with self._lock:
            return self._snapshot if self._is_fresh() else None

    def invalidate_billers(self) -> None:
        """This process changed a biller: drop the snapshot now (the next poll reloads it)."""
        with self._lock:
            self._billers_generation += 1
            self._snapshot = None
            self._billers_version = None

    # --- session liveness -----------------------------------------------------------------------------

    def revocation_version(self) -> int | None:
        """A token to pass to :meth:`remember_live`, taken *before* reading the store; None when stale."""
        with self._lock:
            return self._epoch if self._is_fresh() else None

    def known_live(self, ref: SessionRef) -> bool:
        """True only when this session was found not revoked at the current revocation version and the
        cache is fresh. Says nothing of the absolute lifetime: check that first (session_state does)."""
        with self._lock:
            if ref not in self._live or not self._is_fresh():
                return False
            self._live.move_to_end(ref)
            return True

    def remember_live(self, ref: SessionRef, version: int) -> bool:
        """The store said ``ref`` is live, read after :meth:`revocation_version` gave ``version``.

        Remembered only if no revocation was noticed since (and the cache is fresh); True when remembered."""
        with self._lock:
            if version != self._epoch or not self._is_fresh():
                return False
            self._live[ref] = None
            self._live.move_to_end(ref)
            while len(self._live) > self._memo_limit:
                self._live.popitem(last=False)
            return True

    def invalidate_sessions(self) -> None:
        """This process wrote a revocation: forget every session found live, and refuse answers read before now."""
        with self._lock:
            self._forget_live()

    def _forget_live(self) -> None:
        self._epoch += 1
        self._live.clear()

    def remembered(self) -> int:
        """How many sessions are remembered live (tests, metrics)."""
        with self._lock:
            return len(self._live)

    def invalidate(self) -> None:
        """Both of the above."""
        self.invalidate_billers()
        self.invalidate_sessions()
