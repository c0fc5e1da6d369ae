"""``POST /api/v1/payments``'s body, in the partner API's snake_case: strict pydantic v2 models.

Strict means no coercion a partner did not ask for: ``"1"`` is not a ``view_mode``, ``1`` is not a
boolean, an unknown field is an error naming it. The two deliberate exceptions are amounts and
dates, whose wire forms are documented: an amount is a decimal string (``"12.50"``) or a JSON
number with at most two decimals, read as :class:`~decimal.Decimal` (bridge.web.api_input parses
fractions as Decimal, so ``12.1`` never passes through a float); a date is ISO ``YYYY-MM-DD``.
Every error becomes one :class:`bridge.errors.ValidationError` whose field is the JSON path
(``customers[0].invoices[1].balance_due``).
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, StringConstraints

from bridge.delegation.launches import ACCOUNT_RE, EMAIL_RE
from bridge.urls import https_or_loopback
from bridge.web.api_input import ApiModel, parse_json

MAX_AMOUNT = Decimal("9999999.99")
_AMOUNT_TEXT = re.compile(r"^\d{1,7}(\.\d{1,2})?\Z")
_DATE_TEXT = re.compile(r"^\d{4}-\d{2}-\d{2}\Z")
# Free text IC shows on its pages and echoes in PostBacks: printable, no control characters.
_TEXT = re.compile(r"^[^\x00-\x1f\x7f]*\Z")
# What the bridge hands back in a PostBack match: letters, digits and a few separators.
_REFERENCE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,49}\Z")
_INVOICE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,49}\Z")


def _amount(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise ValueError("must be an amount: a decimal string such as \"12.50\" or a number")
    text = str(value)
    if not _AMOUNT_TEXT.match(text):
        raise ValueError("must be an amount from 0 to 9999999.99 with at most two decimals, such as \"12.50\"")
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise ValueError("must be an amount such as \"12.50\"") from None
    if amount > MAX_AMOUNT:
        raise ValueError("must be at most 9999999.99")
    return amount.quantize(Decimal("0.01"))


def _date(value: Any) -> date:
    if not isinstance(value, str) or not _DATE_TEXT.match(value):
        raise ValueError("must be a date as YYYY-MM-DD")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError("must be a real date as YYYY-MM-DD") from None


def _matching(pattern: re.Pattern[str], message: str) -> AfterValidator:
    def check(value: str) -> str:
        if not pattern.match(value):
            raise ValueError(message)
        return value

    return AfterValidator(check)


def _url(value: str) -> str:
    return https_or_loopback(value)


Amount = Annotated[Decimal, BeforeValidator(_amount)]
IsoDate = Annotated[date, BeforeValidator(_date)]
Text = Annotated[str, StringConstraints(max_length=100), _matching(_TEXT, "must not contain control characters")]
Zip = Annotated[str, StringConstraints(max_length=10), _matching(_TEXT, "must not contain control characters")]
Email = Annotated[str, StringConstraints(max_length=254), _matching(EMAIL_RE, "must be an email address")]
Url = Annotated[str, StringConstraints(max_length=2000), AfterValidator(_url)]


_Strict = ApiModel  # strict types, unknown fields refused, frozen, every string capped

class Invoice(_Strict):
    invoice_number: Annotated[str, _matching(_INVOICE, "1-50 of A-Z a-z 0-9 . _ / -, starting with a letter or digit")]
    type_id: Annotated[int, Field(ge=0, le=999999)] | None = None
    due_date: IsoDate | None = None
    invoice_date: IsoDate | None = None
    balance_due: Amount
    cc_service_fee: Amount | None = None
    ach_service_fee: Amount | None = None


class Customer(_Strict):
    account_number: Annotated[str, _matching(ACCOUNT_RE, "1-50 of A-Z a-z 0-9 . _ -, starting with a letter or digit")]
    name: Text | None = None
    address: Text | None = None
    city: Text | None = None
    state: Text | None = None
    zip: Zip | None = None
    email: Email | None = None
    invoices: Annotated[list[Invoice], Field(max_length=100)] = Field(default_factory=list)


class InvoiceOptions(_Strict):
    allow_view_statement: bool | None = None
    allow_remove: bool | None = None
    allow_view_related: bool | None = None
    allow_remind_me: bool | None = None


class PageResultOptions(_Strict):
    allow_register_account: bool | None = None
    invoice_options: InvoiceOptions | None = None


class PaymentCreate(_Strict):
    """What a partner asks for. Defaults not given here come from the biller (view mode, CSS, return URL)."""

    biller: Annotated[str, StringConstraints(min_length=1, max_length=63)]
    customers: Annotated[list[Customer], Field(min_length=1, max_length=20)]
    create_customer_record: bool = False
    view_mode: Annotated[int, Field(ge=0, le=1)] | None = None
    css_url: Url | None = None
    return_url: Url | None = None
    biller_reference: Annotated[str, _matching(_REFERENCE, "1-50 of A-Z a-z 0-9 . _ : / -")] | None = None
    allow_cc: bool = True
    allow_ach: bool = True
    allow_swipe: bool = False
    page_result_options: PageResultOptions | None = None

    @property
    def total(self) -> Decimal:
        return sum((i.balance_due for c in self.customers for i in c.invoices), Decimal("0.00"))


def parse_payment(raw: bytes) -> PaymentCreate:
    """The request body (JSON bytes) as a PaymentCreate, through the partner API's one strict JSON layer
    (bridge.web.api_input: duplicate keys and NaN refused, fractions read as Decimal, the first error
    naming its field by its JSON path)."""
    return parse_json(raw, PaymentCreate)
