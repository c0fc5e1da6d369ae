"""Shared fixtures: a fresh bridge instance per test (on SQLite and on PostgreSQL), SPs built on the fly.

``bridge`` is a :class:`Harness`: a real instance created by ``icbridge init``
in ``tmp_path``, its ASGI app behind Starlette's TestClient (real HTTP
semantics, cookies, redirects), an injectable clock, and helpers to trust
an SP, add a biller and launch a payer.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

sys.path.insert(0, str(Path(__file__).parent))

from dev_bridge import DevBridge, make_dev_bridge
from saml_peers import OneLoginSP, PostedForm, PySaml2SP, parse_post_page
from store_backends import BACKENDS, store_url

from bridge.billers import Biller, issue_api_key, validate_biller
from bridge.config import load_settings
from bridge.instance import Instance, init_instance, open_instance
from bridge.web.app import create_app

BASE_URL = "https://bridge.test"
IC_LINK_BASE = "https://ic.test/saml"


class FakeClock:
    """Real time at the start (the SP libraries check against the real clock), then under test control."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class Harness:
    directory: Path
    instance: Instance
    client: TestClient
    clock: FakeClock
    init: Any
    api_keys: dict[str, str] = field(default_factory=dict)

    @property
    def settings(self):  # type: ignore[no-untyped-def]
        return self.instance.settings

    @property
    def store(self):  # type: ignore[no-untyped-def]
        return self.instance.store

    def metadata(self) -> bytes:
        response = self.client.get("/saml/metadata")
        assert response.status_code == 200
        return response.content

    def trust(self, sp: OneLoginSP | PySaml2SP, name: str | None = None) -> None:
        """Drop the SP's own metadata into metadata/ and reload the registry; hand it our metadata."""
        path = self.directory / "metadata" / f"{name or sp.entity_id.split('/')[2]}.xml"
        path.write_bytes(sp.metadata())
        self.reload_registry()
        sp.idp_metadata = self.metadata()

    def reload_registry(self) -> None:
        from bridge.trust.service_providers import load_folder

        self.instance.registry.replace(load_folder(self.directory / "metadata"))

    def add_biller(self, name: str, sp_entity_id: str, **options: Any) -> str:
        options.setdefault("link_base", IC_LINK_BASE)
        options.setdefault("biller_guid", str(uuid.uuid5(uuid.NAMESPACE_URL, f"biller:{name}")))
        biller = validate_biller(Biller(name=name, sp_entity_id=sp_entity_id, **options))
        self.store.put_biller(biller.record(created_at=self.clock()))
        self.instance.store_cache.invalidate_billers()  # as the admin console does
        key = issue_api_key(self.store, name, now=self.clock())
        self.api_keys[name] = key
        return key

    def create_login(self, biller: str, *, key: str | None = None, **body: Any):  # type: ignore[no-untyped-def]
        headers = {"Authorization": f"Bearer {key or self.api_keys[biller]}"}
        return self.client.post("/api/v1/logins", json={"biller": biller, **body}, headers=headers)

    def launch(self, biller: str, **body: Any):  # type: ignore[no-untyped-def]
        """Create a launch URL through the partner API and open it in the test browser."""
        created = self.create_login(biller, **body)
        assert created.status_code == 201, created.text
        return self.client.get(created.json()["url"], follow_redirects=False)

    def sso_redirect(self, url: str):  # type: ignore[no-untyped-def]
        return self.client.get(url, follow_redirects=False)

    def sso_post(self, fields: dict[str, str]):  # type: ignore[no-untyped-def]
        return self.client.post("/saml/sso", data=fields, follow_redirects=False)

    def posted(self, response) -> PostedForm:  # type: ignore[no-untyped-def]
        assert response.status_code == 200, response.text[:500]
        return parse_post_page(response.text)

    def audit(self, event: str | None = None) -> list[Any]:
        events = self.store.audit_events()
        return [e for e in events if event is None or e.event == event]


# In CI every dependency (PostgreSQL, Redis, chromium, Node, the interop SPs) must be present: a test that
# skips there fails the run instead of letting a missing service pass silently. Locally a skip stays a skip.
REQUIRE_ALL = os.environ.get("CI") == "true" or os.environ.get("BRIDGE_TEST_REQUIRE_ALL") == "1"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if REQUIRE_ALL and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped in CI, where every test must run: {reason}"


@contextmanager
def reopened(harness: Harness, *, idp: str = "", append: str = "") -> Iterator[Harness]:
    """The same instance (folder, store) restarted with ``idp`` lines added under [idp] and ``append``
    added at the end of bridge.toml: for settings that are read once at start."""
    config = harness.init.config
    config.write_text(config.read_text().replace("[idp]\n", "[idp]\n" + idp, 1) + append)
    instance = open_instance(load_settings(config), clock=harness.clock)
    app = create_app(instance, background=False)
    with TestClient(app, base_url=BASE_URL, raise_server_exceptions=False) as client:
        yield replace(harness, instance=instance, client=client)
    instance.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def make_harness(directory: Path, url: str, clock: FakeClock) -> Iterator[Harness]:
    result = init_instance(directory, base_url=BASE_URL, now=clock(), store_url=url, simulator=False)
    settings = load_settings(result.config)
    instance = open_instance(settings, clock=clock)
    app = create_app(instance, background=False)
    with TestClient(app, base_url=BASE_URL, raise_server_exceptions=False) as client:
        yield Harness(directory=directory, instance=instance, client=client, clock=clock, init=result)
    instance.close()


@pytest.fixture
def bridge(tmp_path: Path, backend: str, clock: FakeClock) -> Iterator[Harness]:
    """A fresh instance on each store backend."""
    with store_url(backend, tmp_path) as url:
        yield from make_harness(tmp_path / "instance", url, clock)


@pytest.fixture
def sqlite_bridge(tmp_path: Path, clock: FakeClock) -> Iterator[Harness]:
    """For tests whose subject is not the store: SQLite only, to keep the suite fast."""
    with store_url("sqlite", tmp_path) as url:
        yield from make_harness(tmp_path / "instance", url, clock)


@pytest.fixture
def onelogin_sp(sqlite_bridge: Harness) -> OneLoginSP:
    sp = OneLoginSP()
    sqlite_bridge.trust(sp)
    return sp


@pytest.fixture
def dev_bridge(tmp_path: Path, clock: FakeClock) -> Iterator[DevBridge]:
    """An instance as `icbridge init` makes it for development (simulator on, admin token, demo biller)."""
    yield from make_dev_bridge(tmp_path / "instance", clock)
