"""Who the bridge is, and where: the deployment's shared IdP endpoints and each biller's own.

Invoice Cloud may use one SP entity ID for every biller, so an AuthnRequest at
the shared SSO URL does not say which biller it is for. Each biller therefore
also has its own endpoints under ``/saml/b/<biller>/`` (metadata, SSO, SLO); a
request there is answered only for that biller. An :class:`IdpIdentity` is
what one set of endpoints presents: its entity ID (the Issuer of every
Response), its URLs, and the key ring that signs (bridge.keys.ring; a biller
ring inherits the deployment's until it has an active key of its own).

A biller's settings say which endpoints IC was given (``idp_endpoints``:
``shared`` or ``per-biller``); that choice picks the setup sheet's URLs and the
identity of IdP-initiated Responses. Both sets keep answering whatever the
setting, so switching is reversible and breaks no IC configuration already
saved (docs/per-biller.md).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from bridge.billers import IDP_ENDPOINTS, Biller
from bridge.config import Settings
from bridge.errors import ValidationError
from bridge.keys.ring import DEPLOYMENT_RING, PUBLISHED_STATES
from bridge.store.base import Store

METADATA_PATH = "/saml/metadata"
SSO_PATH = "/saml/sso"
SLO_PATH = "/saml/slo"
BILLER_PREFIX = "/saml/b"
SHARED, PER_BILLER = IDP_ENDPOINTS


@dataclass(frozen=True, slots=True)
class IdpIdentity:
    """One set of IdP endpoints and the identity behind them."""

    biller: str | None  # None: the deployment's shared endpoints
    entity_id: str
    metadata_url: str
    sso_url: str
    slo_url: str
    ring: str  # the key ring whose view signs and is published (bridge.keys.ring)

    @property
    def label(self) -> str:
        """For audit rows, metrics and logs: the biller, or ``shared``."""
        return self.biller or SHARED


def biller_base(base_url: str, biller: str) -> str:
    return f"{base_url}{BILLER_PREFIX}/{biller}"


def deployment_identity(settings: Settings) -> IdpIdentity:
    base = settings.idp.base_url
    return IdpIdentity(
        biller=None, entity_id=settings.idp.resolved_entity_id, metadata_url=base + METADATA_PATH,
        sso_url=base + SSO_PATH, slo_url=base + SLO_PATH, ring=DEPLOYMENT_RING,
    )


def own_entity_id(settings: Settings, biller: str) -> str:
    """The entity ID a biller gets when given its own (``--entity-id own``): its own metadata URL."""
    return biller_base(settings.idp.base_url, biller) + "/metadata"


def expand_own(settings: Settings, biller: Biller) -> Biller:
    """``idp_entity_id = "own"`` (the CLI's and the console's shorthand) becomes the biller's own metadata URL."""
    if biller.idp_entity_id == "own":
        return replace(biller, idp_entity_id=own_entity_id(settings, biller.name))
    return biller


def check_endpoint_change(store: Store, current: Biller | None, biller: Biller) -> None:
    """Going back to the shared endpoints is refused while the biller publishes keys of its own ring.

    Those keys exist only in its own metadata; at the shared endpoints IC would meet the deployment's
    certificate instead. Retire them first (docs/per-biller.md, "Going back").
    """
    if biller.idp_endpoints != SHARED or current is None or current.idp_endpoints == SHARED:
        return
    published = [r.kid for r in store.list_keys() if r.ring == biller.name and r.state in PUBLISHED_STATES]
    if published:
        raise ValidationError("idp_endpoints", f"biller {biller.name} publishes keys of its own ring "
                              f"({', '.join(published)}); retire them (icbridge keys retire KID --biller "
                              f"{biller.name}) before going back to the shared endpoints")


def biller_identity(settings: Settings, biller: str, entity_id: str | None) -> IdpIdentity:
    """The identity at ``/saml/b/<biller>/``: the deployment's entity ID unless the biller has its own."""
    base = biller_base(settings.idp.base_url, biller)
    return IdpIdentity(
        biller=biller, entity_id=entity_id or settings.idp.resolved_entity_id, metadata_url=base + "/metadata",
        sso_url=base + "/sso", slo_url=base + "/slo", ring=biller,
    )


def identity_at_biller(settings: Settings, biller: Biller) -> IdpIdentity:
    return biller_identity(settings, biller.name, biller.idp_entity_id)


def configured_identity(settings: Settings, biller: Biller) -> IdpIdentity:
    """The identity IC was given for ``biller`` (its ``idp_endpoints``): the setup sheet's and IdP-initiated's."""
    if biller.idp_endpoints == PER_BILLER:
        return identity_at_biller(settings, biller)
    return deployment_identity(settings)


def shared_candidates(billers: list[Biller], sp_entity_id: str) -> list[Biller]:
    """The billers an AuthnRequest from ``sp_entity_id`` at the *shared* endpoints can be for.

    One biller on that SP: it. Several: only those whose IC configuration still uses the shared
    endpoints (``idp_endpoints = shared``); the bridge answers at the shared endpoints only when that
    leaves exactly one, because nothing in IC's request tells billers on one SP apart.
    """
    on_sp = [b for b in billers if b.sp_entity_id == sp_entity_id]
    return on_sp if len(on_sp) <= 1 else [b for b in on_sp if b.idp_endpoints == SHARED]
