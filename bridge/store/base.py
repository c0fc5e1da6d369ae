"""The storage interface every backend implements, and the records it keeps.

One small interface (in the spirit of crewjam/saml's and authlib's storage
seams): the rest of the bridge never writes SQL. Backends: ``sqlite`` (the
embedded default) and ``postgres`` (several nodes); ``redis`` may back the
single-use set. All times are timezone-aware UTC datetimes passed in by the
caller, so expiry is testable without sleeping.

Every method raises :class:`bridge.errors.StoreUnavailable` when the backend
cannot answer; callers fail closed on it (no assertion without its audit row).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """A signing key's lifecycle state. The private key stays a file; only its path is stored."""

    kid: str
    state: str  # pending | active | retiring | retired
    cert_pem: str
    key_path: str
    created_at: datetime
    published_at: datetime | None = None  # first became pending (visible in metadata)
    activated_at: datetime | None = None
    retiring_at: datetime | None = None
    retired_at: datetime | None = None
    ring: str = ""  # DEPLOYMENT_RING (""), or the name of the biller whose own ring it belongs to


@dataclass(frozen=True, slots=True)
class BillerRecord:
    """A biller (tenant). ``settings`` holds the JSON-able biller options (see bridge.billers)."""

    name: str
    biller_guid: str
    sp_entity_id: str
    settings: dict[str, Any] = field(default_factory=dict)
    created_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class ApiKeyRecord:
    """A partner API key. Only a hash of the secret is kept; ``key_id`` is the public prefix."""

    key_id: str
    biller: str
    secret_hash: str
    created_at: datetime
    revoked_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One line of the audit trail. Never holds a ticket, an assertion or a secret."""

    at: datetime
    event: str  # e.g. login.issued, login.refused, ticket.consumed, key.activated
    outcome: str  # ok | refused | error
    biller: str | None = None
    sp: str | None = None
    account: str | None = None
    email: str | None = None
    login_type: str | None = None
    flow: str | None = None
    client_ip: str | None = None
    actor: str | None = None
    detail: str | None = None


@dataclass(frozen=True, slots=True)
class OnceItem:
    """One caller's single-use mark and the audit row that goes with it (Store.use_once_many)."""

    namespace: str
    key: str
    expires_at: datetime
    audit: AuditEvent | None = None


@dataclass(frozen=True, slots=True)
class MetadataFetch:
    """One GET of the IdP metadata: who fetched it and which key IDs it listed."""

    at: datetime
    client_ip: str | None
    user_agent: str | None
    kids: tuple[str, ...]


class Store(Protocol):
    """What the bridge needs from durable state."""

    # lifecycle
    def migrate(self) -> None:
        """Create or upgrade the schema to the package's newest version."""

    def ping(self) -> None:
        """Raise StoreUnavailable unless the backend takes a durable write."""

    def close(self) -> None: ...

    # single use: tickets, AuthnRequest IDs, assertion IDs
    def use_once(
        self, namespace: str, key: str, expires_at: datetime, *, audit: AuditEvent | None = None
    ) -> bool:
        """Atomically mark ``key`` used; True the first time, False on every later call.

        ``audit`` is recorded in the same transaction as the mark, and only with a new mark."""

    def use_once_many(self, items: Sequence[OnceItem]) -> list[bool]:
        """``use_once`` for each item, all in one transaction (one commit); StoreUnavailable fails them all."""

    # leases: short exclusive holds shared by every node
    def acquire_lease(self, name: str, holder: str, *, now: datetime, expires_at: datetime) -> bool:
        """True when ``holder`` now holds ``name`` (it was free, or its last holder's lease had expired)."""

    def release_lease(self, name: str, holder: str) -> None:
        """Release ``name`` if ``holder`` still holds it."""

    # pending AuthnRequests awaiting a partner login
    def put_pending(self, pending_id: str, data: dict[str, Any], expires_at: datetime) -> None: ...

    def take_pending(self, pending_id: str, now: datetime) -> dict[str, Any] | None:
        """Atomically fetch and delete; None when absent or expired."""

    # signing-key lifecycle
    def list_keys(self) -> list[KeyRecord]: ...

    def add_key(self, record: KeyRecord) -> None: ...

    def update_key(self, record: KeyRecord, *, expected_state: str) -> bool:
        """Compare-and-set on state; False when another node moved it first."""

    def delete_key(self, kid: str) -> None: ...

    # billers and their API keys
    def put_biller(self, record: BillerRecord) -> None:
        """Insert or replace."""

    def get_biller(self, name: str) -> BillerRecord | None: ...

    def get_biller_by_guid(self, biller_guid: str) -> BillerRecord | None: ...

    def list_billers(self) -> list[BillerRecord]: ...

    def delete_biller(self, name: str) -> bool: ...

    def add_api_key(self, record: ApiKeyRecord) -> None: ...

    def get_api_key(self, key_id: str) -> ApiKeyRecord | None: ...

    def revoke_api_keys(self, biller: str, at: datetime) -> int: ...

    # audit trail
    def record_audit(self, event: AuditEvent) -> None: ...

    def audit_events(
        self, *, since: datetime | None = None, biller: str | None = None, limit: int | None = None,
        event: str | None = None,
    ) -> list[AuditEvent]:
        """Oldest first; ``event`` is a name (``login.issued``) or a family (``login``)."""

    # rollover guard
    def record_metadata_fetch(self, fetch: MetadataFetch) -> None: ...

    def metadata_fetches(self, *, since: datetime | None = None) -> list[MetadataFetch]: ...

    # rate limiting (fixed windows, shared by every node)
    def hit(self, bucket: str, window_start: datetime, expires_at: datetime, count: int = 1) -> int:
        """Add ``count`` hits to ``bucket`` for the window; return the count so far (every node's)."""

    # session revocations: what ends a session before its cookie does (bridge.session_state)
    def revoke_sessions(self, scope: str, not_before: datetime, expires_at: datetime) -> None:
        """Sessions of ``scope`` that started before ``not_before`` are revoked (kept until ``expires_at``)."""

    def sessions_revoked_before(self, scopes: Sequence[str]) -> int | None:
        """The latest ``not_before`` over ``scopes`` in microseconds since the epoch, or None."""

    # change versions: what a node's in-memory cache polls (bridge.store_cache)
    def change_versions(self) -> dict[str, int]:
        """Each topic's version, bumped by the database itself in the same transaction as any insert,
        update or delete of the topic's table: ``billers`` and ``session_revocations``."""

    # housekeeping
    def purge_expired(self, now: datetime, *, audit_before: datetime | None = None) -> int:
        """Drop expired single-use marks, pending requests, rate windows and leases.

        Audit rows older than ``audit_before`` go too (the retention setting)."""
