"""The one configuration file, ``bridge.toml``: read once at start into typed, validated settings.

Nothing else in the bridge reads the environment or the file system for
settings; the loaded :class:`Settings` is passed in explicitly. Secrets may
be written inline (dev only), or as ``"env:NAME"`` / ``"file:PATH"``
references resolved here. Every error names the field and what is wrong.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator
from pydantic import ValidationError as PydanticValidationError

from bridge.errors import ConfigError
from bridge.invoicecloud.relay_state import check_template
from bridge.invoicecloud.remote_auth import WireFormat
from bridge.secrets_at_rest import check_secret
from bridge.urls import https_or_loopback

DEFAULT_CONFIG_NAME = "bridge.toml"
DEFAULT_BASE_URL = "http://127.0.0.1:8000"
IC_LINK_BASE = "https://sso.invoicecloud.com/saml"
IC_API_BASE = "https://www.invoicecloud.com"

_DURATION = re.compile(r"^\s*(\d+)\s*(s|m|h|d)?\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}


def parse_duration(value: Any) -> int:
    """Seconds from an int or a string like ``"90s"``, ``"15m"``, ``"24h"``, ``"30d"``."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 60, '90s', '15m', '24h' or '30d'")
    if isinstance(value, int):
        seconds = value
    else:
        match = _DURATION.match(str(value))
        if not match:
            raise ValueError("expected a duration such as 60, '90s', '15m', '24h' or '30d'")
        seconds = int(match.group(1)) * _UNITS[match.group(2)]
    if seconds < 0:
        raise ValueError("a duration cannot be negative")
    return seconds


Duration = Annotated[int, BeforeValidator(parse_duration)]


def resolve_secret(value: str, *, base_dir: Path) -> str:
    """``env:NAME`` reads the environment, ``file:PATH`` a file; anything else is the secret itself."""
    if value.startswith("env:"):
        name = value[4:]
        if name not in os.environ:
            raise ValueError(f"environment variable {name} is not set")
        return os.environ[name]
    if value.startswith("file:"):
        path = base_dir / value[5:]
        try:
            return path.read_text().strip()
        except OSError as exc:
            raise ValueError(f"cannot read secret file {path}: {exc.strerror}") from None
    return value


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class IdpSettings(_Section):
    base_url: str = DEFAULT_BASE_URL
    entity_id: str | None = None  # default: <base_url>/saml/metadata
    organization: str = "SAML identity bridge"
    assertion_lifetime: Duration = 300
    clock_skew: Duration = 90
    request_max_age: Duration = 300
    metadata_valid_for: Duration = 7 * 86400
    metadata_cache_duration: Duration = 86400
    metadata_cache_duration_rotating: Duration = 3600
    sign_metadata: bool = False
    allow_sha1: bool = False
    # true: the metadata says WantAuthnRequestsSigned="true" and unsigned requests are refused from every SP
    # (some SP libraries, e.g. samlify, sign only when the IdP asks for it).
    want_authn_requests_signed: bool = False

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        return https_or_loopback(value.rstrip("/"))

    @property
    def resolved_entity_id(self) -> str:
        return self.entity_id or f"{self.base_url}/saml/metadata"

    @property
    def is_https(self) -> bool:
        return self.base_url.startswith("https://")


class KeySettings(_Section):
    dir: str = "certs"
    size: int = 2048
    validity_days: int = 730
    min_overlap: Duration = 86400
    expiry_warning_days: int = 30
    passphrase: str | None = None  # for encrypted PEM files; use "env:NAME"

    @field_validator("size")
    @classmethod
    def _size(cls, value: int) -> int:
        if value < 2048 or value % 256:
            raise ValueError("RSA keys must be at least 2048 bits, in steps of 256")
        return value


class RotationSettings(_Section):
    enabled: bool = False
    publish_ahead: Duration = 14 * 86400
    overlap: Duration = 7 * 86400
    check_interval: Duration = 3600


class StoreSettings(_Section):
    url: str = "sqlite:///bridge.db"
    redis_url: str | None = None
    pool_size: int = 10
    audit_retention: Duration = 400 * 86400
    purge_interval: Duration = 300
    # Seconds between polls of the store's change versions (bridge.store_cache): a biller changed or a session
    # revoked on another node stops being honoured from this node's memory within about this long (SECURITY.md).
    cache_refresh: float = Field(default=1.0, ge=0.05, le=60)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("sqlite:///", "postgresql://", "postgres://")):
            raise ValueError("must start with sqlite:/// or postgresql://")
        return value


class TicketSettings(_Section):
    # Newest last: the last secret signs, every one verifies (rotation grace period).
    secrets: list[str] = Field(default_factory=list)
    lifetime: Duration = 60


class SessionSettings(_Section):
    secrets: list[str] = Field(default_factory=list)
    idle_timeout: Duration = 900
    # A payer session ends this long after its launch however it is used (bridge.session_state).
    absolute_lifetime: Duration = 4 * 3600
    cookie_name: str = "bridge_session"
    pending_lifetime: Duration = 600


class MetadataSource(_Section):
    type: Literal["file", "folder", "url"]
    path: str | None = None
    url: str | None = None
    entity_ids: list[str] = Field(default_factory=list)
    signing_cert: str | None = None  # PEM path or "sha256:<hex fingerprint>"
    refresh_interval: Duration = 3600
    max_staleness: Duration = 7 * 86400

    @model_validator(mode="after")
    def _where(self) -> MetadataSource:
        if self.type == "url" and not self.url:
            raise ValueError("a url source needs url")
        if self.type != "url" and not self.path:
            raise ValueError(f"a {self.type} source needs path")
        return self


class MetadataSettings(_Section):
    dir: str = "metadata"
    sources: list[MetadataSource] = Field(default_factory=list)
    cache_dir: str = "metadata-cache"
    fetch_timeout: float = Field(default=10.0, gt=0, le=120)  # seconds, per URL fetch (bridge.trust.metadata_sources)
    max_size: int = Field(default=5 * 1024 * 1024, gt=0)  # bytes of one fetched metadata document


class SpSettings(_Section):
    """Per-SP options, keyed by entity ID under ``[sp."<entity id>"]``."""

    attribute_names: dict[str, str] = Field(default_factory=dict)  # Email/LoginType/AccountNumber → name
    sign_response: bool | None = None  # None: as the SP's metadata asks (WantAssertionsSigned/AuthnRequestsSigned)
    encrypt_assertion: bool = False
    relay_state_template: str = "account={account}&ViewMode={view_mode}&DeepLinkID={deep_link}"
    nameid_format: str | None = None
    allow_http_acs: bool = False

    @field_validator("relay_state_template")
    @classmethod
    def _relay_state_template(cls, value: str) -> str:
        return check_template(value)  # its length is checked in Settings, against limits.max_relay_state_sent

    @field_validator("attribute_names")
    @classmethod
    def _claims(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = set(value) - {"Email", "LoginType", "AccountNumber"}
        if unknown:
            raise ValueError(f"unknown claim(s) {sorted(unknown)}; known: Email, LoginType, AccountNumber")
        return value


class LimitSettings(_Section):
    max_body: int = 64 * 1024
    max_saml_message: int = 32 * 1024
    max_inflated: int = 128 * 1024
    # RelayState an SP sends (echoed byte for byte). SAML Bindings 3.4.3 binds the sender to 80 bytes, but
    # SPs send return URLs of ~100 bytes (SimpleSAMLphp); refusing those would refuse the whole login.
    max_relay_state: int = Field(default=1024, ge=80, le=8192)
    # RelayState the bridge composes itself (IdP-initiated launches): the 80 bytes the bindings allow a sender.
    max_relay_state_sent: int = Field(default=80, ge=1, le=8192)
    api_per_minute: int = 600
    sso_per_minute_per_ip: int = 300


class AdminSettings(_Section):
    token_hash: str | None = None  # argon2 hash of the admin token
    password_hash: str | None = None
    username: str = "admin"
    idle_timeout: Duration = 900
    absolute_lifetime: Duration = 8 * 3600  # an admin session ends this long after sign-in, however used
    # Password-equivalent actions (rotate an API key, activate or purge a signing key, remove a biller)
    # need the admin's credentials entered again within this window (bridge.web.admin.reauth).
    reauth_window: Duration = 300
    login_attempts_per_minute: int = 10

    @field_validator("token_hash", "password_hash")
    @classmethod
    def _argon2(cls, value: str | None) -> str | None:
        if value is not None and value and not value.startswith("$argon2"):
            raise ValueError("must be an argon2 hash (make one with `icbridge admin hash`)")
        return value or None


def hash_admin_secret(secret: str) -> str:
    """The argon2id hash stored in ``admin.token_hash`` / ``admin.password_hash`` (never the secret itself)."""
    from argon2 import PasswordHasher

    # OWASP's argon2id floor (19 MiB, 2 passes): ~40 ms here; login attempts are rate-limited as well.
    return PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1).hash(secret)


class ServerSettings(_Section):
    # Worker threads per process for blocking work (store, RSA). Few win: the work holds the GIL
    # except RSA and commits, and more threads only contend for it (docs/benchmark.md).
    threads: int = Field(default=4, ge=2, le=64)
    # Peers (addresses or CIDRs) whose X-Forwarded-For / X-Forwarded-Proto are believed: the load
    # balancers or reverse proxies in front of the bridge. Anyone else could forge them to dodge the
    # per-address limits and to write any address into the audit trail.
    forwarded_allow_ips: list[str] = Field(default_factory=lambda: ["127.0.0.1", "::1"])

    @field_validator("forwarded_allow_ips")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for entry in value:
            if entry.strip() == "*":
                raise ValueError("'*' would believe any client's X-Forwarded-For; list your proxies' addresses "
                                 "or networks (e.g. \"10.0.0.0/8\")")
            try:
                ipaddress.ip_network(entry.strip(), strict=False)
            except ValueError:
                raise ValueError(f"{entry!r} is not an IP address or CIDR network (e.g. 10.0.0.0/8)") from None
        return [entry.strip() for entry in value]


class InvoiceCloudSettings(_Section):
    """IC's web services (Cloud Payments V2, Remote Authentication): where they are and how we reach them."""

    api_base: str = IC_API_BASE  # a biller's ic_api_base overrides it (the simulator, tests)
    # Encrypt the billers' IC credentials at rest (bridge.secrets_at_rest); newest last encrypts, all decrypt.
    secrets: list[str] = Field(default_factory=list)
    connect_timeout: float = Field(default=5.0, gt=0, le=60)  # seconds to open a connection to IC
    read_timeout: float = Field(default=20.0, gt=0, le=30)  # seconds to wait for IC's answer (CONTRACT: <= 30)
    # Remote Authentication's wire format (Cloud SSO Connect over REST): assumed defaults, docs/rest-sso.md.
    remote_auth: WireFormat = Field(default_factory=WireFormat)

    @field_validator("api_base")
    @classmethod
    def _api_base(cls, value: str) -> str:
        return https_or_loopback(value.rstrip("/"))

    @field_validator("secrets")
    @classmethod
    def _secrets(cls, value: list[str]) -> list[str]:
        return [check_secret(secret) for secret in value]


class PaymentSettings(_Section):
    """Cloud Payments V2 through the bridge (bridge.payments): idempotency, PostBacks, webhook delivery."""

    idempotency_ttl: Duration = 86400  # an Idempotency-Key's first answer is replayed this long
    webhook_timeout: float = Field(default=10.0, gt=0, le=60)  # seconds per delivery attempt
    retry_base: Duration = 10  # first retry after this; doubles each attempt (with jitter) up to retry_max
    retry_max: Duration = 3600
    max_attempts: int = Field(default=15, ge=1, le=100)  # then the event waits for an admin's retry
    poll_interval: float = Field(default=1.0, gt=0, le=60)  # seconds between a node's looks for due events
    postback_timezone: str = "America/New_York"  # IC's PostBack times without an offset are in this zone
    # PostBacks accepted per minute from one address: IC posts every biller's from a few servers, so high.
    postbacks_per_minute_per_ip: int = Field(default=6000, ge=1)

    @field_validator("postback_timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not a time zone name such as America/New_York") from None
        return value


class SimulatorSettings(_Section):
    enabled: bool = False


class LoggingSettings(_Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["json", "text"] = "json"
    # One bridge.access line per request (opt-in: a login's audit line is its one line by default, issue 21).
    access: bool = False


class Settings(_Section):
    idp: IdpSettings = Field(default_factory=IdpSettings)
    keys: KeySettings = Field(default_factory=KeySettings)
    rotation: RotationSettings = Field(default_factory=RotationSettings)
    store: StoreSettings = Field(default_factory=StoreSettings)
    tickets: TicketSettings = Field(default_factory=TicketSettings)
    session: SessionSettings = Field(default_factory=SessionSettings)
    metadata: MetadataSettings = Field(default_factory=MetadataSettings)
    sp: dict[str, SpSettings] = Field(default_factory=dict)
    limits: LimitSettings = Field(default_factory=LimitSettings)
    server: ServerSettings = Field(default_factory=ServerSettings)
    admin: AdminSettings = Field(default_factory=AdminSettings)
    simulator: SimulatorSettings = Field(default_factory=SimulatorSettings)
    invoicecloud: InvoiceCloudSettings = Field(default_factory=InvoiceCloudSettings)
    payments: PaymentSettings = Field(default_factory=PaymentSettings)
    logging: LoggingSettings = Field(default_factory=LoggingSettings)
    # Where the file lives: relative paths in it are relative to this folder.
    base_dir: Path = Path(".")

    @model_validator(mode="after")
    def _relay_state_fits(self) -> Settings:
        for entity_id, sp in self.sp.items():
            try:
                check_template(sp.relay_state_template, max_bytes=self.limits.max_relay_state_sent)
            except ValueError as exc:
                raise ValueError(f'sp."{entity_id}".relay_state_template: {exc}') from None
        return self

    def path(self, relative: str) -> Path:
        candidate = Path(relative)
        return candidate if candidate.is_absolute() else self.base_dir / candidate

    def sp_settings(self, entity_id: str) -> SpSettings:
        return self.sp.get(entity_id, _DEFAULT_SP)


_DEFAULT_SP = SpSettings()
_SECRET_FIELDS = (("tickets", "secrets"), ("session", "secrets"), ("invoicecloud", "secrets"))


def _format_errors(exc: PydanticValidationError, source: Path) -> str:
    lines = []
    for err in exc.errors():
        where = ".".join(str(part) for part in err["loc"])
        message = err["msg"].removeprefix("Value error, ")
        lines.append(f"{source}: {where}: {message}" if err["loc"] else f"{source}: {message}")
    return "\n".join(lines)


def load_settings(path: Path) -> Settings:
    """Read and validate ``bridge.toml``; raise ConfigError with one line per problem."""
    try:
        raw = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such configuration file (run `icbridge init DIR` first)") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return settings_from_dict(raw, base_dir=path.resolve().parent, source=path)


def settings_from_dict(raw: dict[str, Any], *, base_dir: Path, source: Path | None = None) -> Settings:
    """Validate ``raw``; raise ConfigError with one line for every problem found, not only the first."""
    source = source or base_dir / DEFAULT_CONFIG_NAME
    raw = dict(raw)
    problems: list[str] = []
    unresolved: set[str] = set()  # secrets whose reference failed: already reported, not "missing" as well
    for section, name in _SECRET_FIELDS:
        values = raw.get(section, {}).get(name)
        if isinstance(values, list):
            try:
                resolved = [resolve_secret(str(v), base_dir=base_dir) for v in values]
            except ValueError as exc:
                problems.append(f"{source}: {section}.{name}: {exc}")
                unresolved.add(f"{section}.{name}")
                resolved = []
            raw[section] = {**raw[section], name: resolved}
    keys = raw.get("keys", {})
    if isinstance(keys.get("passphrase"), str):
        try:
            raw["keys"] = {**keys, "passphrase": resolve_secret(keys["passphrase"], base_dir=base_dir)}
        except ValueError as exc:
            problems.append(f"{source}: keys.passphrase: {exc}")
            raw["keys"] = {k: v for k, v in keys.items() if k != "passphrase"}
    settings: Settings | None = None
    try:
        settings = Settings.model_validate({**raw, "base_dir": base_dir})
    except PydanticValidationError as exc:
        problems.extend(_format_errors(exc, source).splitlines())
    missing = _missing_secrets(settings) if settings is not None else _missing_raw_secrets(raw)
    problems += [f"{source}: {name}: at least one secret is required" for name in missing if name not in unresolved]
    if problems or settings is None:
        raise ConfigError("\n".join(problems))
    return settings


def _missing_raw_secrets(raw: dict[str, Any]) -> list[str]:
    """The required secret lists that are absent or empty, read before validation (which failed)."""
    return [f"{section}.secrets" for section in ("tickets", "session")
            if not (isinstance(raw.get(section), dict) and raw[section].get("secrets"))]


def _missing_secrets(settings: Settings) -> list[str]:
    missing = []
    if not settings.tickets.secrets:
        missing.append("tickets.secrets")
    if not settings.session.secrets:
        missing.append("session.secrets")
    return missing


def default_config_path(explicit: str | None) -> Path:
    """``--config`` if given, else ``$BRIDGE_CONFIG``, else ``./bridge.toml`` (CONTRACT.md)."""
    return Path(explicit or os.environ.get("BRIDGE_CONFIG") or DEFAULT_CONFIG_NAME)
