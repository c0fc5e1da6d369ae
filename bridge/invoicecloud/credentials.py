"""A biller's credentials for IC's web services: the API key and the web service key, sealed at rest.

IC hands a partner, per biller, an API key (Cloud Payments V2, REST v1: HTTP Basic) and a web
service key (the SOAP services, Remote Authentication). The bridge is the one place that holds
them: they are sealed with :class:`bridge.secrets_at_rest.SecretBox` into the biller's settings,
opened only at the moment of a call to IC, shown afterwards as their last four characters only,
and never logged or put in an error.

The API::

    box = secret_box(settings)
    biller = set_secret(biller, API_KEY, "…", box)       # None keeps, "" clears, else seals
    key = reveal(biller, WEB_SERVICE_KEY, box)             # the clear value, for the call to IC
    base = api_base(biller, settings)                      # the biller's override, else [invoicecloud]
    masked(biller)                                         # what listings and forms show
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from bridge.billers import Biller
from bridge.config import Settings
from bridge.errors import ValidationError
from bridge.secrets_at_rest import Sealed, SecretBox, SecretUnavailable

API_KEY = "ic_api_key"
WEB_SERVICE_KEY = "ic_web_service_key"
SECRET_FIELDS = (API_KEY, WEB_SERVICE_KEY)
_LABELS = {API_KEY: "IC API key", WEB_SERVICE_KEY: "IC web service key"}
# Printable ASCII without spaces: what IC's keys (GUIDs, base64) are made of; a pasted newline is refused.
_KEY_RE = re.compile(r"^[\x21-\x7e]{1,512}\Z")


class CredentialMissing(SecretUnavailable):
    """The biller has no such credential: the operator must set it (409, not a server fault)."""

    code = "ic_not_configured"
    status = 409


def secret_box(settings: Settings) -> SecretBox:
    return SecretBox(settings.invoicecloud.secrets, setting="invoicecloud.secrets")


def context(biller_name: str, field: str) -> str:
    """Where a sealed value belongs: it opens only there (see bridge.secrets_at_rest)."""
    return f"{_LABELS[field]} of biller {biller_name}"


def check_value(field: str, value: str) -> str:
    """A credential's shape; the error names the field and never repeats the value."""
    if not _KEY_RE.match(value):
        raise ValidationError(field, "must be 1-512 printable characters, without spaces or line breaks")
    return value


def set_secret(biller: Biller, field: str, value: str | None, box: SecretBox) -> Biller:
    """``None`` keeps the stored value, ``""`` removes it, anything else is checked and sealed."""
    if field not in SECRET_FIELDS:
        raise ValueError(f"unknown credential {field}")
    if value is None:
        return biller
    sealed = box.seal(check_value(field, value), context=context(biller.name, field)) if value else None
    return replace(biller, **{field: sealed})


def reveal(biller: Biller, field: str, box: SecretBox) -> str:
    """The clear value, for the call to IC only. Raises CredentialMissing or SecretUnavailable."""
    sealed: Sealed | None = getattr(biller, field)
    if sealed is None:
        option = "--" + field.replace("_", "-")
        raise CredentialMissing(
            f"biller {biller.name} has no {_LABELS[field]}: set it with `icbridge billers update {biller.name} "
            f"{option} env:NAME` or in the admin console"
        )
    return box.open(sealed, context=context(biller.name, field))


def reseal(biller: Biller, box: SecretBox) -> Biller:
    """Every credential re-encrypted with the newest secret (after adding one to invoicecloud.secrets)."""
    changes = {
        field: box.reseal(sealed, context=context(biller.name, field))
        for field in SECRET_FIELDS
        if (sealed := getattr(biller, field)) is not None
    }
    return replace(biller, **changes) if changes else biller


def api_base(biller: Biller, settings: Settings) -> str:
    return (biller.ic_api_base or settings.invoicecloud.api_base).rstrip("/")


def masked(biller: Biller) -> dict[str, Any]:
    """The IC settings as listings, forms and ``--json`` output show them: secrets by their tail only."""
    return {
        API_KEY: biller.ic_api_key.masked() if biller.ic_api_key else None,
        WEB_SERVICE_KEY: biller.ic_web_service_key.masked() if biller.ic_web_service_key else None,
        "ic_api_base": biller.ic_api_base,
        "payment_webhook": biller.payment_webhook,
    }
