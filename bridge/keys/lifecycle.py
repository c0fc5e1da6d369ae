"""The signing-key lifecycle: generate/import → stage → activate → retire → purge, and scheduled rotation.

States (bridge.keys.ring): ``generated`` (files exist, not yet published) →
``pending`` (published in metadata, not signing) → ``active`` (signs; exactly
one) → ``retiring`` (published, not signing) → ``retired`` (gone from
metadata, files kept for audit until ``purge``). Every move is a
compare-and-set on the store (``Store.update_key``), so two admins or nodes
racing cannot both win, and every move writes a ``key.transition`` audit row.
A refused move raises :class:`KeyLifecycleError` (or ConfigError for an
unusable key file) and leaves the key set unchanged.

The rollover guard reads the metadata-fetch log: before a pending key signs,
the admin sees which clients (IP + user agent) fetched metadata that listed
it, and is warned when none did (IC imports certificates only when its admin
re-saves the metadata URL). Time is always a parameter.

Every function works on one key ring (bridge.keys.ring): the deployment's by
default, or a biller's own (``ring=<biller>``), so a biller's rotation never
touches another biller's metadata or signatures. A key is found only in its
own ring; the overlap guard, the evidence and scheduled rotation are per ring.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from bridge import audit
from bridge.clock import Clock
from bridge.config import Settings
from bridge.errors import ConfigError, KeyLifecycleError, NotFound
from bridge.keys.material import (
    Certificate,
    generate_key_files,
    load_certificate_file,
    load_signing_key,
    private_key_pem,
    write_private_key,
)
from bridge.keys.ring import (
    ACTIVE,
    DEPLOYMENT_RING,
    PENDING,
    PUBLISHED_STATES,
    RETIRED,
    RETIRING,
    KeyRing,
    ring_label,
)
from bridge.store.base import AuditEvent, KeyRecord, Store

log = logging.getLogger(__name__)

GENERATED = "generated"
STATES = (GENERATED, PENDING, ACTIVE, RETIRING, RETIRED)
SCHEDULER = "scheduler"
_RACE = ("another admin or node changed the key set at the same time; nothing changed: "
         "run `icbridge keys list` and retry")


class NeedsForce(KeyLifecycleError):
    """A move refused only because ``keys.min_overlap`` has not passed: the admin may force it.

    The message names no control; each front end says how to force (``--force``, the console's checkbox).
    """


# --- reading ------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class KeyView:
    """A key as `icbridge keys list` shows it."""

    record: KeyRecord
    certificate: Certificate

    @property
    def kid(self) -> str:
        return self.record.kid

    @property
    def state(self) -> str:
        return self.record.state

    def days_to_expiry(self, now: datetime) -> int:
        return (self.certificate.not_after - now).days

    def as_dict(self, now: datetime) -> dict[str, Any]:
        cert, record = self.certificate, self.record
        return {
            "kid": record.kid, "state": record.state, "algorithm": "RSA", "size": cert.key_size,
            "not_before": cert.not_before.isoformat(), "not_after": cert.not_after.isoformat(),
            "fingerprint_sha256": cert.fingerprint, "days_to_expiry": self.days_to_expiry(now),
            "key_path": record.key_path, "ring": record.ring or None,
            **{name: value.isoformat() if value else None for name, value in (
                ("created_at", record.created_at), ("published_at", record.published_at),
                ("activated_at", record.activated_at), ("retiring_at", record.retiring_at),
                ("retired_at", record.retired_at))},
        }


def ring_records(store: Store, ring: str = DEPLOYMENT_RING) -> list[KeyRecord]:
    return [r for r in store.list_keys() if r.ring == ring]


def list_keys(store: Store, ring: str = DEPLOYMENT_RING) -> list[KeyView]:
    return [KeyView(r, Certificate.from_pem(r.cert_pem)) for r in ring_records(store, ring)]


def _option(ring: str) -> str:
    return f" --biller {ring}" if ring else ""


def find_key(store: Store, kid: str, ring: str = DEPLOYMENT_RING) -> KeyRecord:
    for record in store.list_keys():
        if record.kid == kid:
            if record.ring != ring:
                raise NotFound(f"signing key {kid} belongs to {ring_label(record.ring)}, not {ring_label(ring)}: "
                               f"run the command with{_option(record.ring) or 'out --biller'}")
            return record
    raise NotFound(f"no signing key {kid!r} in {ring_label(ring)}: run `icbridge keys list{_option(ring)}`")


def check_ring(store: Store, ring: str) -> None:
    """A biller ring needs its biller (and is published only at the biller's own endpoints)."""
    if ring and store.get_biller(ring) is None:
        raise NotFound(f"no biller named {ring!r}")


def _common_name(store: Store, settings: Settings, ring: str) -> str:
    """The certificate's CN: the entity ID that the ring's metadata names."""
    from bridge.billers import biller_from_record
    from bridge.endpoints import identity_at_biller

    if not ring:
        return settings.idp.resolved_entity_id
    record = store.get_biller(ring)
    if record is None:
        raise NotFound(f"no biller named {ring!r}")
    return identity_at_biller(settings, biller_from_record(record)).entity_id


# --- transitions --------------------------------------------------------------------------------

def _record_transition(store: Store, kid: str, old: str, new: str, *, now: datetime, actor: str,
                       note: str = "", ring: str = DEPLOYMENT_RING) -> None:
    detail = f"{kid}: {old} -> {new}" + (f" ({note})" if note else "")
    # A biller ring's transitions carry the biller, so its audit trail shows its own rotations.
    store.record_audit(AuditEvent(at=now, event=audit.KEY_TRANSITION, outcome="ok", actor=actor, detail=detail,
                                  biller=ring or None))
    log.info("signing key %s", detail, extra={"kid": kid, "from": old, "to": new, "actor": actor,
                                              "ring": ring or "deployment"})


def _move(store: Store, record: KeyRecord, new: KeyRecord) -> None:
    if not store.update_key(new, expected_state=record.state):
        raise KeyLifecycleError(_RACE)


def _require(record: KeyRecord, allowed: tuple[str, ...], action: str, hint: str) -> None:
    if record.state not in allowed:
        raise KeyLifecycleError(f"cannot {action} key {record.kid}: it is {record.state}; {hint}")


def _relative(settings: Settings, path: Path) -> str:
    return str(path.relative_to(settings.base_dir)) if path.is_relative_to(settings.base_dir) else str(path)


def add_signing_key(
    store: Store, settings: Settings, *, now: datetime, state: str, size: int | None = None,
    validity_days: int | None = None, ring: str = "", common_name: str | None = None,
) -> KeyRecord:
    """Generate a key pair in the instance's certs folder and record it in ``state`` (size/validity: keys.*).

    ``ring``: the deployment's ("") or a biller's own (bridge.keys.ring); ``common_name``: the entity ID
    the ring's metadata names (default: the deployment's)."""
    directory = settings.path(settings.keys.dir)
    key_path, _cert_path, cert = generate_key_files(
        directory,
        size=size or settings.keys.size,
        validity_days=validity_days or settings.keys.validity_days,
        common_name=common_name or settings.idp.resolved_entity_id,
        now=now,
        passphrase=settings.keys.passphrase,
    )
    relative = key_path.relative_to(settings.base_dir) if key_path.is_relative_to(settings.base_dir) else key_path
    record = KeyRecord(
        kid=cert.kid,
        state=state,
        cert_pem=cert.pem,
        key_path=str(relative),
        created_at=now,
        published_at=now if state != GENERATED else None,
        activated_at=now if state == ACTIVE else None,
        ring=ring,
    )
    store.add_key(record)
    return record


def generate(store: Store, settings: Settings, *, now: datetime, actor: str, size: int | None = None,
             validity_days: int | None = None, ring: str = DEPLOYMENT_RING) -> KeyRecord:
    """A new key pair in ``keys.dir``, recorded as ``generated`` (not yet published: run ``stage``)."""
    if size is not None and (size < 2048 or size % 256):
        raise KeyLifecycleError(f"--size {size}: RSA keys must be at least 2048 bits, in steps of 256")
    if validity_days is not None and validity_days < 1:
        raise KeyLifecycleError(f"--validity-days {validity_days}: must be at least 1")
    record = add_signing_key(store, settings, now=now, state=GENERATED, size=size, validity_days=validity_days,
                             ring=ring, common_name=_common_name(store, settings, ring))
    _record_transition(store, record.kid, "none", GENERATED, now=now, actor=actor, ring=ring)
    return record


def import_pair(store: Store, settings: Settings, key_file: Path, cert_file: Path, *, now: datetime,
                actor: str, ring: str = DEPLOYMENT_RING) -> KeyRecord:
    """Copy an existing PEM key and certificate into ``keys.dir`` (key 0600), recorded as ``generated``.

    The key must match the certificate, be readable only by its owner, and the
    certificate must not have expired.
    """
    check_ring(store, ring)
    certificate = load_certificate_file(cert_file)
    if certificate.not_after <= now:
        raise KeyLifecycleError(f"{cert_file}: certificate expired on {certificate.not_after:%Y-%m-%d}")
    signing_key = load_signing_key(key_file, certificate, passphrase=settings.keys.passphrase)
    if any(r.kid == certificate.kid for r in store.list_keys()):
        raise KeyLifecycleError(f"key {certificate.kid} is already in the key set")
    directory = settings.path(settings.keys.dir)
    key_path, cert_path = directory / f"{certificate.kid}.key", directory / f"{certificate.kid}.crt"
    if key_path.exists() or cert_path.exists():
        raise KeyLifecycleError(f"{key_path}: already exists; remove the stale files first")
    # Re-serialised (PKCS#8, encrypted with keys.passphrase when one is set) rather than copied byte for byte.
    write_private_key(key_path, private_key_pem(signing_key.private_key, settings.keys.passphrase))
    cert_path.write_text(certificate.pem)
    record = KeyRecord(kid=certificate.kid, state=GENERATED, cert_pem=certificate.pem,
                       key_path=_relative(settings, key_path), created_at=now, ring=ring)
    try:
        store.add_key(record)
    except Exception:
        key_path.unlink(missing_ok=True)
        cert_path.unlink(missing_ok=True)
        raise
    _record_transition(store, record.kid, "none", GENERATED, now=now, actor=actor, note=f"imported {cert_file}",
                       ring=ring)
    return record


def _check_published_where_ic_looks(store: Store, ring: str) -> None:
    """A biller's own keys are published only in its own metadata: IC must have been given those endpoints."""
    record = store.get_biller(ring) if ring else None
    if ring and (record is None or record.settings.get("idp_endpoints") != "per-biller"):
        raise KeyLifecycleError(
            f"biller {ring} uses the shared endpoints, where its own keys are not published: move it to its "
            f"own endpoints first (icbridge billers update {ring} --idp-endpoints per-biller; docs/per-biller.md)")


def stage(store: Store, kid: str, *, now: datetime, actor: str, ring: str = DEPLOYMENT_RING) -> KeyRecord:
    """generated → pending: the certificate appears in the ring's metadata; it does not sign yet."""
    record = find_key(store, kid, ring)
    _require(record, (GENERATED,), "stage", "only a generated key can be staged")
    _check_published_where_ic_looks(store, ring)
    staged = replace(record, state=PENDING, published_at=now)
    _move(store, record, staged)
    _record_transition(store, kid, GENERATED, PENDING, now=now, actor=actor, ring=ring)
    return staged


@dataclass(frozen=True, slots=True)
class ClientFetch:
    """The last time one client (IP + user agent) fetched metadata that listed a key."""

    client_ip: str | None
    user_agent: str | None
    last_fetch: datetime | None  # None: fetched metadata since staging, but never one listing the key

    def as_dict(self) -> dict[str, Any]:
        return {"client_ip": self.client_ip, "user_agent": self.user_agent,
                "last_fetch": self.last_fetch.isoformat() if self.last_fetch else None}


def rollover_evidence(store: Store, kid: str, *, since: datetime | None,
                      ring: str | None = None) -> list[ClientFetch]:
    """Per client, the last metadata fetch whose key list included ``kid`` (newest first).

    Only fetches of the ring's own metadata count (a document listing any key of ``kid``'s ring):
    fetching another biller's metadata says nothing about this ring's rollover.
    """
    records = store.list_keys()
    if ring is None:
        ring = next((r.ring for r in records if r.kid == kid), DEPLOYMENT_RING)
    ring_kids = {r.kid for r in records if r.ring == ring} | {kid}
    latest: dict[tuple[str | None, str | None], datetime | None] = {}
    for fetch in store.metadata_fetches(since=since):
        if ring_kids.isdisjoint(fetch.kids):
            continue
        client = (fetch.client_ip, fetch.user_agent)
        if kid in fetch.kids:
            latest[client] = fetch.at
        else:
            latest.setdefault(client, None)
    clients = [ClientFetch(ip, agent, at) for (ip, agent), at in latest.items()]
    return sorted(clients, key=lambda c: (c.last_fetch is None, -(c.last_fetch.timestamp() if c.last_fetch else 0)))


@dataclass(frozen=True, slots=True)
class Activation:
    record: KeyRecord
    previous: tuple[str, ...]
    evidence: tuple[ClientFetch, ...]
    warnings: tuple[str, ...] = field(default=())


def _published_for(record: KeyRecord, now: datetime) -> timedelta:
    return now - (record.published_at or now)


def _hours(delta: timedelta | int) -> str:
    seconds = delta.total_seconds() if isinstance(delta, timedelta) else delta
    return f"{seconds / 3600:.1f} h"


def _activation_warnings(record: KeyRecord, evidence: list[ClientFetch], *, now: datetime, min_overlap: int,
                         force: bool) -> list[str]:
    warnings: list[str] = []
    published = _published_for(record, now)
    if published < timedelta(seconds=min_overlap):
        if not force:
            raise NeedsForce(
                f"key {record.kid} has been published for {_hours(published)}, less than keys.min_overlap "
                f"({_hours(min_overlap)}); SPs may not have its certificate yet: wait, or force the activation"
            )
        warnings.append(f"forced: key {record.kid} published for only {_hours(published)} "
                        f"(keys.min_overlap is {_hours(min_overlap)}); SPs that have not refreshed will refuse it")
    if not any(c.last_fetch for c in evidence):
        warnings.append(f"no client has fetched metadata listing {record.kid} since it was staged; ask each SP "
                        "(IC: its admin re-saves the metadata URL) to import it before it signs")
    for client in evidence:
        if client.last_fetch is None:
            warnings.append(f"{client.client_ip} ({client.user_agent or 'no user agent'}) fetched metadata "
                            f"without {record.kid}")
    return warnings


def activate(store: Store, settings: Settings, kid: str, *, now: datetime, actor: str,
             force: bool = False, ring: str = DEPLOYMENT_RING) -> Activation:
    """pending → active; the previously active key becomes retiring.

    Refused: a key that is not pending, an expired or not-yet-valid
    certificate (even with ``force``), a private key that does not load, and
    (unless ``force``) a key published for less than ``keys.min_overlap``, unless no key of this store has
    ever signed (the first key: no SP can have imported an older certificate).
    """
    record = find_key(store, kid, ring)
    _require(record, (PENDING,), "activate",
             "stage it first (`icbridge keys stage KID`)" if record.state == GENERATED else "only a pending key can")
    certificate = Certificate.from_pem(record.cert_pem)
    if certificate.not_after <= now:
        raise KeyLifecycleError(f"cannot activate key {kid}: its certificate expired on "
                                f"{certificate.not_after:%Y-%m-%d %H:%M} UTC")
    if certificate.not_before > now:
        raise KeyLifecycleError(f"cannot activate key {kid}: its certificate is not valid before "
                                f"{certificate.not_before:%Y-%m-%d %H:%M} UTC")
    # Every node will load this file the moment the key is active: prove it loads here first.
    load_signing_key(settings.path(record.key_path), certificate, passphrase=settings.keys.passphrase)
    # Every ring counts here: a biller ring's first own key replaces the deployment's certificate at IC.
    records = store.list_keys()
    evidence = rollover_evidence(store, kid, since=record.published_at, ring=ring)
    if any(r.activated_at is not None or r.state in (ACTIVE, RETIRING) for r in records):
        warnings = _activation_warnings(record, evidence, now=now, min_overlap=settings.keys.min_overlap,
                                        force=force)
    else:  # the store's first signing key: no SP can hold an older certificate, so there is nothing to overlap
        warnings = []
    previous = [r for r in records if r.state == ACTIVE and r.ring == ring]
    active = replace(record, state=ACTIVE, activated_at=now)
    # The new key goes active first, then the old one steps down: there is never a moment with no signing
    # key (while both are active, the key ring keeps signing with the older one).
    _move(store, record, active)
    for old in previous:
        if not store.update_key(replace(old, state=RETIRING, retiring_at=now), expected_state=ACTIVE):
            store.update_key(record, expected_state=ACTIVE)  # lost the race: put ours back
            raise KeyLifecycleError(_RACE)
    note = "forced" if force and warnings and warnings[0].startswith("forced") else ""
    _record_transition(store, kid, PENDING, ACTIVE, now=now, actor=actor, note=note, ring=ring)
    for old in previous:
        _record_transition(store, old.kid, ACTIVE, RETIRING, now=now, actor=actor, note=f"replaced by {kid}",
                           ring=ring)
    return Activation(active, tuple(r.kid for r in previous), tuple(evidence), tuple(warnings))


@dataclass(frozen=True, slots=True)
class Retirement:
    record: KeyRecord
    warnings: tuple[str, ...] = ()


def _retire_warnings(record: KeyRecord, *, now: datetime, min_overlap: int, force: bool) -> list[str]:
    """A key replaced less than ``keys.min_overlap`` ago stays published unless forced: SPs that have not
    imported its successor yet still verify with it, and it is the way back if the new key is refused."""
    if record.state != RETIRING or record.retiring_at is None:
        return []
    since = now - record.retiring_at
    if since >= timedelta(seconds=min_overlap):
        return []
    text = (f"key {record.kid} stopped signing only {_hours(since)} ago, less than keys.min_overlap "
            f"({_hours(min_overlap)}); SPs that have not imported its successor still need its certificate")
    if not force:
        raise NeedsForce(f"{text}: wait, or force the retirement")
    return [f"forced: {text}"]


def retire(store: Store, settings: Settings, kid: str, *, now: datetime, actor: str,
           force: bool = False, ring: str = DEPLOYMENT_RING) -> Retirement:
    """retiring, pending or generated → retired: gone from the metadata, files kept until ``purge``.

    Refused (unless ``force``) within ``keys.min_overlap`` of the activation that replaced the key.
    """
    record = find_key(store, kid, ring)
    if record.state == ACTIVE:
        raise KeyLifecycleError(f"cannot retire key {kid}: it is the active signing key; activate its "
                                "successor first (it then becomes retiring)")
    _require(record, (RETIRING, PENDING, GENERATED), "retire", "it is already retired")
    warnings = _retire_warnings(record, now=now, min_overlap=settings.keys.min_overlap, force=force)
    retired = replace(record, state=RETIRED, retired_at=now)
    _move(store, record, retired)
    _record_transition(store, kid, record.state, RETIRED, now=now, actor=actor, note="forced" if warnings else "",
                       ring=ring)
    return Retirement(retired, tuple(warnings))


def _files(settings: Settings, record: KeyRecord) -> list[Path]:
    key_path = settings.path(record.key_path)
    return [key_path, key_path.with_suffix(".crt")]


def purge(store: Store, settings: Settings, kid: str, *, now: datetime, actor: str,
          ring: str = DEPLOYMENT_RING) -> list[Path]:
    """Delete a retired (or never published) key's record and its files in ``keys.dir``; return the files removed."""
    record = find_key(store, kid, ring)
    _require(record, (RETIRED, GENERATED), "purge", "retire it first (`icbridge keys retire KID`)")
    directory = settings.path(settings.keys.dir).resolve()
    files = [p for p in _files(settings, record) if p.resolve().is_relative_to(directory)]
    store.delete_key(kid)
    removed = []
    for path in files:
        if path.exists():
            path.unlink()
            removed.append(path)
    _record_transition(store, kid, record.state, "purged", now=now, actor=actor, ring=ring)
    return removed


# --- background jobs: scheduled rotation and the daily expiry warning ----------------------------

def due_transitions(store: Store, settings: Settings, *, now: datetime) -> list[str]:
    """Perform the transitions scheduled rotation calls for at ``now``, ring by ring; one line per transition.

    A biller ring's lines start with ``biller NAME:``. A biller ring with no active key of its own
    inherits the deployment's, so it has nothing to rotate until its first key is staged.
    """
    done: list[str] = []
    for ring in sorted({DEPLOYMENT_RING, *(r.ring for r in store.list_keys())}):
        prefix = f"biller {ring}: " if ring else ""
        done.extend(prefix + line for line in _due_in_ring(store, settings, now=now, ring=ring))
    return done


def _due_in_ring(store: Store, settings: Settings, *, now: datetime, ring: str) -> list[str]:
    """The scheduled transitions of one ring:

    - no pending key and the active certificate expires within ``rotation.publish_ahead``: generate + stage;
    - a pending key published for ``rotation.overlap`` (and ``keys.min_overlap``) and fetched by at least one
      client (the rollover guard): activate it; with no fetch at all, hold it and say so every check;
    - a retiring key retiring for ``rotation.overlap`` (and ``keys.min_overlap``): retire it.
    """
    rotation, done = settings.rotation, []
    overlap = timedelta(seconds=max(rotation.overlap, settings.keys.min_overlap))
    records = ring_records(store, ring)
    option = _option(ring)
    for record in records:
        if record.state == RETIRING and record.retiring_at and now - record.retiring_at >= overlap:
            retire(store, settings, record.kid, now=now, actor=SCHEDULER, ring=ring)
            done.append(f"retired {record.kid} (retiring for {_hours(now - record.retiring_at)})")
    pending = [r for r in records if r.state == PENDING]
    for record in pending[:1]:
        if _published_for(record, now) < overlap:
            continue
        if not any(c.last_fetch for c in rollover_evidence(store, record.kid, since=record.published_at,
                                                           ring=ring)):
            # Unattended, never switch to a key no SP has seen: that would lock payers out.
            done.append(f"holding {record.kid}: no client has fetched metadata listing it yet; ask each SP to "
                        f"refresh (IC: re-save the metadata URL) or run "
                        f"`icbridge keys activate {record.kid}{option}`")
            continue
        activation = activate(store, settings, record.kid, now=now, actor=SCHEDULER, ring=ring)
        done.append(f"activated {record.kid} (published for {_hours(_published_for(record, now))})")
        done.extend(f"warning: {w}" for w in activation.warnings)
    active = [r for r in records if r.state == ACTIVE]
    if active and not pending and not any(r.state == GENERATED for r in records):
        expires = Certificate.from_pem(active[0].cert_pem).not_after
        if expires - now <= timedelta(seconds=rotation.publish_ahead):
            generated = generate(store, settings, now=now, actor=SCHEDULER, ring=ring)
            staged = stage(store, generated.kid, now=now, actor=SCHEDULER, ring=ring)
            done.append(f"generated and staged {staged.kid} (active {active[0].kid} expires {expires:%Y-%m-%d})")
            _yield_to_an_earlier_twin(store, staged, now=now, window=rotation.check_interval)
    return done


def _yield_to_an_earlier_twin(store: Store, ours: KeyRecord, *, now: datetime, window: int) -> None:
    """Two nodes may stage a key in the same check: whoever looks last keeps the oldest and retires the rest.

    Only keys created within one check ``window`` of ours count (an admin's older staged key is the oldest
    anyway); a lost compare-and-set means another node already did it.
    """
    recent = [r for r in ring_records(store, ours.ring)
              if r.state == PENDING and r.created_at >= ours.created_at - timedelta(seconds=window)]
    recent.sort(key=lambda r: (r.created_at, r.kid))
    for twin in recent[1:]:
        if store.update_key(replace(twin, state=RETIRED, retired_at=now), expected_state=PENDING):
            _record_transition(store, twin.kid, PENDING, RETIRED, now=now, actor=SCHEDULER,
                               note=f"another node staged {recent[0].kid} in the same check", ring=ours.ring)


def expiry_warnings(store: Store, settings: Settings, *, now: datetime) -> list[str]:
    """One line per published certificate (of every ring) that has expired or expires within
    keys.expiry_warning_days; a biller ring's lines start with ``biller NAME:``."""
    lines = []
    horizon = timedelta(days=settings.keys.expiry_warning_days)
    views = [KeyView(r, Certificate.from_pem(r.cert_pem)) for r in store.list_keys()]
    for view in views:
        if view.state not in PUBLISHED_STATES:
            continue
        prefix = f"biller {view.record.ring}: " if view.record.ring else ""
        left = view.certificate.not_after - now
        if left <= timedelta(0):
            lines.append(f"{prefix}{view.state} signing certificate {view.kid} expired on "
                         f"{view.certificate.not_after:%Y-%m-%d}")
        elif left < horizon and view.state != RETIRING:
            lines.append(f"{prefix}{view.state} signing certificate {view.kid} expires in {left.days} days "
                         f"({view.certificate.not_after:%Y-%m-%d}); rotate it (docs/rotation-runbook.md)")
    return lines


class _Periodic:
    """A background-loop job (called every few seconds) that does its work once per ``interval``."""

    def __init__(self, name: str, interval: int, work: Callable[[], None], clock: Clock) -> None:
        self.name, self.interval, self.work, self.clock = name, interval, work, clock
        self.last_run: datetime | None = None

    def __call__(self) -> None:
        now = self.clock()
        if self.last_run is not None and now - self.last_run < timedelta(seconds=self.interval):
            return
        self.last_run = now
        self.work()

    def __repr__(self) -> str:
        return f"<job {self.name} every {self.interval}s>"


def rotation_job(store: Store, settings: Settings, keyring: KeyRing, *, now: datetime) -> None:
    """One scheduled-rotation pass; a refusal (e.g. a missing key file) is logged, and retried next check."""
    try:
        for line in due_transitions(store, settings, now=now):
            log.warning("scheduled rotation: %s", line)
    except (KeyLifecycleError, ConfigError, NotFound) as exc:
        log.error("scheduled rotation: %s", exc.detail)
    keyring.refresh()


def expiry_warning_job(store: Store, settings: Settings, *, now: datetime) -> None:
    for line in expiry_warnings(store, settings, now=now):
        log.warning("key expiry: %s", line)


def key_jobs(store: Store, settings: Settings, keyring: KeyRing, *, clock: Clock) -> list[Callable[[], None]]:
    """The jobs open_instance registers: the daily expiry warning, and rotation when ``rotation.enabled``."""
    jobs: list[Callable[[], None]] = [
        _Periodic("key-expiry-warning", 86400, lambda: expiry_warning_job(store, settings, now=clock()), clock),
    ]
    if settings.rotation.enabled:
        jobs.append(_Periodic("key-rotation", settings.rotation.check_interval,
                              lambda: rotation_job(store, settings, keyring, now=clock()), clock))
    return jobs
