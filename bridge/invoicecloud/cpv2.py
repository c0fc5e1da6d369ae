"""Cloud Payments V2: the request IC expects, the call, and what its answers mean.

Public facts (DOMAIN.md): ``POST <api base>/cloudpaymentsapi/v2``, JSON with IC's field names,
``Authorization: Basic base64(<API key>)`` (the key alone; some clients send ``key:``), dates
``MM/DD/YYYY``, answer ``{"Message": "SUCCESS", "Data": {"CloudPaymentURL": "..."}}`` where any
other ``Message`` is IC's error text. Assumed (docs/payments.md): amounts are sent as JSON numbers
with two decimals; ``CssUrl`` and ``PostBackURL`` are spelt so.

Failures are two errors a partner can act on: :class:`IcRejected` (502 ``ic_rejected``: IC said no,
with its words) and :class:`IcUnavailable` (``ic_unavailable``: 504 when IC did not answer in time,
502 when it could not be reached or answered with something unusable). Only a connection that was
never made is retried (once): anything that may have reached IC is not, so a retry can never
create a second payment page. Each call is timed and counted by outcome.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import httpx

from bridge.errors import BridgeError
from bridge.payments.models import Customer, Invoice, PaymentCreate
from bridge.urls import https_or_loopback

PATH = "/cloudpaymentsapi/v2"
SERVICE = "cpv2"
SUCCESS = "SUCCESS"
MAX_MESSAGE = 300
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")

Observer = Callable[[str, str, float], None]  # (service, outcome, seconds)


class IcRejected(BridgeError):
    code = "ic_rejected"
    status = 502


class IcUnavailable(BridgeError):
    code = "ic_unavailable"
    status = 502

    def __init__(self, detail: str, *, outcome: str, status: int = 502) -> None:
        super().__init__(detail, status=status)
        self.outcome = outcome


# --- the request ------------------------------------------------------------------------------------
def ic_date(value: Any) -> str | None:
    return None if value is None else value.strftime("%m/%d/%Y")


def _invoice(invoice: Invoice) -> dict[str, Any]:
    body: dict[str, Any] = {"InvoiceNumber": invoice.invoice_number, "BalanceDue": invoice.balance_due}
    optional = {
        "TypeID": invoice.type_id, "DueDate": ic_date(invoice.due_date), "InvoiceDate": ic_date(invoice.invoice_date),
        "CCServiceFee": invoice.cc_service_fee, "ACHServiceFee": invoice.ach_service_fee,
    }
    return body | {k: v for k, v in optional.items() if v is not None}


def _customer(customer: Customer) -> dict[str, Any]:
    fields = {
        "AccountNumber": customer.account_number, "Name": customer.name, "Address": customer.address,
        "City": customer.city, "State": customer.state, "Zip": customer.zip, "EmailAddress": customer.email,
    }
    body = {k: v for k, v in fields.items() if v is not None}
    return body | {"Invoices": [_invoice(i) for i in customer.invoices]}


def _page_result_options(payment: PaymentCreate) -> dict[str, Any] | None:
    options = payment.page_result_options
    if options is None:
        return None
    body: dict[str, Any] = {}
    if options.allow_register_account is not None:
        body["AllowRegisterAccount"] = options.allow_register_account
    if options.invoice_options is not None:
        names = {"allow_view_statement": "AllowViewStatement", "allow_remove": "AllowRemove",
                 "allow_view_related": "AllowViewRelated", "allow_remind_me": "AllowRemindMe"}
        chosen = options.invoice_options.model_dump(exclude_none=True)
        body["InvoiceOptions"] = {names[k]: v for k, v in chosen.items()}
    return body


def request_body(
    payment: PaymentCreate, *, view_mode: int, css_url: str | None, return_url: str | None,
    biller_reference: str, postback_url: str,
) -> dict[str, Any]:
    """IC's JSON for ``payment`` (defaults already resolved against the biller)."""
    body: dict[str, Any] = {
        "CreateCustomerRecord": payment.create_customer_record,
        "Customers": [_customer(c) for c in payment.customers],
        "ViewMode": view_mode,
        "BillerReference": biller_reference,
        "PostBackURL": postback_url,
        "AllowCCPayment": payment.allow_cc,
        "AllowACHPayment": payment.allow_ach,
        "AllowSwipe": payment.allow_swipe,
    }
    optional = {"CssUrl": css_url, "ReturnURL": return_url, "PageResultOptions": _page_result_options(payment)}
    return body | {k: v for k, v in optional.items() if v is not None}


def to_json(body: dict[str, Any]) -> bytes:
    """JSON with every Decimal written as a number with two decimals, exactly (never through a float).

    The stdlib encoder has no hook for raw numbers: each Decimal goes out as a marker string made
    unique for this call, and the quoted markers are then replaced by the digits.
    """
    marker = f"\x00dec{secrets.token_hex(4)}:"

    def default(value: Any) -> str:
        if isinstance(value, Decimal):
            return f"{marker}{value.quantize(Decimal('0.01'))}"
        raise TypeError(f"cannot send {type(value).__name__} to IC")

    text = json.dumps(body, default=default, separators=(",", ":"), ensure_ascii=False)
    quoted = json.dumps(marker)[:-1]  # the marker as it appears inside a JSON string, without the closing quote
    return re.sub(re.escape(quoted) + r'([0-9.]+)"', r"\1", text).encode()


def basic_auth(api_key: str) -> str:
    """IC's Basic scheme: base64 of the key alone (DOMAIN.md)."""
    return "Basic " + base64.b64encode(api_key.encode()).decode()


# --- the answer -------------------------------------------------------------------------------------
def clean_message(text: Any) -> str:
    """IC's error text, safe to show: no control characters, bounded."""
    return _CONTROL.sub(" ", str(text)).strip()[:MAX_MESSAGE] or "(empty message)"


def payment_url(response: httpx.Response) -> str:
    """``CloudPaymentURL`` from IC's answer, or the error that says what was wrong with it."""
    if response.status_code >= 500:
        raise IcUnavailable(f"Invoice Cloud answered HTTP {response.status_code}; try again later",
                            outcome="server_error")
    try:
        answer = response.json()
    except ValueError:
        answer = None
    message = answer.get("Message") if isinstance(answer, dict) else None
    if response.status_code >= 400:
        said = f": {clean_message(message)}" if message else ""
        raise IcRejected(f"Invoice Cloud refused the request (HTTP {response.status_code}){said}")
    if not isinstance(answer, dict):
        raise IcUnavailable("Invoice Cloud's answer was not JSON", outcome="bad_answer")
    if str(message).upper() != SUCCESS:
        raise IcRejected(f"Invoice Cloud refused the request: {clean_message(message)}")
    data = answer.get("Data")
    url = data.get("CloudPaymentURL") if isinstance(data, dict) else None
    if not isinstance(url, str) or not url:
        raise IcUnavailable("Invoice Cloud answered SUCCESS without a CloudPaymentURL", outcome="bad_answer")
    try:
        return https_or_loopback(url)
    except ValueError:
        raise IcUnavailable("Invoice Cloud's CloudPaymentURL is not an https URL", outcome="bad_answer") from None


# --- the call ---------------------------------------------------------------------------------------
class Cpv2Client:
    """One pooled HTTP client per instance (thread-safe); ``observe`` gets every call's outcome and time."""

    def __init__(
        self, *, connect_timeout: float, read_timeout: float, observe: Observer | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        timeout = httpx.Timeout(read_timeout, connect=connect_timeout)
        self._http = httpx.Client(timeout=timeout, transport=transport, follow_redirects=False,
                                  headers={"User-Agent": "saml-identity-bridge (cpv2)"})
        self._observe = observe or (lambda service, outcome, seconds: None)

    def close(self) -> None:
        self._http.close()

    def create_payment_page(self, *, api_base: str, api_key: str, body: dict[str, Any]) -> str:
        """IC's ``CloudPaymentURL`` for ``body``; raises IcRejected or IcUnavailable."""
        started = time.perf_counter()
        outcome = "ok"
        try:
            return payment_url(self._post(f"{api_base.rstrip('/')}{PATH}", api_key, to_json(body)))
        except IcRejected as exc:
            outcome = "rejected"
            # IC's words reach the partner and the audit trail: never with the key in them, should IC echo it.
            raise IcRejected(exc.detail.replace(api_key, "***")) from None
        except IcUnavailable as exc:
            outcome = exc.outcome
            raise
        finally:
            self._observe(SERVICE, outcome, time.perf_counter() - started)

    def _post(self, url: str, api_key: str, content: bytes) -> httpx.Response:
        headers = {"Authorization": basic_auth(api_key), "Content-Type": "application/json",
                   "Accept": "application/json"}
        for attempt in (1, 2):
            try:
                return self._http.post(url, content=content, headers=headers)
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                # Never connected: IC has not seen this request, so one retry cannot make a second page.
                if attempt == 2:
                    kind = "timeout" if isinstance(exc, httpx.ConnectTimeout) else "unreachable"
                    raise IcUnavailable(
                        "Invoice Cloud could not be reached" + (" in time" if kind == "timeout" else ""),
                        outcome=kind, status=504 if kind == "timeout" else 502,
                    ) from None
            except httpx.TimeoutException:
                raise IcUnavailable("Invoice Cloud did not answer in time; the payment page may not exist",
                                    outcome="timeout", status=504) from None
            except httpx.HTTPError:
                raise IcUnavailable("the connection to Invoice Cloud failed", outcome="unreachable") from None
        raise AssertionError("unreachable")
