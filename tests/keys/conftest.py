"""Helpers for the key-lifecycle tests: an admin driving bridge.keys.lifecycle against a harness instance."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from lxml import etree

from bridge.config import Settings
from bridge.keys import lifecycle as key_lifecycle
from bridge.keys.material import Certificate
from bridge.saml.xml import NS, parse_untrusted

ADMIN = "os:test-admin"
DAY = 86400


def metadata_kids(xml: bytes) -> list[str]:
    """KeyName of each signing KeyDescriptor, in document order."""
    root = parse_untrusted(xml)
    return [str(name.text) for name in root.iterfind(".//md:KeyDescriptor/ds:KeyInfo/ds:KeyName", NS)]


def metadata_certs(xml: bytes) -> list[str]:
    root = parse_untrusted(xml)
    return ["".join(str(c.text).split()) for c in root.iterfind(".//md:KeyDescriptor//ds:X509Certificate", NS)]


def cache_duration(xml: bytes) -> str:
    return str(etree.fromstring(xml).get("cacheDuration"))


@dataclass
class Admin:
    """What `icbridge keys ...` does, with the harness's clock, followed by the node's key refresh."""

    bridge: Any  # conftest.Harness

    @property
    def settings(self) -> Settings:
        return self.bridge.settings

    def _done(self, result: Any) -> Any:
        self.bridge.instance.keyring.refresh()
        return result

    def generate(self, **options: Any) -> str:
        now = options.pop("now", None) or self.bridge.clock()
        record = key_lifecycle.generate(self.bridge.store, self.settings, now=now, actor=ADMIN, **options)
        return self._done(record).kid

    def stage(self, kid: str) -> Any:
        return self._done(key_lifecycle.stage(self.bridge.store, kid, now=self.bridge.clock(), actor=ADMIN))

    def activate(self, kid: str, *, force: bool = False, settings: Settings | None = None) -> Any:
        return self._done(key_lifecycle.activate(self.bridge.store, settings or self.settings, kid,
                                                 now=self.bridge.clock(), actor=ADMIN, force=force))

    def retire(self, kid: str, *, force: bool = False, settings: Settings | None = None) -> Any:
        return self._done(key_lifecycle.retire(self.bridge.store, settings or self.settings, kid,
                                               now=self.bridge.clock(), actor=ADMIN, force=force))

    def purge(self, kid: str) -> Any:
        return self._done(key_lifecycle.purge(self.bridge.store, self.settings, kid, now=self.bridge.clock(),
                                              actor=ADMIN))

    def staged(self) -> str:
        kid = self.generate()
        self.stage(kid)
        return kid

    def rolled_over(self) -> tuple[str, str]:
        """(old, new): a new key staged, published for keys.min_overlap, then activated."""
        old = self.active_kid
        new = self.staged()
        self.bridge.clock.advance(self.settings.keys.min_overlap)
        self.activate(new)
        return old, new

    @property
    def active_kid(self) -> str:
        return self.bridge.instance.keyring.active.kid

    def states(self) -> dict[str, str]:
        return {r.kid: r.state for r in self.bridge.store.list_keys()}

    def certificate(self, kid: str) -> Certificate:
        return next(Certificate.from_pem(r.cert_pem) for r in self.bridge.store.list_keys() if r.kid == kid)


class Interleaved:
    """The store as one node sees it, with another node's action landing just before this node's first
    ``on`` call (a write, by default): a race, made deterministic."""

    def __init__(self, store: Any, other: Any, *, on: str = "update_key") -> None:
        self._store, self._other, self._on = store, other, on

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._store, name)
        if name != self._on:
            return method

        def interleaved(*args: Any, **kwargs: Any) -> Any:
            if self._other is not None:
                other, self._other = self._other, None
                other()
            return method(*args, **kwargs)

        return interleaved


@pytest.fixture
def admin(bridge: Any) -> Admin:
    """On both store backends."""
    return Admin(bridge)


@pytest.fixture
def sqlite_admin(sqlite_bridge: Any) -> Admin:
    return Admin(sqlite_bridge)


def later(bridge: Any, seconds: float) -> Any:
    return bridge.clock() + timedelta(seconds=seconds)
