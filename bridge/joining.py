"""A second node for an instance: ``icbridge init DIR --join FILE``.

The nodes of one instance share the store (PostgreSQL) and must hold the same configuration, the
same signing keys and the same trusted SP metadata (docs/deployment.md). Joining copies the first
node's ``bridge.toml`` and, where they are relative to it, its ``keys.dir`` and ``metadata.dir``
folders (the admin has copied that folder to this machine, or mounted it), then proves the copy
works here: the configuration loads (``env:``/``file:`` secrets included), the store answers,
an active key exists, and every published key's private key file loads in this folder and matches
the certificate the store holds. Nothing is created in the store.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from bridge.config import DEFAULT_CONFIG_NAME, Settings, load_settings
from bridge.errors import ConfigError
from bridge.keys.ring import ACTIVE, KeyRing
from bridge.store import display_url, open_store


@dataclass(frozen=True, slots=True)
class JoinResult:
    config: Path
    store: str
    active_kid: str
    published_kids: tuple[str, ...]
    billers: int
    copied: tuple[str, ...]


def _source_config(source: Path) -> Path:
    path = source / DEFAULT_CONFIG_NAME if source.is_dir() else source
    if not path.is_file():
        raise ConfigError(f"--join: {path} is not a bridge.toml (give the first node's file or folder)")
    return path


def _copy_folders(settings: Settings, directory: Path) -> list[str]:
    """Copy keys.dir and metadata.dir when they are relative (an absolute one is a shared volume)."""
    copied = []
    for setting, name in (("keys.dir", settings.keys.dir), ("metadata.dir", settings.metadata.dir)):
        if Path(name).is_absolute():
            continue
        source = settings.path(name)
        if not source.is_dir():
            raise ConfigError(f"--join: {source} ({setting}) is missing next to the bridge.toml to join")
        shutil.copytree(source, directory / name)  # copy2 keeps each file's mode (keys stay 0600)
        copied.append(name)
    keys = directory / settings.keys.dir
    if keys.is_dir():
        keys.chmod(0o700)
    return copied


def join_instance(directory: Path, source: Path) -> JoinResult:
    """Make ``directory`` a node of the instance whose configuration is ``source``; refuse to overwrite."""
    source_config = _source_config(source)
    settings = load_settings(source_config)
    if settings.store.url.startswith("sqlite:"):
        raise ConfigError(f"--join: {source_config} keeps its store in SQLite, which only one machine may use; "
                          "nodes share a PostgreSQL store (`icbridge init DIR --store-url postgresql://…`)")
    config = directory / DEFAULT_CONFIG_NAME
    if config.exists():
        raise ConfigError(f"{config} already exists: refusing to overwrite an instance")
    directory.mkdir(parents=True, exist_ok=True)
    copied = _copy_folders(settings, directory)
    shutil.copyfile(source_config, config)
    config.chmod(0o600)
    return verify_node(config, copied=tuple(copied))


def verify_node(config: Path, *, copied: tuple[str, ...] = ()) -> JoinResult:
    """Prove this node sees the instance: store reachable, an active key, every published key loads here."""
    settings = load_settings(config)
    store = open_store(settings)
    try:
        store.migrate()
        ring = KeyRing(store, settings)
        ring.refresh()
        records = store.list_keys()
        active = [r.kid for r in records if r.state == ACTIVE]
        if not active:
            raise ConfigError(f"the store {display_url(settings.store.url)} has no active signing key: is it the "
                              "instance you meant to join? (`icbridge keys list --config` on the first node)")
        published = tuple(key.kid for key in ring.load_all_published())
        billers = len(store.list_billers())
    finally:
        store.close()
    return JoinResult(config=config, store=display_url(settings.store.url), active_kid=active[0],
                      published_kids=published, billers=billers, copied=copied)
