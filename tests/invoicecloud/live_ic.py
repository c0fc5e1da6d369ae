"""A real `icbridge serve` (uvicorn) whose built-in simulator plays Invoice Cloud's REST side, for REST SSO tests.

The bridge calls the simulator over real HTTP on 127.0.0.1, exactly as it would call IC. The test
process shares the instance's SQLite files with the server: it adds billers through the store and
reads the simulator's IC records directly, and it keeps the server's DEBUG log to search for secrets.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from saml_peers import parse_post_page

from bridge.billers import SIMULATOR_SP_PATH, Biller, get_biller, issue_api_key, validate_biller
from bridge.config import Settings, load_settings
from bridge.instance import init_instance
from bridge.invoicecloud import credentials
from bridge.simulator.cpv2 import simulator_api_key
from bridge.simulator.ic_state import ICState
from bridge.simulator.remote_auth import API_BASE, IC_PREFIX, STATE_FILE
from bridge.store import open_store
from bridge.store.base import AuditEvent

BRIDGE = str(Path(sys.executable).with_name("icbridge"))
READ_TIMEOUT = 1.5  # seconds: the simulator's "timeout" fault sleeps past it


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LiveBridge:
    base_url: str
    settings: Settings
    log_path: Path
    process: subprocess.Popen[bytes]
    nodes: list[str]

    @property
    def ic(self) -> ICState:
        return ICState(self.settings.path(STATE_FILE))

    def add_rest_biller(self, **options: Any) -> tuple[Biller, str]:
        """A REST biller bound to the simulator, holding the IC API key the simulator issued it (``ic_key``
        overrides it, ``""`` leaves none); returns the biller and its partner API key."""
        name = options.pop("name", None) or f"rest-{secrets.token_hex(3)}"
        guid = str(uuid.uuid4())
        ic_key = options.pop("ic_key", simulator_api_key(self.settings, guid))  # the key the simulated IC issued
        biller = Biller(
            name=name, biller_guid=guid, sp_entity_id=self.base_url + SIMULATOR_SP_PATH,
            link_base=self.base_url + "/simulator/saml", ic_api_base=self.base_url + API_BASE,
            sso_method="rest", css_url=self.base_url + "/simulator/portal.css",
            return_url="http://127.0.0.1:9/portal/home", return_site_name="City Water", **options,
        )
        if ic_key:
            biller = credentials.set_secret(biller, credentials.API_KEY, ic_key, credentials.secret_box(self.settings))
        store = open_store(self.settings)
        try:
            biller = validate_biller(biller)
            store.put_biller(biller.record(created_at=datetime.now(UTC)))
            return biller, issue_api_key(store, name, now=datetime.now(UTC))
        finally:
            store.close()

    def update_biller(self, name: str, **changes: Any) -> None:
        store = open_store(self.settings)
        try:
            biller = validate_biller(replace(get_biller(store, name), **changes))
            store.put_biller(biller.record())
        finally:
            store.close()

    def audit(self, biller: str, event: str | None = None) -> list[AuditEvent]:
        store = open_store(self.settings)
        try:
            rows = store.audit_events(biller=biller)
        finally:
            store.close()
        return [row for row in rows if event is None or row.event == event]

    def create_login(self, biller: str, api_key: str, **body: Any) -> httpx.Response:
        payer = {"email": "pat.payer@example.com", "account_number": "101Invoice", "view_mode": 1, **body}
        return httpx.post(f"{self.base_url}/api/v1/logins", json={"biller": biller, **payer},
                          headers={"Authorization": f"Bearer {api_key}"}, timeout=10)

    def launch_url(self, biller: str, api_key: str, **body: Any) -> str:
        answer = self.create_login(biller, api_key, **body)
        assert answer.status_code == 201, answer.text
        return str(answer.json()["url"])

    def open(self, url: str) -> tuple[httpx.Response, httpx.Response | None]:
        """A browser opening the launch URL: the bridge's answer, and IC's page after the auto-POST (if any)."""
        with httpx.Client(timeout=30) as browser:
            first = browser.get(url)
            if first.status_code != 200 or 'id="saml"' not in first.text:
                return first, None
            form = parse_post_page(first.text)
            return first, browser.post(form.action, data=form.fields)

    def fault(self, operation: str, kind: str, count: int = 1) -> None:
        answer = httpx.post(f"{self.base_url}{IC_PREFIX}/faults",
                            data={"operation": operation, "kind": kind, "count": str(count)}, timeout=10)
        assert answer.status_code == 303, answer.text

    def metrics(self) -> str:
        return httpx.get(f"{self.base_url}/metrics", timeout=10).text


def _start(config: Path, port: int, log_path: Path) -> subprocess.Popen[bytes]:
    """``icbridge serve`` on ``port``, DEBUG-logging to ``log_path``; returns once /healthz answers."""
    with log_path.open("ab") as log:
        process = subprocess.Popen([BRIDGE, "serve", "--config", str(config), "--port", str(port),
                                    "--log-level", "debug"], stdout=log, stderr=subprocess.STDOUT,
                                   env={**os.environ})
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return process
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise AssertionError(f"icbridge serve did not start in 60 s: {log_path.read_text()[-2000:]}")
        time.sleep(0.2)


def serve_live(
    directory: Path, *, extra_config: str = "", store_url: str | None = None, nodes: int = 1,
) -> Iterator[LiveBridge]:
    """``extra_config``: TOML appended to bridge.toml (e.g. a changed ``[invoicecloud.remote_auth]``).

    ``nodes`` > 1 starts more processes on the same configuration and store (``LiveBridge.nodes``: their
    base URLs; the first is the instance's base_url, whose simulator plays IC for all of them)."""
    ports = [free_port() for _ in range(nodes)]
    base_url = f"http://127.0.0.1:{ports[0]}"
    options = {"store_url": store_url} if store_url else {}
    result = init_instance(directory / "instance", base_url=base_url, now=datetime.now(UTC), **options)
    # Short timeouts, so the simulator's timeout fault costs little.
    text = result.config.read_text().replace(
        "[invoicecloud]\n", f"[invoicecloud]\nconnect_timeout = 1.0\nread_timeout = {READ_TIMEOUT}\n", 1
    )
    result.config.write_text(text + extra_config)
    log_path = directory / "bridge.log"
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for port in ports:
            processes.append(_start(result.config, port, log_path))
        yield LiveBridge(base_url=base_url, settings=load_settings(result.config), log_path=log_path,
                         process=processes[0], nodes=[f"http://127.0.0.1:{port}" for port in ports])
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=10)
