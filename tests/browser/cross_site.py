"""A partner portal and the bridge on two different sites, over https, on loopback only.

Browsers decide about cookies by *site* (scheme + registrable domain), so a frame served from another port
of 127.0.0.1 is still the same site and proves nothing about third-party-cookie rules. This rig serves:

- the bridge (uvicorn with TLS, as ``icbridge serve`` runs it) at ``https://sso.test:<port>``;
- the portal at ``https://portal.test:<port>`` (another site: the bridge's cookie is a third-party
  cookie in its frame) and, from the same server, ``https://portal.sso.test:<port>`` (the same site as
  the bridge, as a partner that serves the bridge under its own domain would).

Chromium resolves the names through ``--host-resolver-rules`` (no /etc/hosts edits) and accepts the
throwaway certificate through ``--ignore-certificate-errors`` (checked with Debian's chromium 156: the
pages stay secure contexts, so ``Secure`` cookies behave as in production). Each cookie regime is a
separate persistent Chromium profile, because the content settings that block cookies are profile
preferences that a Playwright incognito context cannot carry:

- ``"partitioned"``: the user blocks third-party cookies (Chrome's setting, Safari and Firefox do so by
  default): a cross-site frame keeps only ``Partitioned`` (CHIPS) cookies;
- ``"blocked"``: the bridge's site may not keep cookies at all in this browser (a browser without CHIPS,
  or a stricter privacy setting): nothing a frame sets comes back.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import os
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

BRIDGE_HOST = "sso.test"
PORTAL_HOST = "portal.test"  # another site than the bridge
SAME_SITE_PORTAL_HOST = "portal.sso.test"  # the bridge's site (registrable domain sso.test)
HOSTS = (BRIDGE_HOST, PORTAL_HOST, SAME_SITE_PORTAL_HOST)
RESOLVER_RULES = "--host-resolver-rules=" + ", ".join(f"MAP {host} 127.0.0.1" for host in HOSTS)
RIG_ARGS = (RESOLVER_RULES, "--ignore-certificate-errors")
COOKIE_REGIMES = ("partitioned", "blocked")


@dataclass(frozen=True)
class Tls:
    cert: Path
    key: Path
    ca: Path


def make_tls(directory: Path) -> Tls:
    """A throwaway CA and one leaf certificate for every host of the rig (and 127.0.0.1 for API calls)."""
    now = datetime.datetime.now(datetime.UTC)
    valid = {"not_valid_before": now - datetime.timedelta(hours=1), "not_valid_after": now + datetime.timedelta(days=1)}
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "icbridge test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number())
          .not_valid_before(valid["not_valid_before"]).not_valid_after(valid["not_valid_after"])
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = [x509.DNSName(host) for host in HOSTS]
    names.append(x509.IPAddress(ipaddress.ip_address("127.0.0.1")))
    leaf = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, BRIDGE_HOST)]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(valid["not_valid_before"]).not_valid_after(valid["not_valid_after"])
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .sign(ca_key, hashes.SHA256()))
    tls = Tls(cert=directory / "cert.pem", key=directory / "key.pem", ca=directory / "ca.pem")
    tls.cert.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    tls.key.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    tls.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    return tls


@dataclass
class TlsPortal:
    """The partner portal: pages by path, served over https for both portal host names."""

    port: int
    pages: dict[str, str] = field(default_factory=dict)

    @property
    def origin(self) -> str:
        """The cross-site portal (``https://portal.test:<port>``)."""
        return f"https://{PORTAL_HOST}:{self.port}"

    @property
    def same_site_origin(self) -> str:
        """The same-site portal (``https://portal.sso.test:<port>``)."""
        return f"https://{SAME_SITE_PORTAL_HOST}:{self.port}"

    def embed(self, path: str, src: str, *, title: str = "City portal") -> None:
        """A portal page that shows ``src`` in an iFrame (id ``ic``), as every partner design does."""
        self.pages[path] = (
            f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
            '<meta name="viewport" content="width=device-width, initial-scale=1"></head><body>'
            f"<main><h1>{title}: pay your bill</h1>"
            f'<iframe id="ic" title="Invoice Cloud" src="{src}" style="width:100%;height:560px;border:0">'
            "</iframe></main></body></html>"
        )


@contextmanager
def serve_portal(tls: Tls, port: int) -> Iterator[TlsPortal]:
    portal = TlsPortal(port=port)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = portal.pages.get(self.path)
            self.send_response(200 if body is not None else 404)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.end_headers()
            self.wfile.write((body or "not found").encode())

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(tls.cert), str(tls.key))
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield portal
    finally:
        server.shutdown()
        server.server_close()


def start_tls_bridge(config: Path, tls: Tls, port: int, log: Path) -> subprocess.Popen[bytes]:
    """uvicorn with the options ``icbridge serve`` uses, plus TLS (production terminates TLS in front)."""
    command = [
        sys.executable, "-m", "uvicorn", "bridge.web.app:app_from_env", "--factory", "--host", "127.0.0.1",
        "--port", str(port), "--ssl-certfile", str(tls.cert), "--ssl-keyfile", str(tls.key),
        "--no-access-log", "--no-server-header", "--log-level", "warning",
    ]
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT,
                                   env={**os.environ, "BRIDGE_CONFIG": str(config)})
    trust = ssl.create_default_context(cafile=str(tls.ca))
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"https://127.0.0.1:{port}/healthz", verify=trust, timeout=1).status_code == 200:
                return process
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise AssertionError(f"the TLS bridge did not start in 60 s: {log.read_text()}")
        time.sleep(0.2)


def profile_preferences(regime: str) -> dict[str, Any]:
    """Chromium profile preferences for a cookie regime (see the module docstring)."""
    block_third_party = {"cookie_controls_mode": 1, "block_third_party_cookies": True}
    if regime == "partitioned":
        return {"profile": block_third_party}
    if regime == "blocked":
        exceptions = {"cookies": {f"https://[*.]{BRIDGE_HOST},*": {"setting": 2}}}
        return {"profile": {**block_third_party, "content_settings": {"exceptions": exceptions}}}
    raise ValueError(f"unknown cookie regime {regime!r}; one of {COOKIE_REGIMES}")


def launch_profile(playwright: Any, regime: str, directory: Path, *, executable: str, args: list[str]) -> Any:
    """A persistent Chromium context (its own process) whose profile, in ``directory``, applies ``regime``."""
    (directory / "Default").mkdir(parents=True)
    (directory / "Default" / "Preferences").write_text(json.dumps(profile_preferences(regime)))
    return playwright.chromium.launch_persistent_context(
        str(directory), executable_path=executable, headless=True,
        args=[*args, *RIG_ARGS],
    )
