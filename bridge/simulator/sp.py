"""The simulator's service provider: its key pair, its python3-saml settings and its metadata.

The key pair lives in the instance's certs folder as one PEM file (key, then certificate), mode
0600, created atomically on first start (write a private temp file, then hard-link it into place),
so every worker process of one instance signs with the same key.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from onelogin.saml2.constants import OneLogin_Saml2_Constants as C
from onelogin.saml2.settings import OneLogin_Saml2_Settings

from bridge.config import Settings
from bridge.idp import SSO_PATH
from bridge.keys.material import (
    check_key_file_permissions,
    generate_rsa_key,
    private_key_pem,
    self_signed_certificate,
    write_private_key,
)
from bridge.keys.ring import KeyRing
from bridge.saml.signing import RSA_SHA256, SHA256_DIGEST
from bridge.saml.sp_metadata import ServiceProvider, parse_sp_metadata

PREFIX = "/simulator"
METADATA_PATH = f"{PREFIX}/metadata"
ACS_PATH = f"{PREFIX}/acs"
LINK_PATH = f"{PREFIX}/saml"
KEY_FILE = "simulator-sp.pem"
_KEY_END = "-----END PRIVATE KEY-----"


@dataclass(frozen=True, slots=True)
class SimulatorKeys:
    key_pem: str
    cert_pem: str


def load_or_create_keys(directory: Path, *, now: datetime, common_name: str) -> SimulatorKeys:
    """The simulator's key pair from ``directory/simulator-sp.pem``, created on first use."""
    path = directory / KEY_FILE
    if not path.exists():
        key = generate_rsa_key(2048)
        cert = self_signed_certificate(key, common_name=common_name, now=now, validity_days=3650)
        temporary = directory / f".{KEY_FILE}.{os.getpid()}.tmp"
        temporary.unlink(missing_ok=True)
        write_private_key(temporary, private_key_pem(key) + cert.pem.encode())
        try:
            os.link(temporary, path)  # atomic: another worker that won the race keeps its key
        except FileExistsError:
            pass
        finally:
            temporary.unlink(missing_ok=True)
    check_key_file_permissions(path)
    text = path.read_text()
    key_part, _, cert_part = text.partition(_KEY_END)
    return SimulatorKeys(key_pem=key_part + _KEY_END + "\n", cert_pem=cert_part.strip() + "\n")


class SimulatorSP:
    """python3-saml settings for the simulator, built from the bridge's own settings and key ring."""

    def __init__(self, settings: Settings, keyring: KeyRing, keys: SimulatorKeys) -> None:
        self.base_url = settings.idp.base_url
        self.entity_id = self.base_url + METADATA_PATH
        self.acs_url = self.base_url + ACS_PATH
        self.idp_entity_id = settings.idp.resolved_entity_id
        self.sso_url = self.base_url + SSO_PATH
        self.keyring = keyring
        self.keys = keys

    def _sp(self) -> dict[str, Any]:
        return {
            "entityId": self.entity_id,
            "assertionConsumerService": {"url": self.acs_url, "binding": C.BINDING_HTTP_POST},
            "NameIDFormat": C.NAMEID_EMAIL_ADDRESS,
            "x509cert": self.keys.cert_pem,
            "privateKey": self.keys.key_pem,
        }

    def settings_dict(self) -> dict[str, Any]:
        published = [c.pem for c in self.keyring.current.published]
        return {
            "strict": True,
            "debug": False,
            "sp": self._sp(),
            "idp": {
                "entityId": self.idp_entity_id,
                "singleSignOnService": {"url": self.sso_url, "binding": C.BINDING_HTTP_REDIRECT},
                # Every published certificate verifies, as IC would after importing our metadata mid-rotation.
                "x509certMulti": {"signing": published or [""]},
            },
            "security": {
                "authnRequestsSigned": True,
                "wantAssertionsSigned": True,
                "wantMessagesSigned": False,
                "wantNameId": True,
                "wantAttributeStatement": True,
                "signatureAlgorithm": RSA_SHA256,
                "digestAlgorithm": SHA256_DIGEST,
                "requestedAuthnContext": False,
                "rejectDeprecatedAlgorithm": True,
                "rejectUnsolicitedResponsesWithInResponseTo": False,
            },
        }

    def metadata(self) -> bytes:
        settings = OneLogin_Saml2_Settings(
            {"strict": True, "sp": self._sp(), "security": self.settings_dict()["security"]}, sp_validation_only=True
        )
        xml = settings.get_sp_metadata()
        return xml if isinstance(xml, bytes) else xml.encode()

    def service_provider(self) -> ServiceProvider:
        """The simulator as the bridge's SP registry sees it (parsed from its own metadata, like any SP)."""
        return parse_sp_metadata(self.metadata(), source="simulator", allow_http_for=frozenset({self.entity_id}))[0]

    def request_data(self, path: str, *, get: dict[str, str] | None = None,
                     post: dict[str, str] | None = None) -> dict[str, Any]:
        """What python3-saml needs to rebuild this URL exactly: from base_url, never from the Host header."""
        parts = urlsplit(self.base_url)
        return {
            "https": "on" if parts.scheme == "https" else "off",
            "http_host": parts.netloc,  # host[:port], as python3-saml wants it
            "script_name": (parts.path or "") + path,
            "get_data": get or {},
            "post_data": post or {},
        }


def open_simulator(settings: Settings, keyring: KeyRing, *, now: datetime) -> SimulatorSP:
    directory = settings.path(settings.keys.dir)
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    keys = load_or_create_keys(directory, now=now, common_name=settings.idp.base_url + METADATA_PATH)
    return SimulatorSP(settings, keyring, keys)
