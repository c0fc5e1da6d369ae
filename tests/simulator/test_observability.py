"""Metrics move where things happen; logs carry one line per request and per login, and never a secret."""

from __future__ import annotations

import json
import logging
import re
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from dev_bridge import make_dev_bridge, post_form
from prometheus_client.parser import text_string_to_metric_families

from bridge.logs import JsonFormatter
from bridge.simulator.sp import KEY_FILE


def _samples(bridge) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = bridge.client.get("/metrics").text
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def _value(samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


class Capture(logging.Handler):
    """Every log record the bridge emits, formatted exactly as production writes it (JSON lines)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(JsonFormatter())
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith(("httpx", "httpcore")):
            return  # the test client's own logging of the URLs it requests, not the bridge's
        self.lines.append(self.format(record))


@pytest.fixture
def logs():
    capture = Capture()
    root = logging.getLogger()
    previous = root.level
    root.addHandler(capture)
    root.setLevel(logging.DEBUG)
    yield capture
    root.removeHandler(capture)
    root.setLevel(previous)


def test_a_login_moves_the_login_ticket_and_latency_metrics(dev_bridge):
    before = _samples(dev_bridge)
    page = dev_bridge.follow(dev_bridge.launch_url(deep_link=1))
    assert 'data-ok="true"' in page.text
    after = _samples(dev_bridge)
    for outcome in ("launched", "ok"):
        key = {"biller": "demo", "flow": "sp-initiated", "outcome": outcome}
        assert _value(after, "bridge_logins_total", **key) - _value(before, "bridge_logins_total", **key) == 1
    assert _value(after, "bridge_tickets_total", outcome="consumed") == 1
    assert _value(after, "bridge_sso_seconds_count") - _value(before, "bridge_sso_seconds_count") == 1
    assert _value(after, "bridge_signature_failures_total") == 0


def test_an_idp_initiated_login_counts_as_ok(dev_bridge):
    dev_bridge.follow(dev_bridge.launch_url(flow="idp-initiated"))
    assert _value(_samples(dev_bridge), "bridge_logins_total", biller="demo", flow="idp-initiated", outcome="ok") == 1


def test_replays_are_counted_by_kind(dev_bridge):
    url = dev_bridge.launch_url()
    link = dev_bridge.client.get(url, follow_redirects=False).headers["location"]
    assert dev_bridge.client.get(url).status_code == 400  # the ticket again
    sso = dev_bridge.client.get(link, follow_redirects=False).headers["location"]
    assert dev_bridge.client.get(sso).status_code == 200
    assert dev_bridge.client.get(sso).status_code == 400  # the AuthnRequest again
    samples = _samples(dev_bridge)
    assert _value(samples, "bridge_replay_rejections_total", kind="ticket") == 1
    assert _value(samples, "bridge_replay_rejections_total", kind="authn_request") == 1
    assert _value(samples, "bridge_tickets_total", outcome="refused") == 1


def test_a_bad_signature_is_counted(dev_bridge):
    link = dev_bridge.client.get(dev_bridge.launch_url(), follow_redirects=False).headers["location"]
    sso = dev_bridge.client.get(link, follow_redirects=False).headers["location"]
    query = {k: v[0] for k, v in parse_qs(urlsplit(sso).query).items()}
    query["Signature"] = query["Signature"][:-8] + "AAAAAAA="
    assert dev_bridge.client.get("/saml/sso?" + urlencode(query)).status_code == 400
    assert _value(_samples(dev_bridge), "bridge_signature_failures_total") == 1


def test_key_expiry_is_exported(dev_bridge):
    samples = _samples(dev_bridge)
    seconds = _value(samples, "bridge_key_expiry_seconds", kid=dev_bridge.init.kid, state="active")
    assert 700 * 86400 < seconds <= 730 * 86400


@pytest.fixture
def access_bridge(tmp_path, clock):
    """The dev bridge with the access log on (``logging.access = true``; off by default)."""
    yield from make_dev_bridge(tmp_path / "instance", clock, config="[logging]\naccess = true\n")


def test_a_login_writes_one_line_at_default_settings(dev_bridge, logs):
    """Issue 21: the access log is opt-in, so answering IC's AuthnRequest writes the login.issued line only."""
    link = dev_bridge.client.get(dev_bridge.launch_url(), follow_redirects=False).headers["location"]
    sso = dev_bridge.client.get(link, follow_redirects=False).headers["location"]
    logs.lines.clear()
    page = dev_bridge.client.get(sso, follow_redirects=False)
    assert page.status_code == 200 and 'name="SAMLResponse"' in page.text
    assert len(logs.lines) == 1, logs.lines
    entry = json.loads(logs.lines[0])
    assert entry["logger"] == "bridge.audit" and entry["audit"]["event"] == "login.issued"
    assert not [line for line in logs.lines if '"bridge.access"' in line]


def test_access_lines_appear_when_enabled(access_bridge, logs):
    link = access_bridge.client.get(access_bridge.launch_url(), follow_redirects=False).headers["location"]
    sso = access_bridge.client.get(link, follow_redirects=False).headers["location"]
    logs.lines.clear()
    access_bridge.client.get(sso, follow_redirects=False)
    names = [json.loads(line)["logger"] for line in logs.lines]
    assert sorted(names) == ["bridge.access", "bridge.audit"]
    access = json.loads(next(line for line in logs.lines if '"bridge.access"' in line))
    assert (access["method"], access["path"], access["status"]) == ("GET", "/saml/sso", 200)


def test_one_json_line_per_request_with_its_id_and_no_query_string(access_bridge, logs):
    answer = access_bridge.client.get("/healthz?SAMLRequest=secret-looking")
    lines = [json.loads(line) for line in logs.lines if '"bridge.access"' in line]
    assert len(lines) == 1
    entry = lines[0]
    assert entry["request_id"] == answer.headers["x-request-id"]
    assert (entry["method"], entry["path"], entry["status"]) == ("GET", "/healthz", 200)
    assert isinstance(entry["duration_ms"], float)
    assert "secret-looking" not in logs.lines[0]


def test_one_audit_line_per_login(dev_bridge, logs):
    dev_bridge.follow(dev_bridge.launch_url())
    audit = [json.loads(line)["audit"] for line in logs.lines if '"bridge.audit"' in line]
    issued = [a for a in audit if a["event"] == "login.issued"]
    assert len(issued) == 1
    assert issued[0]["biller"] == "demo" and issued[0]["outcome"] == "ok" and issued[0]["flow"] == "sp-initiated"


def _secrets_of(bridge, forms: list[dict[str, str]], urls: list[str]) -> list[str]:
    secrets = [bridge.init.api_key, bridge.init.admin_token, bridge.init.partner_secret]
    secrets += [c for c in bridge.client.cookies.values()]
    secrets += bridge.instance.settings.tickets.secrets + bridge.instance.settings.session.secrets
    for url in urls:
        secrets += [v[0] for v in parse_qs(urlsplit(url).query).values() if len(v[0]) > 20]
    for form in forms:
        secrets += [form["SAMLResponse"], form["SAMLResponse"][:60]]
    certs = bridge.directory / "certs"
    for path in [*certs.glob("*.key"), certs / KEY_FILE]:
        body = [line for line in path.read_text().splitlines() if "-----" not in line]
        secrets += body[:3]
    return [s for s in secrets if s]


def test_no_secret_appears_in_any_log_line_across_a_full_login(access_bridge, logs):
    from .admin_helpers import sign_in_admin

    url = access_bridge.launch_url(deep_link=3, view_mode=1)
    launched = access_bridge.client.get(url, follow_redirects=False)
    link = launched.headers["location"]
    sso = access_bridge.client.get(link, follow_redirects=False).headers["location"]
    page = access_bridge.client.get(sso, follow_redirects=False)
    action, form = post_form(page.text)
    assert 'data-ok="true"' in access_bridge.client.post(action, data=form).text
    sign_in_admin(access_bridge)
    access_bridge.client.post("/admin/login", data={"csrf": "x", "token": "wrong-token-but-still-secret"})
    assert len(logs.lines) > 10
    text = "\n".join(logs.lines)
    for secret in [*_secrets_of(access_bridge, [form], [url, sso]), "wrong-token-but-still-secret"]:
        assert secret not in text, f"a secret leaked into the logs: {secret[:12]}…"
    assert not re.search(r"SAMLResponse|Signature=|ticket=", text)
