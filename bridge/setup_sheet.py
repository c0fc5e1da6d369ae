"""The IC setup sheet: what Invoice Cloud's admin enters to activate Cloud SSO Connect for one biller.

One function builds it as plain data; ``icbridge setup-sheet`` prints it and the admin console
renders it, so the two cannot disagree. The certificate fingerprint is the active signing key's
(SHA-256 of the DER certificate, as ``openssl x509 -fingerprint -sha256`` shows it): IC imports the
certificate from the metadata URL when the URL is saved, and the admin can compare the two.
"""

from __future__ import annotations

from typing import Any

from bridge.billers import Biller
from bridge.config import Settings
from bridge.endpoints import configured_identity
from bridge.invoicecloud.links import build_link, deep_link_page
from bridge.keys.material import Certificate
from bridge.keys.ring import ACTIVE, DEPLOYMENT_RING
from bridge.saml.assertions import NAMEID_EMAIL
from bridge.store.base import Store

SAMPLE_ACCOUNT = "101Invoice"  # IC's sample account (DOMAIN.md)
CLAIMS = ("Email", "LoginType", "AccountNumber")


def colon_hex(fingerprint: str) -> str:
    """``ab12…`` → ``AB:12:…``, the form openssl and most certificate viewers print."""
    return ":".join(fingerprint[i:i + 2] for i in range(0, len(fingerprint), 2)).upper()


def active_certificate(store: Store, ring: str = DEPLOYMENT_RING) -> Certificate | None:
    """The certificate that signs for ``ring``: its own active key, else (a biller ring) the deployment's."""
    records = store.list_keys()
    for scope in dict.fromkeys((ring, DEPLOYMENT_RING)):
        active = [r for r in records if r.state == ACTIVE and r.ring == scope]
        if active:
            return Certificate.from_pem(active[0].cert_pem)
    return None


def setup_sheet(settings: Settings, store: Store, biller: Biller, *, account: str = SAMPLE_ACCOUNT) -> dict[str, Any]:
    """Exactly what an IC admin enters for this biller, and a link to test it (JSON-ready)."""
    sp = settings.sp_settings(biller.sp_entity_id)
    idp = configured_identity(settings, biller)  # the shared endpoints, or the biller's own (docs/per-biller.md)
    cert = active_certificate(store, idp.ring)
    return {
        "biller": biller.name,
        "biller_guid": biller.biller_guid,
        "idp_endpoints": biller.idp_endpoints,
        "entity_id": idp.entity_id,
        "metadata_url": idp.metadata_url,
        "sso_url": idp.sso_url,
        "slo_url": idp.slo_url,
        "claims": [{"claim": claim, "attribute": sp.attribute_names.get(claim, claim)} for claim in CLAIMS],
        "nameid_format": sp.nameid_format or NAMEID_EMAIL,
        "login_type_mapping": dict(sorted(biller.login_types.items())),
        "certificate_sha256": cert.fingerprint if cert is not None else None,
        "certificate_kid": cert.kid if cert is not None else None,
        "certificate_not_after": cert.not_after.isoformat() if cert is not None else None,
        "test_link": build_link(biller.link_base, biller.biller_guid, account=account, view_mode=biller.view_mode,
                                deep_link=biller.deep_link),
        "account": account,
        "view_mode": biller.view_mode,
        "deep_link": biller.deep_link,
        "default_page": deep_link_page(biller.deep_link),
        "deep_links": [{"id": n, "page": deep_link_page(n)} for n in biller.allowed_deep_links],
    }


def sheet_text(sheet: dict[str, Any]) -> str:
    """The sheet as the CLI prints it: one labelled line per field IC asks for."""
    claims = ", ".join(c["attribute"] if c["attribute"] == c["claim"] else f"{c['attribute']} (for {c['claim']})"
                       for c in sheet["claims"])
    fingerprint = colon_hex(sheet["certificate_sha256"]) if sheet["certificate_sha256"] else "no active key"
    lines = [
        f"IC setup sheet for biller {sheet['biller']} (BillerGUID {sheet['biller_guid']}; "
        f"{sheet['idp_endpoints']} endpoints)",
        f"  IdP Entity ID:            {sheet['entity_id']}",
        f"  IdP Metadata URL:         {sheet['metadata_url']}",
        f"  IdP SSO Service URL:      {sheet['sso_url']}   (HTTP-Redirect and HTTP-POST)",
        f"  IdP SLO Service URL:      {sheet['slo_url']}",
        f"  SAML claims:              {claims}",
        f"  NameID:                   the payer's email, {sheet['nameid_format']}",
        "  LoginType claim mapping:  " + ", ".join(f"{role} -> {value}"
                                                   for role, value in sheet["login_type_mapping"].items()),
        f"  Signing cert SHA-256:     {fingerprint}",
        f"  Test redirect link:       {sheet['test_link']}",
        f"                            (account {sheet['account']}, ViewMode {sheet['view_mode']}, "
        f"DeepLinkID {sheet['deep_link']}: {sheet['default_page']})",
    ]
    return "\n".join(lines)
