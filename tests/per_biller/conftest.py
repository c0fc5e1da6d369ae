"""Two billers on one SP entity ID, as when Invoice Cloud uses one entity for every biller.

``billers`` gives a harness (on SQLite and PostgreSQL) whose SP (python3-saml strict, or pysaml2) is
shared by billers ``water`` and ``power``, each with a login URL and its own endpoints. The SP is one
entity with one trusted metadata file; ``configure`` points it at one biller's IdP metadata, as IC's
admin does per biller.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from saml_peers import OneLoginSP, PySaml2SP

PAYER = {"email": "pat.payer@example.com", "account_number": "101Invoice", "role": "owner"}
BILLERS = ("water", "power")
LOGIN_URL = "https://portal.test/{}/login"


def biller_path(biller: str, what: str) -> str:
    return f"/saml/b/{biller}/{what}"


@dataclass
class TwoBillers:
    bridge: Any  # conftest.Harness
    sp: OneLoginSP | PySaml2SP

    def metadata(self, biller: str | None) -> bytes:
        response = self.bridge.client.get(biller_path(biller, "metadata") if biller else "/saml/metadata")
        assert response.status_code == 200, response.text[:300]
        return response.content

    def configure(self, biller: str | None) -> None:
        """Point the SP at one biller's IdP metadata (None: the shared metadata)."""
        self.sp.idp_metadata = self.metadata(biller)
        if isinstance(self.sp, PySaml2SP):
            self.sp._client = None  # pysaml2 reads its IdP metadata once per client

    def start(self, biller: str | None) -> tuple[Any, str]:
        """The SP sends an AuthnRequest (HTTP-Redirect) to that biller's SSO URL: the bridge's answer."""
        self.configure(biller)
        url, request_id = self.sp.start_redirect(relay_state="rs")
        return self.bridge.sso_redirect(url), request_id

    def launch(self, biller: str, **extra: Any) -> Any:
        launched = self.bridge.launch(biller, **PAYER, **extra)
        assert launched.status_code == 303, launched.text
        return launched


@pytest.fixture(params=["python3-saml", "pysaml2"])
def billers(request: pytest.FixtureRequest, bridge: Any) -> TwoBillers:
    sp = OneLoginSP(sign_requests=True) if request.param == "python3-saml" else PySaml2SP(sign_requests=True)
    bridge.trust(sp)
    for name in BILLERS:
        bridge.add_biller(name, sp.entity_id, login_url=LOGIN_URL.format(name), idp_endpoints="per-biller")
    return TwoBillers(bridge, sp)
