"""Signing key material: the only module that reads or writes private keys.

Keys are RSA (2048 bits or more) with a self-signed certificate, generated
with ``cryptography``. Private keys are files of mode 0600; a file readable
by group or others is refused. A key is parsed once per process into a
:class:`SigningKey` that holds both the ``cryptography`` key and the
``xmlsec`` key: re-parsing a PEM costs ~30 ms, so never on the hot path.
The lifecycle (which key is published or signs) is bridge.keys.ring's job.
"""

from __future__ import annotations

import base64
import hashlib
import os
import stat
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import xmlsec
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from bridge.errors import ConfigError

KEY_FILE_MODE = 0o600


@dataclass(frozen=True, slots=True)
class Certificate:
    """A public certificate as the metadata and the verifiers need it."""

    pem: str
    cert: x509.Certificate

    @classmethod
    def from_pem(cls, pem: str | bytes) -> Certificate:
        data = pem.encode() if isinstance(pem, str) else pem
        try:
            cert = x509.load_pem_x509_certificate(data)
        except ValueError:
            raise ConfigError("not a PEM X.509 certificate") from None
        return cls(pem=data.decode(), cert=cert)

    @classmethod
    def from_base64_der(cls, text: str) -> Certificate:
        der = base64.b64decode("".join(text.split()))
        cert = x509.load_der_x509_certificate(der)
        return cls(pem=cert.public_bytes(serialization.Encoding.PEM).decode(), cert=cert)

    @property
    def der_base64(self) -> str:
        """Bare base64 of the DER, as ds:X509Certificate wants (no PEM header lines)."""
        return base64.b64encode(self.cert.public_bytes(serialization.Encoding.DER)).decode()

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(self.cert.public_bytes(serialization.Encoding.DER)).hexdigest()

    @property
    def kid(self) -> str:
        """Key ID: the first 16 hex digits of the certificate's SHA-256 fingerprint."""
        return self.fingerprint[:16]

    @property
    def not_before(self) -> datetime:
        return self.cert.not_valid_before_utc

    @property
    def not_after(self) -> datetime:
        return self.cert.not_valid_after_utc

    @property
    def key_size(self) -> int:
        return int(getattr(self.cert.public_key(), "key_size", 0))

    def is_valid_at(self, now: datetime) -> bool:
        return self.not_before <= now <= self.not_after


@dataclass(frozen=True, slots=True)
class SigningKey:
    """A private key loaded once, with its certificate."""

    kid: str
    certificate: Certificate
    private_key: rsa.RSAPrivateKey
    xmlsec_key: xmlsec.Key
    x509_b64: str = ""  # the certificate as ds:X509Certificate wants it, computed once at load

    def __post_init__(self) -> None:
        if not self.x509_b64:
            object.__setattr__(self, "x509_b64", self.certificate.der_base64)


def generate_rsa_key(size: int = 2048) -> rsa.RSAPrivateKey:
    # 65537 is the only public exponent anyone should use (cryptography's advice).
    return rsa.generate_private_key(public_exponent=65537, key_size=size)


def self_signed_certificate(
    key: rsa.RSAPrivateKey, *, common_name: str, now: datetime, validity_days: int
) -> Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name[:64])])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=validity_days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    return Certificate(pem=cert.public_bytes(serialization.Encoding.PEM).decode(), cert=cert)


def private_key_pem(key: rsa.RSAPrivateKey, passphrase: str | None = None) -> bytes:
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase.encode()) if passphrase else serialization.NoEncryption()
    )
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)


def write_private_key(path: Path, pem: bytes) -> None:
    """Create ``path`` with mode 0600 from the start (never briefly world-readable)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, KEY_FILE_MODE)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)


def generate_key_files(
    directory: Path, *, size: int, validity_days: int, common_name: str, now: datetime, passphrase: str | None = None
) -> tuple[Path, Path, Certificate]:
    """Write ``<kid>.key`` (0600) and ``<kid>.crt`` in ``directory``; return their paths and the cert."""
    key = generate_rsa_key(size)
    cert = self_signed_certificate(key, common_name=common_name, now=now, validity_days=validity_days)
    key_path = directory / f"{cert.kid}.key"
    cert_path = directory / f"{cert.kid}.crt"
    write_private_key(key_path, private_key_pem(key, passphrase))
    cert_path.write_text(cert.pem)
    return key_path, cert_path, cert


def check_key_file_permissions(path: Path) -> None:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(
            f"{path}: private key is readable by group or others (mode {mode:04o}); run: chmod 600 {path}"
        )


def load_signing_key(key_path: Path, cert: Certificate, *, passphrase: str | None = None) -> SigningKey:
    """Load and check a private key against its certificate; one ConfigError line on any problem."""
    try:
        check_key_file_permissions(key_path)
        pem = key_path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{key_path}: private key file not found") from None
    except PermissionError:
        raise ConfigError(f"{key_path}: private key file is not readable by this user") from None
    except OSError as exc:
        raise ConfigError(f"{key_path}: cannot read the private key file ({exc.strerror or exc})") from None
    try:
        key = serialization.load_pem_private_key(pem, passphrase.encode() if passphrase else None)
    except TypeError:
        raise ConfigError(f"{key_path}: key is encrypted; set keys.passphrase (e.g. \"env:BRIDGE_KEY_PASS\")") from None
    except ValueError:
        raise ConfigError(f"{key_path}: not a readable PEM private key (or wrong passphrase)") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ConfigError(f"{key_path}: only RSA signing keys are supported")
    if key.key_size < 2048:
        raise ConfigError(f"{key_path}: RSA key of {key.key_size} bits is too small (2048 at least)")
    if key.public_key().public_numbers() != cert.cert.public_key().public_numbers():  # type: ignore[union-attr]
        raise ConfigError(f"{key_path}: private key does not match certificate {cert.kid}")
    # xmlsec gets the unencrypted PEM in memory so it never needs the passphrase.
    clear = private_key_pem(key)
    xkey = xmlsec.Key.from_memory(clear, xmlsec.KeyFormat.PEM)
    xkey.load_cert_from_memory(cert.pem.encode(), xmlsec.KeyFormat.CERT_PEM)
    xkey.name = cert.kid
    return SigningKey(kid=cert.kid, certificate=cert, private_key=key, xmlsec_key=xkey)


def load_certificate_file(path: Path) -> Certificate:
    try:
        return Certificate.from_pem(path.read_bytes())
    except FileNotFoundError:
        raise ConfigError(f"{path}: certificate file not found") from None
    except ConfigError:
        raise ConfigError(f"{path}: not a PEM X.509 certificate") from None
