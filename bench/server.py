"""A real bridge instance for the benchmark: ``icbridge init`` in a temp dir, our SP, ``icbridge serve`` on loopback.

Everything goes through the CLI and HTTP, as an operator would: the bench
SP's metadata is dropped in ``metadata/``, a biller is bound to it with
``icbridge billers add``, and a payer is launched through the partner API to
get the session cookie that every measured login reuses.

The bench SP signs its HTTP-Redirect AuthnRequests (RSA-SHA256, SAML Bindings
3.4.4.1) with a key generated at bench start and published in its metadata
(``AuthnRequestsSigned="true"``), so the bridge's verification of the request
signature is in the measured path. The instance keeps the default logging.
"""

from __future__ import annotations

import base64
import functools
import json
import os
import socket
import subprocess
import sys
import time
import uuid
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

HOST = "127.0.0.1"
SP_ENTITY = "https://sp.bench.test/metadata"
SP_ACS = "https://sp.bench.test/acs"
BILLER = "bench"
PAYER = {"email": "pat.payer@example.com", "account_number": "101Invoice", "role": "owner"}
_CLI = [sys.executable, "-c", "import sys; from bridge.cli import main; sys.exit(main())"]


RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"


@dataclass(frozen=True)
class BenchSp:
    """The bench SP's request-signing key (RSA-2048) and its self-signed certificate."""

    key: rsa.RSAPrivateKey
    cert_der: bytes

    def sign(self, octets: bytes) -> str:
        """Base64 RSA-SHA256 (PKCS#1 v1.5) over ``octets``."""
        return base64.b64encode(self.key.sign(octets, padding.PKCS1v15(), hashes.SHA256())).decode()


@functools.cache
def bench_sp() -> BenchSp:
    """Made once per process, at bench start: the SP's key is never stored."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sp.bench.test")])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=30)).sign(key, hashes.SHA256()))
    return BenchSp(key=key, cert_der=cert.public_bytes(serialization.Encoding.DER))


def sp_metadata() -> bytes:
    """A minimal SP: signed assertions wanted, HTTP-POST ACS, email NameIDs, requests signed with its own key."""
    cert = base64.b64encode(bench_sp().cert_der).decode()
    return f"""<?xml version="1.0"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="{SP_ENTITY}">
  <md:SPSSODescriptor AuthnRequestsSigned="true" WantAssertionsSigned="true"
      protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:KeyDescriptor use="signing">
      <ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#">
        <ds:X509Data><ds:X509Certificate>{cert}</ds:X509Certificate></ds:X509Data>
      </ds:KeyInfo>
    </md:KeyDescriptor>
    <md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress</md:NameIDFormat>
    <md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
        Location="{SP_ACS}" index="1"/>
  </md:SPSSODescriptor>
</md:EntityDescriptor>
""".encode()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def cli(*args: str, cwd: Path | None = None) -> dict[str, object]:
    done = subprocess.run([*_CLI, *args, "--json"], capture_output=True, text=True, timeout=120, cwd=cwd)
    if done.returncode != 0:
        raise RuntimeError(f"bridge {' '.join(args[:2])} failed: {done.stderr.strip() or done.stdout.strip()}")
    return json.loads(done.stdout)


@dataclass
class BenchInstance:
    directory: Path
    config: Path
    port: int
    api_key: str
    sso_url: str

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"


def create_instance(directory: Path, *, store_url: str | None = None) -> BenchInstance:
    """A fresh instance; on SQLite unless ``store_url`` (e.g. a PostgreSQL URL) says otherwise."""
    port = free_port()
    base_url = f"http://{HOST}:{port}"
    created = cli("init", str(directory), "--base-url", base_url, *(["--store-url", store_url] if store_url else []))
    config = Path(str(created["config"]))
    (directory / "metadata" / "bench-sp.xml").write_bytes(sp_metadata())
    with config.open("a") as handle:
        # The per-IP SSO limit is meant for browsers; the load generator is one IP sending thousands.
        # Logging stays at its default (issue 21 measures the bridge as deployed): the log goes to the log file.
        handle.write("\n[limits]\nsso_per_minute_per_ip = 100000000\napi_per_minute = 100000000\n")
    added = cli("billers", "add", BILLER, "--biller-guid", str(uuid.uuid4()), "--sp", SP_ENTITY,
                "--config", str(config))
    return BenchInstance(directory=directory, config=config, port=port, api_key=str(added["api_key"]),
                         sso_url=str(created["sso_url"]))


def authn_request_query(request_id: str, *, sso_url: str, now: datetime, sp: BenchSp | None = None) -> str:
    """The query string of an HTTP-Redirect AuthnRequest, as python3-saml's SP would send it.

    Signed by ``sp`` when given (SAML Bindings 3.4.4.1: RSA-SHA256 over the octets
    ``SAMLRequest=..&RelayState=..&SigAlg=..`` as sent, the base64 signature appended).
    """
    instant = now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    xml = (
        '<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" '
        f'xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{request_id}" Version="2.0" '
        f'IssueInstant="{instant}" Destination="{sso_url}" '
        'ProtocolBinding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" '
        f'AssertionConsumerServiceURL="{SP_ACS}">'
        f"<saml:Issuer>{SP_ENTITY}</saml:Issuer>"
        '<samlp:NameIDPolicy Format="urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress" AllowCreate="true"/>'
        "</samlp:AuthnRequest>"
    ).encode()
    deflater = zlib.compressobj(9, zlib.DEFLATED, -15)
    encoded = base64.b64encode(deflater.compress(xml) + deflater.flush()).decode()
    query = "SAMLRequest=" + quote(encoded, safe="") + "&RelayState=bench"
    if sp is None:
        return query
    query += "&SigAlg=" + quote(RSA_SHA256, safe="")
    return query + "&Signature=" + quote(sp.sign(query.encode("ascii")), safe="")


def authn_requests(count: int, *, sso_url: str, signed: bool = True) -> list[str]:
    """``count`` distinct request targets (each ID is single use at the bridge), signed by the bench SP."""
    now = datetime.now(UTC)
    run = uuid.uuid4().hex[:8]
    sp = bench_sp() if signed else None
    return [f"/saml/sso?{authn_request_query(f'_b{run}{i}', sso_url=sso_url, now=now, sp=sp)}" for i in range(count)]


class RequestPool:
    """Signed AuthnRequests made ahead of the phases that send them.

    Each is single use at the bridge, but the ones a phase did not send were never seen and go back
    to the pool. Signing costs the bench process one RSA signature each, so a phase takes only about as
    many as it can send (its caller's estimate), topped up here while the server is idle.
    """

    def __init__(self, sso_url: str) -> None:
        self.sso_url = sso_url
        self._ready: list[str] = []
        self.made = 0

    def take(self, count: int) -> list[str]:
        missing = count - len(self._ready)
        if missing > 0:
            self._ready += authn_requests(missing, sso_url=self.sso_url)
            self.made += missing
        taken, self._ready = self._ready[:count], self._ready[count:]
        return taken

    def give_back(self, unused: list[str]) -> None:
        self._ready = unused + self._ready


class Server:
    """``icbridge serve`` in its own process group; stopped with the group on exit."""

    def __init__(self, instance: BenchInstance, *, workers: int, env: dict[str, str] | None = None,
                 name: str = "", command: list[str] | None = None) -> None:
        self.instance = instance
        self.workers = workers
        self.env = env or {}
        self.command = command  # another server on the instance's port (bench.floor) instead of icbridge serve
        self.log = instance.directory / f"serve-{workers}w{name}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Server:
        env = {**os.environ, **self.env}
        if "BRIDGE_BENCH_STEPS" not in self.env:
            env.pop("BRIDGE_BENCH_STEPS", None)  # the headline phases never run with the step timers on
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                self.command or [*_CLI, "serve", "--config", str(self.instance.config), "--host", HOST,
                                 "--port", str(self.instance.port), "--workers", str(self.workers)],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=env,
            )
        self._wait_ready()
        return self

    def _wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"icbridge serve exited: {self.log.read_text()[-500:]}")
            try:
                answered = httpx.get(self.instance.base_url + "/healthz", timeout=1).status_code == 200
                if answered and (self.workers == 1 or len(self.worker_pids()) >= self.workers):
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"icbridge serve did not answer within {timeout:.0f} s")

    def worker_pids(self) -> list[int]:
        """The processes that answer requests: the server itself with 1 worker, its children otherwise."""
        assert self.process is not None
        if self.workers == 1:
            return [self.process.pid]
        return _children(self.process.pid)

    def peak_rss_mb(self) -> list[float]:
        """Peak resident set (VmHWM) of each worker, in MB."""
        return [round(_vm_hwm_kb(pid) / 1024, 1) for pid in self.worker_pids()]

    def cpu_seconds(self) -> float:
        """CPU time (user + system, every thread) the server's processes have used so far: /proc/PID/stat.

        With several workers, uvicorn's supervisor is counted too: it is part of what a login costs.
        """
        assert self.process is not None
        pids = [self.process.pid] + ([] if self.workers == 1 else _children(self.process.pid))
        return sum(_cpu_seconds(pid) for pid in pids)

    def __exit__(self, *exc: object) -> None:
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, 15)
            self.process.wait(timeout=15)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(self.process.pid, 9)
            self.process.wait(timeout=5)


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(p) for p in (task / "children").read_text().split()]
        except OSError:
            continue
    # uvicorn's multiprocess supervisor may hold a resource tracker child too: keep only uvicorn workers.
    return [p for p in found if _is_worker(p)]


def _is_worker(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"resource_tracker" not in cmdline


def _cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    # Fields 14 and 15 of proc(5) (utime, stime), counted after the ")" that ends the command name.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load_average() -> float:
    try:
        return float(Path("/proc/loadavg").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return -1.0


def _vm_hwm_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def session_cookie(instance: BenchInstance) -> str:
    """Launch the payer once through the partner API; return the bridge session cookie ``name=value``."""
    with httpx.Client(base_url=instance.base_url, timeout=10) as client:
        created = client.post(
            "/api/v1/logins", json={"biller": BILLER, **PAYER},
            headers={"Authorization": f"Bearer {instance.api_key}"},
        )
        if created.status_code != 201:
            raise RuntimeError(f"POST /api/v1/logins answered {created.status_code}: {created.text[:200]}")
        launched = client.get(created.json()["url"], follow_redirects=False)
        if launched.status_code != 303:
            raise RuntimeError(f"the launch URL answered {launched.status_code}: {launched.text[:200]}")
        cookies = [f"{name}={value}" for name, value in launched.cookies.items()]
        if not cookies:
            raise RuntimeError("the launch set no session cookie")
        return "; ".join(cookies)
