"""A real bridge instance for the benchmark: ``icbridge init`` in a temp dir, our SP, ``icbridge serve`` on loopback.

Everything goes through the CLI and HTTP, as an operator would: the bench
SP's metadata is dropped in ``metadata/``, a biller is bound to it with
``icbridge billers add``, and a payer is launched through the partner API to
get the session cookie that every measured login reuses.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
import time
import uuid
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import httpx

HOST = "127.0.0.1"
SP_ENTITY = "https://sp.bench.test/metadata"
SP_ACS = "https://sp.bench.test/acs"
BILLER = "bench"
PAYER = {"email": "pat.payer@example.com", "account_number": "101Invoice", "role": "owner"}
_CLI = [sys.executable, "-c", "import sys; from bridge.cli import main; sys.exit(main())"]


def sp_metadata() -> bytes:
    """A minimal SP: signed assertions wanted, HTTP-POST ACS, email NameIDs, unsigned requests."""
    return f"""<?xml version="1.0"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="{SP_ENTITY}">
  <md:SPSSODescriptor AuthnRequestsSigned="false" WantAssertionsSigned="true"
      protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
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


def create_instance(directory: Path) -> BenchInstance:
    port = free_port()
    base_url = f"http://{HOST}:{port}"
    created = cli("init", str(directory), "--base-url", base_url)
    config = Path(str(created["config"]))
    (directory / "metadata" / "bench-sp.xml").write_bytes(sp_metadata())
    with config.open("a") as handle:
        # The per-IP SSO limit is meant for browsers; the load generator is one IP sending thousands.
        handle.write("\n[limits]\nsso_per_minute_per_ip = 100000000\napi_per_minute = 100000000\n"
                     "\n[logging]\nlevel = \"WARNING\"\n")
    added = cli("billers", "add", BILLER, "--biller-guid", str(uuid.uuid4()), "--sp", SP_ENTITY,
                "--config", str(config))
    return BenchInstance(directory=directory, config=config, port=port, api_key=str(added["api_key"]),
                         sso_url=str(created["sso_url"]))


def authn_request_query(request_id: str, *, sso_url: str, now: datetime) -> str:
    """The query string of an HTTP-Redirect AuthnRequest, as python3-saml's SP would send it."""
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
    return "SAMLRequest=" + quote(encoded, safe="") + "&RelayState=bench"


def authn_requests(count: int, *, sso_url: str) -> list[str]:
    """``count`` distinct request targets (each ID is single use at the bridge)."""
    now = datetime.now(UTC)
    run = uuid.uuid4().hex[:8]
    return [f"/saml/sso?{authn_request_query(f'_b{run}{i}', sso_url=sso_url, now=now)}" for i in range(count)]


class Server:
    """``icbridge serve`` in its own process group; stopped with the group on exit."""

    def __init__(self, instance: BenchInstance, *, workers: int) -> None:
        self.instance = instance
        self.workers = workers
        self.log = instance.directory / f"serve-{workers}w.log"
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Server:
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [*_CLI, "serve", "--config", str(self.instance.config), "--host", HOST,
                 "--port", str(self.instance.port), "--workers", str(self.workers)],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
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
        """CPU time (user + system) the workers have used so far."""
        return sum(_cpu_seconds(pid) for pid in self.worker_pids())

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
