"""Preflight: everything ``icbridge check`` (and ``icbridge serve`` before it starts) can find wrong.

Each part runs on its own and reports every problem it finds, one line each, so one run shows all
of them: the configuration (every invalid setting), the file modes of the configuration and the
private keys, each SP metadata document (file and line for malformed XML, why an ACS is unusable),
the store, and each signing key. *Problems* make the instance unusable (exit 1; ``serve`` refuses
to start); *warnings* do not, but say what to fix (e.g. inline secrets in a configuration file
others can read).
"""

from __future__ import annotations

import stat
import tomllib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bridge.billers import SIMULATOR_SP_PATH
from bridge.clock import utcnow
from bridge.config import Settings, load_settings
from bridge.errors import BridgeError, ConfigError
from bridge.keys.material import Certificate, load_signing_key
from bridge.keys.ring import ACTIVE, PENDING, RETIRING
from bridge.store import open_store
from bridge.store.base import Store
from bridge.trust.documents import check_document
from bridge.trust.metadata_sources import MetadataSources
from bridge.trust.service_providers import http_acs_allowed

SECRET_REFERENCES = ("env:", "file:")
PUBLISHED = (PENDING, ACTIVE, RETIRING)


@dataclass
class Findings:
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def usable(self) -> bool:
        return not self.problems


def check_instance(path: Path, *, now: datetime | None = None) -> Findings:
    """Every problem and warning for the instance whose configuration is ``path``."""
    found = Findings()
    found.warnings += config_file_warnings(path)
    try:
        settings = load_settings(path)
    except ConfigError as exc:
        found.problems += exc.detail.splitlines()
        return found
    known = _metadata(settings, found)
    _store(settings, found, known, now or utcnow())
    return found


# --- the configuration file ------------------------------------------------------------------------

def inline_secrets(raw: dict[str, Any]) -> list[str]:
    """The settings in a parsed bridge.toml that hold a secret itself rather than an env:/file: reference."""
    found = []
    for section in ("tickets", "session", "invoicecloud"):
        values = raw.get(section, {}).get("secrets", []) if isinstance(raw.get(section), dict) else []
        if isinstance(values, list) and any(not str(v).startswith(SECRET_REFERENCES) for v in values):
            found.append(f"{section}.secrets")
    passphrase = raw.get("keys", {}).get("passphrase") if isinstance(raw.get("keys"), dict) else None
    if isinstance(passphrase, str) and not passphrase.startswith(SECRET_REFERENCES):
        found.append("keys.passphrase")
    store = raw.get("store", {}) if isinstance(raw.get("store"), dict) else {}
    for name in ("url", "redis_url"):
        value = store.get(name)
        if isinstance(value, str) and _has_password(value):
            found.append(f"store.{name} (password)")
    return found


def _has_password(url: str) -> bool:
    try:
        return urlsplit(url).password is not None
    except ValueError:
        return False


def config_file_warnings(path: Path) -> list[str]:
    """A configuration others can read must not hold secrets; one others can write is worse."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
        raw = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        return []  # load_settings reports an unreadable or invalid file
    warnings = []
    if mode & (stat.S_IWGRP | stat.S_IWOTH):
        warnings.append(f"{path}: writable by group or others (mode {mode:04o}): whoever can edit it decides "
                        f"which SPs are trusted; run: chmod 600 {path}")
    secrets = inline_secrets(raw)
    if secrets and mode & (stat.S_IRGRP | stat.S_IROTH):
        warnings.append(f"{path}: readable by group or others (mode {mode:04o}) and holds inline secrets "
                        f"({', '.join(secrets)}); run: chmod 600 {path}, or use \"env:NAME\" / \"file:PATH\"")
    return warnings


# --- SP metadata -----------------------------------------------------------------------------------

def _metadata(settings: Settings, found: Findings) -> set[str] | None:
    """Check each local metadata document on its own, then the sources together; the trusted entity IDs."""
    try:
        sources = MetadataSources(settings)
    except ConfigError as exc:
        found.problems += exc.detail.splitlines()
        return None
    now, allow_http = utcnow(), http_acs_allowed(settings)
    bad = 0
    for state in (s for s in sources.states if not s.is_url):
        for document in state.local_files():
            try:
                checked = check_document(document.read_bytes(), label=str(document), pin=state.pin, now=now,
                                         allow_http_for=allow_http)
            except (OSError, BridgeError) as exc:
                bad += 1
                found.problems.append(exc.detail if isinstance(exc, BridgeError) else f"{document}: {exc}")
                continue
            found.warnings += [w for sp in checked.providers for w in sp.warnings]
    if bad:
        return None  # the registry would refuse to load; each document's problem is reported above
    try:
        registry = sources.load()
    except BridgeError as exc:
        found.problems += exc.detail.splitlines()
        return None
    for name, problem in sources.problems().items():
        found.warnings.append(f"metadata source {name}: {problem}")
    known = {sp.entity_id for sp in registry}
    if settings.simulator.enabled:
        known.add(settings.idp.base_url + SIMULATOR_SP_PATH)
    if not known:
        found.problems.append(f"{settings.path(settings.metadata.dir)}: no trusted SP metadata (*.xml) found")
    return known


# --- store and keys --------------------------------------------------------------------------------

def _store(settings: Settings, found: Findings, known: set[str] | None, now: datetime) -> None:
    try:
        store = open_store(settings)
        try:
            store.migrate()
            _keys(settings, store, found, now)
            if known is not None:
                found.problems += [f"biller {r.name}: SP {r.sp_entity_id} has no trusted metadata"
                                   for r in store.list_billers() if r.sp_entity_id not in known]
        finally:
            store.close()
    except BridgeError as exc:
        found.problems.append(f"store: {exc.detail}")


def _keys(settings: Settings, store: Store, found: Findings, now: datetime) -> None:
    records = [r for r in store.list_keys() if r.state in PUBLISHED]
    if not any(r.state == ACTIVE for r in records):
        found.problems.append("keys: no active signing key (`icbridge keys list`; activate a pending one)")
    for record in records:
        certificate = Certificate.from_pem(record.cert_pem)
        try:  # every node loads every published key: each file must be private, readable and match
            load_signing_key(settings.path(record.key_path), certificate, passphrase=settings.keys.passphrase)
        except ConfigError as exc:
            found.problems.append(f"keys: {record.state} key {record.kid}: {exc.detail}")
        if record.state == ACTIVE and certificate.not_after <= now:
            found.problems.append(f"keys: active certificate {record.kid} expired on "
                                  f"{certificate.not_after:%Y-%m-%d}")
