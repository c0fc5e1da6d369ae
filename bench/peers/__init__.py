"""Peer IdP libraries outside Python, each building and signing one login Response in a loop.

* samlify (Node, npm; ``bench/peers/js``): ``IdentityProvider.createLoginResponse`` over HTTP-POST,
  the assertion signed (RSA-SHA256, SHA-256 digest, exclusive c14n);
* SimpleSAMLphp's SAML2 library (Debian package ``simplesamlphp``; ``bench/peers/php``): a
  ``\\SAML2\\Assertion`` signed with an RSA-SHA256 ``XMLSecurityKey`` inside a ``\\SAML2\\Response``,
  ``toSignedXML()`` serialised each time.

Both use the bench instance's own RSA-2048 key, loaded once, and report operations and their own CPU
(user + system, all threads): ``per_second`` is per CPU-second of the measuring process, as for
pysaml2. ``bench/peers/install.sh`` installs them; a peer that is not installed is skipped with a note.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
SIMPLESAMLPHP = Path("/usr/share/simplesamlphp")
INSTALL = "run bench/peers/install.sh"


def _missing_samlify() -> str | None:
    if shutil.which("node") is None:
        return f"node is not installed ({INSTALL})"
    if not (HERE / "js" / "node_modules" / "samlify").is_dir():
        return f"samlify is not installed in bench/peers/js ({INSTALL})"
    return None


def _missing_simplesamlphp() -> str | None:
    if shutil.which("php") is None:
        return f"php is not installed ({INSTALL})"
    if not (SIMPLESAMLPHP / "vendor" / "autoload.php").is_file():
        return f"SimpleSAMLphp is not installed at {SIMPLESAMLPHP} ({INSTALL})"
    probe = subprocess.run(["php", "-r", "exit(class_exists('DOMDocument') ? 0 : 1);"], capture_output=True,
                           timeout=30)
    if probe.returncode != 0:
        return f"php has no DOM extension (Debian package php-xml; {INSTALL})"
    return None


PEERS: dict[str, tuple[list[str], Any]] = {
    "samlify": (["node", str(HERE / "js" / "sign_loop.js")], _missing_samlify),
    "simplesamlphp": (["php", str(HERE / "php" / "sign_loop.php")], _missing_simplesamlphp),
}


def measure(name: str, key_pem: bytes, cert_pem: str, *, sp: str, acs: str, seconds: float,
            max_count: int) -> dict[str, Any]:
    """One peer's rate per CPU-second of its own process, or ``{"skipped": why}``."""
    command, missing = PEERS[name]
    problem = missing()
    if problem:
        return {"skipped": problem}
    with tempfile.TemporaryDirectory(prefix=f"bench-{name}-") as tmp:
        key_path, cert_path = Path(tmp) / "idp.key", Path(tmp) / "idp.crt"
        key_path.touch(mode=0o600)
        key_path.write_bytes(key_pem)
        cert_path.write_text(cert_pem)
        try:
            done = subprocess.run([*command, str(key_path), str(cert_path), str(seconds), str(max_count), sp, acs],
                                  capture_output=True, text=True, timeout=seconds + 60, cwd=tmp)
        except subprocess.TimeoutExpired:
            return {"failed": f"{name} did not finish within {seconds + 60:.0f} s"}
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        return {"failed": f"{name} exited {done.returncode}: {(done.stderr or done.stdout).strip()[-300:]}"}
    figures = json.loads(lines[-1])
    count, cpu = int(figures["count"]), max(float(figures["cpu_seconds"]), 1e-9)
    return {"count": count, "seconds": round(float(figures["seconds"]), 3), "cpu_seconds": round(cpu, 3),
            "per_second": round(count / cpu, 1), "mean_ms": round(cpu / max(count, 1) * 1000, 4),
            "wall_per_second": round(count / max(float(figures["seconds"]), 1e-9), 1),
            "library": figures.get("library", name), "response_bytes": figures.get("bytes")}
