"""Pinned metadata signatures: a source may name the certificate (or its SHA-256) that must have signed
its documents. Only the pin counts: KeyInfo in the document merely names candidates."""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass

from lxml import etree

from bridge.config import Settings
from bridge.errors import ConfigError, SignatureError
from bridge.keys.material import Certificate
from bridge.saml.signing import verify_enveloped
from bridge.saml.xml import DS, text_of


@dataclass(frozen=True, slots=True)
class Pin:
    """The certificate that must have signed a source's metadata: the certificate itself, or its SHA-256."""

    fingerprint: str
    certificate: Certificate | None = None


def load_pin(value: str | None, settings: Settings) -> Pin | None:
    """``signing_cert`` of a source: a PEM file path (relative to bridge.toml) or ``sha256:<64 hex>``."""
    if not value:
        return None
    if value.lower().startswith("sha256:"):
        digest = value[7:].replace(":", "").strip().lower()
        if not re.fullmatch(r"[0-9a-f]{64}", digest):
            raise ConfigError(f"metadata signing_cert {value!r}: expected sha256: and 64 hex digits")
        return Pin(fingerprint=digest)
    path = settings.path(value)
    try:
        certificate = Certificate.from_pem(path.read_bytes())
    except OSError as exc:
        raise ConfigError(f"metadata signing_cert {path}: cannot read: {exc.strerror}") from None
    except ConfigError:
        raise ConfigError(f"metadata signing_cert {path}: not a PEM X.509 certificate") from None
    return Pin(fingerprint=certificate.fingerprint, certificate=certificate)


def verify_pinned_signature(root: etree._Element, pin: Pin) -> None:
    """The document's own enveloped signature, by the pinned certificate (KeyInfo only names candidates)."""
    signature = root.find(f"{DS}Signature")
    if signature is None:
        raise ConfigError("the metadata is not signed, but a signing certificate is pinned for this source")
    candidates = [pin.certificate] if pin.certificate is not None else []
    if pin.certificate is None:
        for node in signature.iterfind(f"{DS}KeyInfo/{DS}X509Data/{DS}X509Certificate"):
            with contextlib.suppress(ValueError):
                cert = Certificate.from_base64_der(text_of(node) or "")
                if cert.fingerprint == pin.fingerprint:
                    candidates.append(cert)
        if not candidates:
            raise ConfigError("the metadata is not signed by the pinned certificate (fingerprint differs)")
    try:
        verify_enveloped(root, candidates, what="metadata")
    except SignatureError as exc:
        raise ConfigError(f"signature refused: {exc.detail}") from None
