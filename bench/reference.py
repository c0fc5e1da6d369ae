"""In-process reference rates: the raw RSA signature (the floor), our build+sign, and pysaml2's IdP (the peer).

Each measurement runs for a bounded time and a bounded count and returns
operations per second on one core. The key is the bench instance's own
signing key, loaded once, so the three figures compare like with like.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from bridge.keys.material import SigningKey
from bridge.saml import assertions

SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"


def _cpu_seconds() -> float:
    times = os.times()
    # Children count too: pysaml2 spends its signing time in xmlsec1 subprocesses.
    return times.user + times.system + times.children_user + times.children_system


def rate(operation: Callable[[int], object], *, seconds: float, max_count: int) -> dict[str, float]:
    """Run ``operation(i)`` until ``seconds`` or ``max_count``.

    ``per_second`` is per CPU-second of this process (and its children), so a
    machine busy with other work slows the run but barely moves the figure;
    ``wall_per_second`` is what the clock on the wall saw.
    """
    operation(-1)  # warm-up: first-call costs (imports, caches) are not the steady state
    count = 0
    started, cpu_started = time.perf_counter(), _cpu_seconds()
    deadline = started + seconds
    while count < max_count and time.perf_counter() < deadline:
        operation(count)
        count += 1
    elapsed = time.perf_counter() - started
    cpu = max(_cpu_seconds() - cpu_started, 1e-9)
    return {"count": count, "seconds": round(elapsed, 3), "cpu_seconds": round(cpu, 3),
            "per_second": round(count / cpu, 1), "mean_ms": round(cpu / count * 1000, 4),
            "wall_per_second": round(count / elapsed, 1)}


def raw_rsa(key: SigningKey, *, seconds: float, max_count: int) -> dict[str, float]:
    """RSA-2048 PKCS#1 v1.5 over SHA-256 with ``cryptography``: the cost no IdP can avoid."""
    private = key.private_key
    message = b"x" * 200

    def sign(_: int) -> object:
        return private.sign(message, padding.PKCS1v15(), hashes.SHA256())

    return rate(sign, seconds=seconds, max_count=max_count)


def _spec(i: int, sp: str, acs: str) -> assertions.ResponseSpec:
    now = datetime.now(UTC)
    return assertions.ResponseSpec(
        issuer="http://127.0.0.1/saml/metadata", audience=sp, destination=acs, in_response_to=f"_req{i}",
        response_id=f"_r{i}x", assertion_id=f"_a{i}x", session_index="_s", now=now, authn_instant=now,
        lifetime=300, skew=90,
    )


def ours_in_process(key: SigningKey, *, seconds: float, max_count: int, sp: str, acs: str) -> dict[str, float]:
    """bridge.saml.assertions.build_response alone: the canonical XML written, digested, RSA-signed."""
    subject = assertions.Subject(
        name_id="pat.payer@example.com", name_id_format=assertions.NAMEID_EMAIL,
        attributes={"Email": "pat.payer@example.com", "LoginType": "1", "AccountNumber": "101Invoice"},
    )

    def build(i: int) -> object:
        return assertions.build_response(_spec(i, sp, acs), subject, key, sign_response=False)

    return rate(build, seconds=seconds, max_count=max_count)


def _pysaml2_server(workdir: Path, key_pem: bytes, cert_pem: str, sp_metadata: bytes, idp_entity: str):  # type: ignore[no-untyped-def]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pysaml2's imports warn about cryptography deprecations
        from saml2 import BINDING_HTTP_REDIRECT
        from saml2.config import IdPConfig
        from saml2.saml import NAMEID_FORMAT_EMAILADDRESS
        from saml2.server import Server

    (workdir / "idp.key").write_bytes(key_pem)
    os.chmod(workdir / "idp.key", 0o600)
    (workdir / "idp.crt").write_text(cert_pem)
    (workdir / "sp.xml").write_bytes(sp_metadata)
    config = IdPConfig()
    config.load({
        "entityid": idp_entity,
        "service": {"idp": {
            "endpoints": {"single_sign_on_service": [(idp_entity + "/sso", BINDING_HTTP_REDIRECT)]},
            "name_id_format": [NAMEID_FORMAT_EMAILADDRESS],
            "sign_assertion": True,
            "signing_algorithm": RSA_SHA256,
            "digest_algorithm": SHA256,
        }},
        "key_file": str(workdir / "idp.key"),
        "cert_file": str(workdir / "idp.crt"),
        "xmlsec_binary": shutil.which("xmlsec1") or "/usr/bin/xmlsec1",
        "metadata": {"local": [str(workdir / "sp.xml")]},
        "allow_unknown_attributes": True,
    })
    return Server(config=config)


def pysaml2_idp(
    key_pem: bytes, cert_pem: str, sp_metadata: bytes, *, sp: str, acs: str, seconds: float, max_count: int
) -> dict[str, object]:
    """pysaml2's IdP signing each assertion (RSA-SHA256, SHA-256 digest) with the same key, in-process.

    pysaml2 shells out to the xmlsec1 binary for every signature; without it there is no peer figure.
    """
    if shutil.which("xmlsec1") is None:
        return {"skipped": "xmlsec1 (Debian package xmlsec1) is not installed"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from saml2.saml import NAMEID_FORMAT_EMAILADDRESS, NameID

    from saml2.saml import AUTHN_PASSWORD_PROTECTED

    with tempfile.TemporaryDirectory(prefix="bench-pysaml2-") as tmp:
        server = _pysaml2_server(Path(tmp), key_pem, cert_pem, sp_metadata, "http://127.0.0.1/pysaml2-idp")
        identity = {"Email": ["pat.payer@example.com"], "LoginType": ["1"], "AccountNumber": ["101Invoice"]}
        authn = {"class_ref": AUTHN_PASSWORD_PROTECTED, "authn_auth": "http://127.0.0.1/pysaml2-idp"}

        def respond(i: int) -> object:
            response = server.create_authn_response(
                identity, in_response_to=f"_req{i}", destination=acs, sp_entity_id=sp,
                name_id=NameID(format=NAMEID_FORMAT_EMAILADDRESS, text="pat.payer@example.com"),
                authn=authn, sign_assertion=True, sign_response=False,
            )
            return str(response)

        return rate(respond, seconds=seconds, max_count=max_count)
