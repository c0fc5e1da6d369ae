"""An Invoice Cloud stand-in: serves ``<link-base>/<BillerGUID>?account=..&ViewMode=..&DeepLinkID=..`` like IC.

It wraps one of the independent SPs (python3-saml strict or pysaml2): on a
link it starts an AuthnRequest carrying the link's parameters in RelayState,
and on the bridge's Response it validates strictly and reports what IC would
see: the BillerGUID, account, ViewMode, DeepLinkID and the assertion's claims.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from urllib.parse import parse_qs, urlencode, urlsplit

from saml_peers import OneLoginSP, PostedForm, PySaml2SP

LINK_BASE = "https://ic.test/saml"


@dataclass
class Landing:
    biller_guid: str
    account: str
    view_mode: str
    deep_link: str
    email: str
    claims: dict[str, str]


class ICStandIn:
    def __init__(self, sp: OneLoginSP | PySaml2SP) -> None:
        self.sp = sp
        self._requests: dict[str, tuple[str, str]] = {}

    def follow_link(self, link: str) -> str:
        """IC's side of the redirect link: returns the URL that sends the browser to the bridge's SSO."""
        parts = urlsplit(link)
        assert link.startswith(LINK_BASE + "/"), f"not an IC link: {link}"
        guid = parts.path.rsplit("/", 1)[1]
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        # Like IC, keep the link's parameters server-side; RelayState is only a short handle (80-byte limit).
        relay = secrets.token_hex(8)
        url, request_id = self.sp.start_redirect(relay_state=relay)
        self._requests[relay] = (request_id, urlencode({"g": guid, **query}))
        return url

    def land(self, form: PostedForm) -> Landing:
        relay = form.fields.get("RelayState", "")
        request_id, params = self._requests.pop(relay)
        consumed = self.sp.consume(form, request_id)
        link = {k: v[0] for k, v in parse_qs(params).items()}
        return Landing(
            biller_guid=link["g"], account=link["account"], view_mode=link["ViewMode"],
            deep_link=link["DeepLinkID"], email=consumed.name_id,
            claims={name: values[0] for name, values in consumed.attributes.items()},
        )
