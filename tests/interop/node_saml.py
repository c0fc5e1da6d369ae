"""@node-saml/node-saml as a service provider, in its own Node process (tests/js/node_saml_sp.js).

Configured as its README recommends for a production SP: SHA-256 request signatures (its default is
SHA-1), ``wantAssertionsSigned`` and ``wantAuthnResponseSigned`` left at their defaults (true: the
bridge must sign the Response too, ``[sp."…"] sign_response = true``), ``validateInResponseTo:
"always"`` for SP-initiated logins, its IdP settings (``entryPoint``, ``idpCert``, ``idpIssuer``)
read from the bridge's metadata, its own metadata from ``generateServiceProviderMetadata``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from lxml import etree
from saml_peers import KeyPair

JS = Path(__file__).resolve().parents[1] / "js"
DRIVER = JS / "node_saml_sp.js"
MD = "{urn:oasis:names:tc:SAML:2.0:metadata}"
DS = "{http://www.w3.org/2000/09/xmldsig#}"
REDIRECT = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"


def node_or_skip() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed (Debian package nodejs; scripts/setup.sh installs it as root)")
    if not (JS / "node_modules" / "@node-saml" / "node-saml").is_dir():
        pytest.skip("@node-saml/node-saml is not installed: run scripts/setup.sh (npm ci in tests/js)")
    return node


def idp_settings(metadata: bytes) -> dict[str, Any]:
    """What node-saml needs from the IdP metadata (it does not read metadata itself)."""
    root = etree.fromstring(metadata)
    idp = root.find(f"{MD}IDPSSODescriptor")
    certs = [
        "-----BEGIN CERTIFICATE-----\n" + (c.text or "").strip() + "\n-----END CERTIFICATE-----\n"
        for c in idp.iterfind(f"{MD}KeyDescriptor/{DS}KeyInfo/{DS}X509Data/{DS}X509Certificate")
    ]
    sso = next(s.get("Location") for s in idp.iterfind(f"{MD}SingleSignOnService") if s.get("Binding") == REDIRECT)
    return {"entryPoint": sso, "idpCert": certs, "idpIssuer": root.get("entityID")}


class NodeSamlSP:
    def __init__(self, *, entity_id: str = "https://sp-node.test/metadata", acs_url: str = "https://sp-node.test/acs",
                 binding: str = "HTTP-Redirect", sign_requests: bool = True, decrypt: bool = False,
                 validate_in_response_to: str = "always") -> None:
        self.entity_id, self.acs_url = entity_id, acs_url
        self.signing = KeyPair.fresh("node-saml-sp")
        self.encryption = KeyPair.fresh("node-saml-sp-enc") if decrypt else None
        self.options: dict[str, Any] = {
            "issuer": entity_id,
            "callbackUrl": acs_url,
            "authnRequestBinding": binding,
            "signatureAlgorithm": "sha256",
            "digestAlgorithm": "sha256",
            "identifierFormat": "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress",
            "validateInResponseTo": validate_in_response_to,
            "acceptedClockSkewMs": 5000,
            "idpCert": "placeholder",  # replaced by configure() with the bridge's published certificates
        }
        if sign_requests:
            self.options["privateKey"] = self.signing.key_pem
            self.options["publicCert"] = self.signing.cert_pem
        if self.encryption is not None:
            self.options["decryptionPvk"] = self.encryption.key_pem
        self._idp_metadata: bytes | None = None
        self._process = subprocess.Popen(
            [node_or_skip(), str(DRIVER)], cwd=JS, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )
        self._call("init", options=self.options)

    def _call(self, op: str, **params: Any) -> dict[str, Any]:
        assert self._process.stdin is not None and self._process.stdout is not None
        self._process.stdin.write(json.dumps({"op": op, **params}) + "\n")
        self._process.stdin.flush()
        line = self._process.stdout.readline()
        assert line, f"node-saml driver exited (code {self._process.poll()})"
        return json.loads(line)

    def metadata(self) -> bytes:
        answer = self._call("metadata", decryptionCert=self.encryption.cert_pem if self.encryption else None,
                            signingCert=self.signing.cert_pem if "privateKey" in self.options else None)
        assert answer["ok"], answer
        return answer["xml"].encode()

    @property
    def idp_metadata(self) -> bytes | None:
        return self._idp_metadata

    @idp_metadata.setter
    def idp_metadata(self, metadata: bytes) -> None:
        """Configure the SP from the bridge's metadata (Harness.trust hands it over this way)."""
        self._idp_metadata = metadata
        self.options.update(idp_settings(metadata))
        assert self._call("init", options=self.options)["ok"]

    def authorize_url(self, relay_state: str = "") -> str:
        answer = self._call("authorizeUrl", relayState=relay_state)
        assert answer["ok"], answer
        return answer["url"]

    def authorize_fields(self, relay_state: str = "") -> dict[str, str]:
        answer = self._call("authorizeMessage", relayState=relay_state)
        assert answer["ok"], answer
        return {name: str(value) for name, value in answer["fields"].items()}

    def validate(self, fields: dict[str, str]) -> dict[str, Any]:
        """node-saml's verdict on a posted Response: {"ok": True, "profile": …} or {"ok": False, "error": …}."""
        return self._call("validatePost", fields=fields)

    def close(self) -> None:
        if self._process.poll() is None:
            self._process.stdin.close()  # type: ignore[union-attr]
            self._process.wait(timeout=10)
