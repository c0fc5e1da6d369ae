"""A signing key built on the fly, for tests that sign without a whole bridge instance."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from bridge.keys.material import (
    SigningKey,
    generate_rsa_key,
    load_signing_key,
    private_key_pem,
    self_signed_certificate,
)


def make_signing_key(directory: Path, *, common_name: str = "bridge-test") -> SigningKey:
    private = generate_rsa_key(2048)
    certificate = self_signed_certificate(private, common_name=common_name, now=datetime.now(UTC), validity_days=2)
    path = directory / "signing.key"
    path.write_bytes(private_key_pem(private))
    path.chmod(0o600)
    return load_signing_key(path, certificate)
