"""A bridge instance: its folder on disk (``icbridge init``) and its running services (``open_instance``).

``open_instance`` wires the explicit dependencies once (settings, store, SP
registry, key ring, IdP, session codec, clock, id factory); the web app and
the CLI both use it, so they cannot disagree about how the bridge is built.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import wraps
from pathlib import Path
from typing import Any

from bridge import audit
from bridge.billers import (
    SIMULATOR_SP_PATH,
    Biller,
    default_link_base,
    issue_api_key,
    validate_biller,
)
from bridge.clock import Clock, IdFactory, new_id, utcnow
from bridge.config import DEFAULT_CONFIG_NAME, Settings, hash_admin_secret, load_settings
from bridge.delegation.sessions import SessionCodec
from bridge.delegation.tickets import partner_secret
from bridge.errors import ConfigError
from bridge.fetch_log import FetchLog
from bridge.idp import METADATA_PATH, SSO_PATH, IdentityProvider
from bridge.invoicecloud import credentials
from bridge.keys.lifecycle import add_signing_key, key_jobs
from bridge.keys.ring import ACTIVE, KeyRing
from bridge.metrics import Metrics
from bridge.ratelimit import RateLimiter
from bridge.steps import StepTimer
from bridge.store import STORE_SCHEMES, display_url, open_store, open_store_url
from bridge.store.base import Store
from bridge.store.batch_writer import BatchWriter
from bridge.store.sqlite import sqlite_path
from bridge.store_cache import StoreCache
from bridge.trust.metadata_sources import MetadataSources, RefreshJob
from bridge.trust.service_providers import ServiceProviderRegistry

DEMO_BILLER = "demo"
DEMO_BILLER_GUID = "c09d08fb-a969-4778-bb58-b46a8e9224e7"  # IC's sample GUID (DOMAIN.md)
DEFAULT_STORE_URL = "sqlite:///bridge.db"


@dataclass
class Instance:
    settings: Settings
    store: Store
    registry: ServiceProviderRegistry
    keyring: KeyRing
    idp: IdentityProvider
    sessions: SessionCodec
    metrics: Metrics
    fetch_log: FetchLog
    limiter: RateLimiter
    # Billers and session liveness from memory, polled every store.cache_refresh s (bridge.store_cache): the
    # login reads these on the event loop and goes to the store only when cache.billers() is None.
    store_cache: StoreCache
    clock: Clock = utcnow
    new_id: IdFactory = new_id
    extras: dict[str, Any] = field(default_factory=dict)
    steps: StepTimer = field(default_factory=StepTimer)  # bench-only per-step CPU timers (bridge.steps)
    writer: BatchWriter = field(init=False)  # the login's durable commit from the event loop

    def __post_init__(self) -> None:
        self.writer = BatchWriter(self.store, steps=self.steps)

    def close(self) -> None:
        self.writer.close()
        self.store.close()


def open_instance(
    settings: Settings,
    *,
    store: Store | None = None,
    registry: ServiceProviderRegistry | None = None,
    clock: Clock = utcnow,
    new_id: IdFactory = new_id,
    migrate: bool = True,
) -> Instance:
    store = store or open_store(settings)
    if migrate:
        store.migrate()
    # SP trust from every metadata source; the sources' refresh job joins the instance below.
    sources = MetadataSources(settings, clock=clock) if registry is None else None
    registry = sources.load() if sources is not None else registry
    keyring = KeyRing(store, settings)
    keyring.refresh()
    extras: dict[str, Any] = {}
    if settings.simulator.enabled:
        extras["simulator"] = _add_simulator(settings, registry, keyring, now=clock())
    idp = IdentityProvider(settings, store, registry, keyring, clock=clock, new_id=new_id)
    store_cache = StoreCache(store, refresh=settings.store.cache_refresh)
    store_cache.poll()  # warm at start; a failed poll leaves it cold (logins read the store) and is logged
    instance = Instance(
        settings=settings,
        store=store,
        registry=registry,
        keyring=keyring,
        idp=idp,
        sessions=SessionCodec(settings.session.secrets, idle_timeout=settings.session.idle_timeout),
        metrics=Metrics(),
        fetch_log=FetchLog(store),
        limiter=RateLimiter(store, clock),
        store_cache=store_cache,
        clock=clock,
        new_id=new_id,
        extras=extras,
        steps=StepTimer.from_env(),
    )
    # Background jobs take the services they use (the housekeeping loop calls each with no argument).
    readiness: dict[str, str] = extras.setdefault("readiness_problems", {})
    jobs: list[Callable[[], None]] = extras.setdefault("jobs", [])
    if sources is not None:
        sources.metrics = instance.metrics
        extras["metadata_sources"] = sources
        jobs.append(RefreshJob(sources, readiness))
    jobs.extend(key_jobs(store, settings, keyring, clock=clock))
    from bridge.payments.outbox import payment_jobs  # the webhook outbox's worker (it builds on Instance)

    jobs.extend(_bound(job, instance) for job in payment_jobs())
    return instance


def _bound(job: Callable[[Instance], None], instance: Instance) -> Callable[[], None]:
    """A job that still takes the whole instance, bound to it here (its name kept for the logs)."""

    @wraps(job)
    def bound() -> None:
        job(instance)

    return bound


def _add_simulator(settings: Settings, registry: ServiceProviderRegistry, keyring: KeyRing, *, now: datetime) -> Any:
    """The built-in IC simulator (dev only): its SP joins the registry like one with trusted metadata."""
    from bridge.simulator.sp import open_simulator

    simulator = open_simulator(settings, keyring, now=now)
    if registry.find(simulator.entity_id) is None:
        registry.replace([*registry, simulator.service_provider()])
    return simulator


def _toml_string(value: str) -> str:
    """A TOML basic string (JSON's escapes are TOML's): a URL may hold quotes or backslashes."""
    return json.dumps(value)


def _config_text(base_url: str, store_url: str, admin_token_hash: str = "") -> str:
    return f"""# SAML identity bridge instance (created by `icbridge init`). Reference: docs/configuration.md.
[idp]
base_url = {_toml_string(base_url)}
# entity_id defaults to <base_url>/saml/metadata

[store]
# Every node of one instance shares this store (docs/deployment.md); add one with `icbridge init DIR --join`.
url = {_toml_string(store_url)}

[tickets]
# Newest last: the last secret signs, all verify. Prefer "env:NAME" or "file:PATH" in production.
secrets = ["{secrets.token_urlsafe(32)}"]
lifetime = 60

[session]
secrets = ["{secrets.token_urlsafe(32)}"]
idle_timeout = "15m"

[keys]
dir = "certs"

[invoicecloud]
# IC's web services. api_base = "https://www.invoicecloud.com" (each biller may override it).
# Encrypts the billers' IC API and web service keys in the database; newest last encrypts, all decrypt.
# Prefer "env:NAME" or "file:PATH" in production; rotate with `icbridge billers reseal` (docs/payments.md).
secrets = ["{secrets.token_urlsafe(32)}"]

[admin]
# argon2 hash of the admin console token printed once by `icbridge init` (`icbridge admin hash` makes new ones).
token_hash = "{admin_token_hash}"

[metadata]
dir = "metadata"

[simulator]
# The built-in Invoice Cloud stand-in; never enable it in production.
enabled = true

[sp.{_toml_string(base_url + SIMULATOR_SP_PATH)}]
allow_http_acs = {str(base_url.startswith("http://")).lower()}
"""


def _refuse_a_used_store(store: Store, store_url: str) -> None:
    keys, billers = store.list_keys(), store.list_billers()
    if keys or billers:
        raise ConfigError(
            f"the store {display_url(store_url)} already holds an instance ({len(keys)} key(s), {len(billers)} "
            "biller(s)): to add a node to it, copy that instance's folder here and run "
            "`icbridge init DIR --join COPY/bridge.toml` (docs/deployment.md)")


@dataclass(frozen=True)
class InitResult:
    config: Path
    api_key: str
    partner_secret: str
    biller: str
    metadata_url: str
    sso_url: str
    entity_id: str
    kid: str
    admin_token: str = ""


def init_instance(
    directory: Path, *, base_url: str, now: datetime, sp_entity_id: str | None = None,
    store_url: str = DEFAULT_STORE_URL, simulator: bool = True,
) -> InitResult:
    """Create a working instance in ``directory`` on the store at ``store_url`` (SQLite or PostgreSQL).

    Refuses to overwrite an instance folder, and a store that already holds one (keys or billers):
    a second node joins that instance with bridge.joining instead. The store is reached and migrated
    before anything is written, so a wrong URL leaves no half-made folder behind.
    """
    config = directory / DEFAULT_CONFIG_NAME
    if config.exists():
        raise ConfigError(f"{config} already exists: refusing to overwrite an instance")
    if not store_url.startswith(STORE_SCHEMES):
        raise ConfigError(f"--store-url: {display_url(store_url)} must start with sqlite:/// or postgresql://")
    directory.mkdir(parents=True, exist_ok=True)
    if store_url.startswith("sqlite:///"):
        sqlite_path(store_url, base_dir=directory).parent.mkdir(parents=True, exist_ok=True)
    store = open_store_url(store_url, base_dir=directory, pool_size=2)
    try:
        store.migrate()
        _refuse_a_used_store(store, store_url)
        (directory / "certs").mkdir(mode=0o700, exist_ok=True)
        (directory / "metadata").mkdir(exist_ok=True)
        admin_token = secrets.token_urlsafe(24)
        text = _config_text(base_url.rstrip("/"), store_url, hash_admin_secret(admin_token))
        config.write_text(text if simulator else text.replace("enabled = true", "enabled = false"))
        config.chmod(0o600)  # holds the ticket and session secrets (and a PostgreSQL password, if any)
        settings = load_settings(config)
        # The store's first key, made active at once: no SP can hold an older certificate to overlap with.
        record = add_signing_key(store, settings, now=now, state=ACTIVE)
        store.record_audit(
            audit.AuditEvent(at=now, event=audit.KEY_TRANSITION, outcome="ok", actor=audit.os_actor(),
                             detail=f"{record.kid}: created active by icbridge init")
        )
        sp = sp_entity_id or f"{settings.idp.base_url}{SIMULATOR_SP_PATH}"
        biller = validate_biller(
            Biller(name=DEMO_BILLER, biller_guid=DEMO_BILLER_GUID, sp_entity_id=sp,
                   link_base=default_link_base(settings.idp.base_url, sp),
                   login_types={"owner": "1", "co-owner": "5", "default": "1"})
        )
        if simulator:  # CPV2 and REST sign-in against the simulator, with the IC API key it issued to the biller
            from bridge.simulator.cpv2 import simulator_api_key

            biller = replace(biller, ic_api_base=f"{settings.idp.base_url}/simulator")
            issued = simulator_api_key(settings, biller.biller_guid)
            biller = credentials.set_secret(biller, credentials.API_KEY, issued, credentials.secret_box(settings))
        store.put_biller(biller.record(created_at=now))
        api_key = issue_api_key(store, DEMO_BILLER, now=now)
    finally:
        store.close()
    return InitResult(
        config=config,
        api_key=api_key,
        partner_secret=partner_secret(settings.tickets.secrets[-1], DEMO_BILLER),
        biller=DEMO_BILLER,
        metadata_url=settings.idp.base_url + METADATA_PATH,
        sso_url=settings.idp.base_url + SSO_PATH,
        entity_id=settings.idp.resolved_entity_id,
        kid=record.kid,
        admin_token=admin_token,
    )
