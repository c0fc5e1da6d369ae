"""Two real ``icbridge serve`` processes on one PostgreSQL schema: a cluster behind an imaginary load balancer.

Both nodes read the same ``bridge.toml`` (made by ``icbridge init``'s code, ``store.url``
pointing at a fresh schema) and the same certs/ and metadata/ folders, as nodes on a
shared volume would. ``base_url`` is node A's address and stands for the load balancer:
launch URLs and SSO URLs are sent to whichever node the test picks, as a balancer would.
Browsers are httpx clients with their own cookie jars; the jar ignores ports, so a
session cookie set by one node goes to the other (one origin behind a balancer).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
from saml_peers import OneLoginSP
from store_backends import postgres_schema

from bridge.clock import utcnow
from bridge.instance import init_instance
from bridge.store import SqlStore, open_store_url

BRIDGE = Path(sys.executable).with_name("icbridge")
BILLER = "city"
START_TIMEOUT = 60.0  # a loaded 2-core machine takes seconds just to import


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Node:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def at(self, url: str) -> str:
        """``url`` (made for the balancer's address) sent to this node instead."""
        parts = urlsplit(url)
        return urlunsplit(parts._replace(netloc=f"127.0.0.1:{self.port}"))

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


@dataclass
class Cluster:
    directory: Path
    config: Path
    store_url: str
    sp: OneLoginSP
    api_key: str
    nodes: dict[str, Node] = field(default_factory=dict)

    @property
    def a(self) -> Node:
        return self.nodes["a"]

    @property
    def b(self) -> Node:
        return self.nodes["b"]

    def browser(self) -> httpx.Client:
        return httpx.Client(timeout=10.0, follow_redirects=False)

    def create_login(self, client: httpx.Client, node: Node, **body: str) -> httpx.Response:
        return client.post(
            f"{node.url}/api/v1/logins", json={"biller": BILLER, **body},
            headers={"Authorization": f"Bearer {self.api_key}"},
        )

    def launch_url(self, client: httpx.Client, node: Node, **body: str) -> str:
        created = self.create_login(client, node, **body)
        assert created.status_code == 201, created.text
        return str(created.json()["url"])

    @contextmanager
    def store(self) -> Iterator[SqlStore]:
        store = open_store_url(self.store_url, base_dir=self.directory, pool_size=1)
        try:
            yield store
        finally:
            store.close()


# Load tests send many logins from one address within a minute; the limits are not their subject.
LOAD_TEST_SETTINGS = "[limits]\napi_per_minute = 1000000\nsso_per_minute_per_ip = 1000000\n"


def _write_config(config: Path, settings: str) -> None:
    with config.open("a") as handle:
        handle.write("\n" + settings)


def _add_biller(config: Path, sp: OneLoginSP) -> str:
    result = subprocess.run(
        [str(BRIDGE), "billers", "add", BILLER, "--config", str(config), "--json",
         "--biller-guid", str(uuid.uuid4()), "--sp", sp.entity_id, "--link-base", "https://ic.test/saml"],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode == 0, result.stderr
    return str(json.loads(result.stdout)["api_key"])


def start_node(name: str, config: Path, port: int, directory: Path) -> Node:
    log = directory / f"node-{name}.log"
    with log.open("wb") as handle:
        process = subprocess.Popen(
            [str(BRIDGE), "serve", "--config", str(config), "--host", "127.0.0.1", "--port", str(port)],
            stdout=handle, stderr=subprocess.STDOUT, env={**os.environ, "BRIDGE_CONFIG": str(config)},
        )
    return Node(name=name, port=port, process=process, log=log)


def wait_ready(node: Node) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if node.process.poll() is not None:
            raise AssertionError(f"node {node.name} exited: {node.log.read_text()[-2000:]}")
        try:
            if httpx.get(f"{node.url}/readyz", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"node {node.name} not ready after {START_TIMEOUT}s: {node.log.read_text()[-2000:]}")


@contextmanager
def running_cluster(directory: Path, *, settings: str = LOAD_TEST_SETTINGS) -> Iterator[Cluster]:
    """Two nodes on a fresh schema; ``settings`` (TOML tables) is appended to their bridge.toml."""
    with postgres_schema() as store_url, ExitStack() as stack:
        ports = {"a": free_port(), "b": free_port()}
        sp = OneLoginSP()
        init = init_instance(directory, base_url=f"http://127.0.0.1:{ports['a']}", now=utcnow(),
                             sp_entity_id=sp.entity_id, store_url=store_url, simulator=False)
        _write_config(init.config, settings)
        (directory / "metadata" / "onelogin.xml").write_bytes(sp.metadata())
        api_key = _add_biller(init.config, sp)
        # One biller on the SP: with init's demo biller there too, the shared endpoints could not tell them apart.
        removed = subprocess.run([str(BRIDGE), "billers", "remove", "demo", "--config", str(init.config)],
                                 capture_output=True, text=True, timeout=60)
        assert removed.returncode == 0, removed.stderr
        cluster = Cluster(directory=directory, config=init.config, store_url=store_url, sp=sp, api_key=api_key)
        for name, port in ports.items():
            node = start_node(name, init.config, port, directory)
            stack.callback(node.stop)
            cluster.nodes[name] = node
        for node in cluster.nodes.values():
            wait_ready(node)
        sp.idp_metadata = httpx.get(f"{cluster.a.url}/saml/metadata", timeout=5.0).content
        yield cluster


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """Shared by a module's tests: none of them stops a node."""
    with running_cluster(tmp_path_factory.mktemp("cluster") / "instance") as running:
        yield running


@pytest.fixture
def own_cluster(tmp_path: Path) -> Iterator[Cluster]:
    """For a test that kills a node."""
    with running_cluster(tmp_path / "instance") as running:
        yield running
