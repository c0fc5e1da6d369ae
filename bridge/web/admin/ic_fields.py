"""The biller form's IC web-service fields: credentials sealed at once, blank keeps the stored value.

A submitted key is never rendered back into the form (not even after an error on another field),
and the audit row of an edit names the fields that changed, never a value.
"""

from __future__ import annotations

from dataclasses import replace

from starlette.datastructures import FormData

from bridge.billers import Biller, validate_biller
from bridge.config import Settings
from bridge.invoicecloud import credentials


def apply_ic_form(settings: Settings, form: FormData, biller: Biller, current: Biller | None) -> Biller:
    """``biller`` (built from the other fields) with the IC fields of the form applied over ``current``'s."""
    if current is not None:
        biller = replace(biller, ic_api_key=current.ic_api_key, ic_web_service_key=current.ic_web_service_key)
    options = {name: (str(form.get(name) or "").strip() or None) for name in ("ic_api_base", "payment_webhook")}
    biller = replace(biller, **options)
    box = credentials.secret_box(settings)
    for field in credentials.SECRET_FIELDS:
        typed = str(form.get(field) or "").strip()
        value = "" if form.get(f"clear_{field}") == "on" else (typed or None)
        biller = credentials.set_secret(biller, field, value, box)
    return validate_biller(biller)
