"""The outbox survives a node killed between IC's PostBack and the delivery to the partner, on SQLite and
PostgreSQL: real ``icbridge serve`` processes, the simulator posting the PostBack, SIGKILL, restart."""

from __future__ import annotations

import hashlib
import hmac
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from scaleout.conftest import BRIDGE, Node, start_node
from store_backends import store_url

from bridge.clock import utcnow
from bridge.delegation.tickets import partner_secret
from bridge.instance import init_instance
from bridge.store import open_store_url

from .conftest import CUSTOMER, free_port, serve_webhook, tune_config

pytestmark = pytest.mark.slow
START_TIMEOUT = 90.0  # a node's start (imports, migrations, key load) is slow on a loaded CI machine
OUTBOX = """
[payments]
retry_base = 1
retry_max = 2
max_attempts = 50
poll_interval = 0.2
"""


def wait_ready(node: Node) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        assert node.process.poll() is None, f"node {node.name} exited: {node.log.read_text()[-2000:]}"
        try:
            if httpx.get(f"{node.url}/readyz", timeout=2.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"node {node.name} not ready after {START_TIMEOUT}s: {node.log.read_text()[-2000:]}")


def _configure(config: Path, hook_port: int) -> None:
    tune_config(config)
    config.write_text(config.read_text().split("\n[payments]")[0] + OUTBOX)
    answer = subprocess.run([BRIDGE, "billers", "update", "demo", "--config", str(config),
                             "--payment-webhook", f"http://127.0.0.1:{hook_port}/hooks/payments"],
                            capture_output=True, text=True, timeout=60, check=False)
    assert answer.returncode == 0, answer.stderr


def _pay(base_url: str, api_key: str) -> str:
    with httpx.Client(timeout=15.0) as http:
        created = http.post(f"{base_url}/api/v1/payments", json={"biller": "demo", "customers": [CUSTOMER]},
                            headers={"Authorization": f"Bearer {api_key}"})
        assert created.status_code == 201, created.text
        receipt = http.post(created.json()["url"], data={"method": "card", "card_number": "4111111111111111"})
        assert "PostBack to the bridge: HTTP 200" in receipt.text, receipt.text[-800:]
        return str(created.json()["payment_id"])


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_a_node_killed_after_the_postback_delivers_once_it_is_back(kind: str, tmp_path: Path) -> None:
    directory = tmp_path / "instance"
    with store_url(kind, tmp_path) as url:
        port, hook_port = free_port(), free_port()
        init = init_instance(directory, base_url=f"http://127.0.0.1:{port}", now=utcnow(), store_url=url)
        _configure(init.config, hook_port)
        node = start_node("a", init.config, port, directory)
        nodes = [node]
        hook = server = None
        try:
            wait_ready(node)
            payment_id = _pay(f"http://127.0.0.1:{port}", init.api_key)
            node.kill()  # the PostBack is stored, the partner has nothing yet (its webhook is down)
            hook, server = serve_webhook(hook_port)
            nodes = [start_node("a2", init.config, port, directory)]
            if kind == "postgres":  # and a second node on the same store: still one delivery
                nodes.append(start_node("b", init.config, free_port(), directory))
            for started in nodes:
                wait_ready(started)
            deadline = time.monotonic() + 45
            while not hook.received and time.monotonic() < deadline:
                time.sleep(0.2)
            time.sleep(3)  # time for a duplicate to show up, if there were one
        finally:
            for started in nodes:
                started.stop()
            if server is not None:
                server.shutdown()
                server.server_close()
        assert hook is not None and len(hook.received) == 1, [n.log.read_text()[-1500:] for n in nodes]
        (event,) = hook.bodies()
        assert event["payment_id"] == payment_id and event["type"] == "payment.approved"
        fields = dict(item.split("=", 1) for item in hook.received[0]["headers"]["bridge-signature"].split(","))
        secret = partner_secret(_ticket_secret(init.config), "demo")
        mac = hmac.new(secret.encode(), fields["t"].encode() + b"." + hook.received[0]["body"], hashlib.sha256)
        assert hmac.compare_digest(mac.hexdigest(), fields["v1"])
        store = open_store_url(url, base_dir=directory, pool_size=1)
        try:
            from bridge.payments.store import PaymentStore

            (stored,) = PaymentStore(store).events_for(payment_id)
            assert stored.state == "delivered"
        finally:
            store.close()


def _ticket_secret(config: Path) -> str:
    from bridge.config import load_settings

    return load_settings(config).tickets.secrets[-1]
