"""IC's PostBack: the form-encoded POST IC makes to ``PostBackURL`` after a payment, read leniently, kept typed.

Fields (DOMAIN.md): ``BillerGUID, PaymentDate, InvoiceNumber, Approved, CustomerName,
CustomerAddress, CustomerCity, CustomerState, CustomerZip, PaymentGUID, PaymentAmount,
PaymentDescription, PaymentTypeID, CardType, PaymentMessage, BillerReference, ConvenienceFee,
RemoteIP``; booleans as ``"True"``/``"False"``. It carries no signature: what makes one trustworthy
is the unguessable URL it arrives on and the checks in bridge.payments.postbacks.

Assumed (docs/payments.md): amounts may carry ``$`` and thousands separators; ``PaymentDate`` is
``MM/DD/YYYY[ hh:mm[:ss][ AM|PM]]`` or ISO 8601, a time without an offset being IC's local time
(``[payments] postback_timezone``, America/New_York by default). A value that will not parse is
stored as unknown (None) rather than refusing a payment IC has already taken; only
``PaymentGUID`` and ``Approved`` are required.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from bridge.errors import BridgeError
from bridge.payments.store import Postback

FIELDS = (
    "BillerGUID", "PaymentDate", "InvoiceNumber", "Approved", "CustomerName", "CustomerAddress", "CustomerCity",
    "CustomerState", "CustomerZip", "PaymentGUID", "PaymentAmount", "PaymentDescription", "PaymentTypeID",
    "CardType", "PaymentMessage", "BillerReference", "ConvenienceFee", "RemoteIP",
)  # fmt: skip
_TRUE = {"true", "1", "yes", "y"}
_FALSE = {"false", "0", "no", "n"}
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
_GUID = re.compile(r"^[A-Za-z0-9{}-]{1,64}\Z")
_DATE_FORMATS = ("%m/%d/%Y %I:%M:%S %p", "%m/%d/%Y %I:%M %p", "%m/%d/%Y %H:%M:%S", "%m/%d/%Y %H:%M", "%m/%d/%Y")
MAX_TEXT = 200


class PostbackMalformed(BridgeError):
    code = "invalid_postback"


@dataclass(frozen=True, slots=True)
class ParsedPostback:
    biller_guid: str
    biller_reference: str
    postback: Postback


def text(value: str | None) -> str | None:
    cleaned = _CONTROL.sub(" ", value or "").strip()[:MAX_TEXT]
    return cleaned or None


def boolean(value: str | None) -> bool | None:
    word = (value or "").strip().lower()
    return True if word in _TRUE else False if word in _FALSE else None


def amount(value: str | None) -> Decimal | None:
    cleaned = (value or "").strip().replace("$", "").replace(",", "").strip()
    if not cleaned:
        return None
    try:
        number = Decimal(cleaned)
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def integer(value: str | None) -> int | None:
    cleaned = (value or "").strip()
    return int(cleaned) if cleaned.isdigit() and len(cleaned) <= 9 else None


def timestamp(value: str | None, zone: ZoneInfo) -> datetime | None:
    """A UTC time from IC's date text; a time without an offset is in IC's zone."""
    cleaned = (value or "").strip()
    if not cleaned:
        return None
    parsed: datetime | None = None
    for form in _DATE_FORMATS:
        try:
            parsed = datetime.strptime(cleaned, form)  # naive: the zone is attached below
            break
        except ValueError:
            continue
    if parsed is None:
        try:
            parsed = datetime.fromisoformat(cleaned.replace("Z", "+00:00"))
        except ValueError:
            return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zone)
    return parsed.astimezone(UTC)


def parse(form: Mapping[str, str], *, zone: ZoneInfo) -> ParsedPostback:
    """IC's fields, typed. Raises PostbackMalformed only without a usable PaymentGUID or Approved."""
    guid = (form.get("PaymentGUID") or "").strip()
    if not _GUID.match(guid):
        raise PostbackMalformed("PaymentGUID: required, a GUID")
    approved = boolean(form.get("Approved"))
    if approved is None:
        raise PostbackMalformed("Approved: required, True or False")
    customer = {
        key: value for key, name in (("name", "CustomerName"), ("address", "CustomerAddress"),
                                     ("city", "CustomerCity"), ("state", "CustomerState"), ("zip", "CustomerZip"))
        if (value := text(form.get(name))) is not None
    }
    postback = Postback(
        payment_guid=guid.strip("{}").lower(),
        approved=approved,
        amount=amount(form.get("PaymentAmount")),
        convenience_fee=amount(form.get("ConvenienceFee")),
        paid_at=timestamp(form.get("PaymentDate"), zone),
        invoice_number=text(form.get("InvoiceNumber")),
        payment_type_id=integer(form.get("PaymentTypeID")),
        card_type=text(form.get("CardType")),
        message=text(form.get("PaymentMessage")),
        description=text(form.get("PaymentDescription")),
        customer=customer,
        remote_ip=text(form.get("RemoteIP")),  # the payer's address as IC saw it
    )
    return ParsedPostback(
        biller_guid=(form.get("BillerGUID") or "").strip().strip("{}").lower(),
        biller_reference=(form.get("BillerReference") or "").strip(),
        postback=postback,
    )
