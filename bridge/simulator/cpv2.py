"""The simulator's Cloud Payments V2: IC's API, its payment page, the receipt, and the PostBack.

- ``POST /simulator/cloudpaymentsapi/v2`` checks IC's Basic auth (the key alone, or ``key:``)
  against the keys this simulated IC issued (``simulator_api_key``, shown on ``/simulator``),
  checks the fields as IC names them, and answers
  ``{"Message": "SUCCESS", "Data": {"CloudPaymentURL": …}}``. Test accounts make it fail the ways
  IC can (see ``FAILURES``), so a partner can exercise every error on ``scripts/dev.sh``.
- ``GET /simulator/cloudpayments/<id>`` is the payment page (full page, or framed with ViewMode 1
  by the biller's portal origins; ``CssUrl`` is applied); its form takes test card and ACH numbers
  (``TEST_CARDS``, ``TEST_ROUTING``).
- Paying posts IC's PostBack, form-encoded with ``"True"``/``"False"``, to ``PostBackURL`` and
  shows a receipt with a link back to ``ReturnURL``.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import re
import secrets
import uuid
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import httpx
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route

from bridge.billers import Biller, biller_from_record
from bridge.config import Settings
from bridge.errors import NotFound
from bridge.instance import Instance
from bridge.invoicecloud.cpv2 import PATH as CPV2_PATH
from bridge.simulator.sp import PREFIX
from bridge.web.offload import in_thread
from bridge.web.pages import render
from bridge.web.responses import client_ip, frame_ancestors
from bridge.web.security import page_csp

API_PATH = PREFIX + CPV2_PATH
PAGE_PATH = PREFIX + "/cloudpayments"
PAGE_PREFIX = "simulator-cpv2:"
PAGE_LIFETIME = 3600
POSTBACK_TIMEOUT = 10.0
# First customer's AccountNumber → how the simulated IC fails (docs/payments.md).
FAILURES = {"SIM-REJECT": "rejected", "SIM-500": "server_error", "SIM-HTML": "html", "SIM-NOURL": "no_url",
            "SIM-SLOW": "slow"}
DELAYED = "SIM-DELAY"  # answers normally after DELAY seconds (for trying concurrent, idempotent calls)
DELAY = 1.0
TEST_CARDS = {"4111111111111111": True, "4000000000000002": False}
TEST_ROUTING = {"011000015": True, "021000021": False}
_DATE = re.compile(r"^\d{2}/\d{2}/\d{4}\Z")


class IcFieldError(ValueError):
    """What IC would answer in ``Message`` for a malformed request."""


# --- the API ------------------------------------------------------------------------------------------
def presented_key(header: str) -> str | None:
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    return decoded[:-1] if decoded.endswith(":") else decoded  # "key:" as some clients send it


def simulator_api_key(settings: Settings, biller_guid: str) -> str:
    """The IC API key this simulated IC issued to a biller (as IC hands one to the partner per biller).

    Derived from the instance's oldest ticket secret and the BillerGUID, so no key is stored twice;
    the simulator's index page shows it for each biller (development only).
    """
    secret = settings.tickets.secrets[0].encode()
    mac = hmac.new(secret, f"simulator-ic-api-key:{biller_guid.lower()}".encode(), hashlib.sha256).digest()
    return "sim_" + base64.urlsafe_b64encode(mac[:24]).decode()


def biller_for_key(instance: Instance, presented: str) -> Biller | None:
    for record in instance.store.list_billers():
        expected = simulator_api_key(instance.settings, record.biller_guid)
        if hmac.compare_digest(expected.encode(), presented.encode()):
            return biller_from_record(record)
    return None


def _amount(value: Any, where: str) -> str:
    if isinstance(value, bool) or not isinstance(value, int | Decimal | str):
        raise IcFieldError(f"{where} must be a number")
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise IcFieldError(f"{where} must be a number") from None
    if number < 0 or number != number.quantize(Decimal("0.01")):
        raise IcFieldError(f"{where} must be a non-negative amount with at most two decimals")
    return str(number.quantize(Decimal("0.01")))


def _url(body: dict[str, Any], name: str, *, required: bool = False) -> str | None:
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or urlsplit(value).scheme not in ("http", "https") or not urlsplit(value).netloc:
        raise IcFieldError(f"{name} must be an absolute http(s) URL")
    return value


def _invoice(raw: Any, where: str) -> dict[str, Any]:
    if not isinstance(raw, dict) or not isinstance(raw.get("InvoiceNumber"), str) or not raw["InvoiceNumber"]:
        raise IcFieldError(f"{where}.InvoiceNumber is required")
    for name in ("DueDate", "InvoiceDate"):
        if name in raw and not (isinstance(raw[name], str) and _DATE.match(raw[name])):
            raise IcFieldError(f"{where}.{name} must be MM/DD/YYYY")
    fees = {n: _amount(raw[n], f"{where}.{n}") for n in ("CCServiceFee", "ACHServiceFee") if n in raw}
    return {"number": raw["InvoiceNumber"], "due_date": raw.get("DueDate"),
            "balance_due": _amount(raw.get("BalanceDue"), f"{where}.BalanceDue"),
            "cc_fee": fees.get("CCServiceFee", "0.00"), "ach_fee": fees.get("ACHServiceFee", "0.00")}


def _customer(raw: Any, where: str) -> dict[str, Any]:
    if not isinstance(raw, dict) or not isinstance(raw.get("AccountNumber"), str) or not raw["AccountNumber"]:
        raise IcFieldError(f"{where}.AccountNumber is required")
    invoices = raw.get("Invoices", [])
    if not isinstance(invoices, list):
        raise IcFieldError(f"{where}.Invoices must be a list")
    fields = ("Name", "Address", "City", "State", "Zip", "EmailAddress")
    return {"account": raw["AccountNumber"], **{f: str(raw.get(f) or "") for f in fields},
            "invoices": [_invoice(inv, f"{where}.Invoices[{i}]") for i, inv in enumerate(invoices)]}


def check_request(body: Any) -> dict[str, Any]:
    """IC's field checks; the page's data when the request is acceptable."""
    if not isinstance(body, dict):
        raise IcFieldError("The request is invalid.")
    customers = body.get("Customers")
    if not isinstance(customers, list) or not customers:
        raise IcFieldError("Customers is required")
    if body.get("ViewMode", 0) not in (0, 1):
        raise IcFieldError("ViewMode must be 0 or 1")
    for name in ("CreateCustomerRecord", "AllowCCPayment", "AllowACHPayment", "AllowSwipe"):
        if name in body and not isinstance(body[name], bool):
            raise IcFieldError(f"{name} must be true or false")
    page = {
        "customers": [_customer(c, f"Customers[{i}]") for i, c in enumerate(customers)],
        "view_mode": body.get("ViewMode", 0), "css_url": _url(body, "CssUrl") or _url(body, "CSSUrl"),
        "return_url": _url(body, "ReturnURL"),
        "postback_url": _url(body, "PostBackURL") or _url(body, "PostbackURL", required=True),
        "biller_reference": str(body.get("BillerReference") or ""),
        "allow_cc": body.get("AllowCCPayment", True), "allow_ach": body.get("AllowACHPayment", True),
    }
    if not page["allow_cc"] and not page["allow_ach"]:
        raise IcFieldError("AllowCCPayment and AllowACHPayment cannot both be false")
    invoices = [inv for c in page["customers"] for inv in c["invoices"]]
    page["total"] = str(sum((Decimal(i["balance_due"]) for i in invoices), Decimal("0.00")))
    return page


def _answer(message: str, status: int = 200, data: Any = None) -> JSONResponse:
    return JSONResponse({"Message": message, "Data": data}, status_code=status)


def _create_page(instance: Instance, header: str, raw: bytes) -> tuple[str, Any]:
    """("ok", (url, delayed)) | ("failure", kind) | ("error", (status, message))."""
    presented = presented_key(header)
    biller = biller_for_key(instance, presented) if presented else None
    if biller is None:
        return "error", (401, "Authorization has been denied for this request.")
    try:
        page = check_request(json.loads(raw, parse_float=Decimal))
    except (ValueError, RecursionError) as exc:
        return "error", (400, str(exc) if isinstance(exc, IcFieldError) else "The request is invalid.")
    failure = FAILURES.get(page["customers"][0]["account"])
    if failure:
        return "failure", failure
    page_id = secrets.token_urlsafe(16)
    expires = instance.clock() + timedelta(seconds=PAGE_LIFETIME)
    instance.store.put_pending(PAGE_PREFIX + page_id, {**page, "biller": biller.name}, expires)
    return "ok", (f"{instance.settings.idp.base_url}{PAGE_PATH}/{page_id}", page["customers"][0]["account"] == DELAYED)


async def api(request: Request) -> Response:
    instance: Instance = request.app.state.instance
    kind, value = await in_thread(request, _create_page, instance, request.headers.get("authorization", ""),
                                  await request.body())
    if kind == "ok":
        if value[1]:
            await asyncio.sleep(DELAY)
        return _answer("SUCCESS", data={"CloudPaymentURL": value[0]})
    if kind == "error":
        return _answer(value[1], status=value[0])
    if value == "slow":
        await asyncio.sleep(instance.settings.invoicecloud.read_timeout + 2)
        return _answer("SUCCESS", data={"CloudPaymentURL": f"{instance.settings.idp.base_url}{PAGE_PATH}/late"})
    return {
        "rejected": _answer("Customer account SIM-REJECT is locked."),
        "server_error": Response("Internal Server Error", status_code=500, media_type="text/plain"),
        "html": HTMLResponse("<html><body>Service temporarily unavailable</body></html>"),
        "no_url": _answer("SUCCESS", data={}),
    }[value]


# --- the payment page, the payment, the receipt ------------------------------------------------------
def _page(instance: Instance, page_id: str) -> tuple[dict[str, Any], Biller | None]:
    # Read without consuming: take_pending deletes, so put it back (the page may be reloaded).
    key = PAGE_PREFIX + page_id
    data = instance.store.take_pending(key, instance.clock()) if len(page_id) < 64 else None
    if data is None:
        raise NotFound("this payment page does not exist or has expired; ask the portal for a new one")
    instance.store.put_pending(key, data, instance.clock() + timedelta(seconds=PAGE_LIFETIME))
    record = instance.store.get_biller(data["biller"])
    return data, biller_from_record(record) if record else None


def _csp(request: Request, page: dict[str, Any], biller: Biller | None) -> str:
    framed = page["view_mode"] == 1 and biller is not None
    csp = page_csp(request.state.csp_nonce, frame_ancestors=frame_ancestors(biller) if framed else "'none'")
    if page.get("css_url"):
        parts = urlsplit(page["css_url"])
        csp = csp.replace("style-src ", f"style-src {parts.scheme}://{parts.netloc} ", 1)
    return csp


def _html(request: Request, template: str, page: dict[str, Any], biller: Biller | None, *,
          status: int = 200, **context: Any) -> HTMLResponse:
    response = render(request, template, status=status, title="Invoice Cloud simulator: payment", page=page,
                      biller=biller, **context)
    response.headers["content-security-policy"] = _csp(request, page, biller)
    return response


async def payment_page(request: Request) -> Response:
    instance: Instance = request.app.state.instance
    page, biller = await in_thread(request, _page, instance, request.path_params["page_id"])
    return _html(request, "simulator/payment.html", page, biller, page_id=request.path_params["page_id"])


def _result(form: dict[str, str], page: dict[str, Any]) -> tuple[str, bool | None, str]:
    """(method, approved, message); approved None, with what to fix, when the form is not acceptable."""
    method = form.get("method", "")
    if method == "card" and page["allow_cc"]:
        approved = TEST_CARDS.get(re.sub(r"[\s-]", "", form.get("card_number", "")))
        if approved is None:
            return method, None, "use a test card: 4111 1111 1111 1111 approves, 4000 0000 0000 0002 declines"
        return method, approved, "Approved" if approved else "Declined: insufficient funds"
    if method == "ach" and page["allow_ach"]:
        approved = TEST_ROUTING.get(form.get("routing_number", "").strip())
        if approved is None:
            return method, None, "use a test routing number: 011000015 approves, 021000021 declines"
        if not re.fullmatch(r"\d{4,17}", form.get("account_number", "").strip()):
            return method, None, "the bank account number is 4-17 digits"
        return method, approved, "Approved" if approved else "Declined: account closed"
    return method, None, "choose a payment method this page accepts"


def postback_fields(instance: Instance, page: dict[str, Any], biller: Biller, *, method: str, approved: bool,
                    message: str, payer: str, remote_ip: str | None) -> dict[str, str]:
    """The PostBack exactly as IC posts it: IC's names, strings, booleans as True/False, IC's local time."""
    customer = page["customers"][0]
    invoices = [inv for c in page["customers"] for inv in c["invoices"]]
    fee_key = "cc_fee" if method == "card" else "ach_fee"
    fee = sum((Decimal(inv[fee_key]) for inv in invoices), Decimal("0.00"))
    local = instance.clock().astimezone(ZoneInfo(instance.settings.payments.postback_timezone))
    return {
        "BillerGUID": biller.biller_guid, "PaymentDate": local.strftime("%m/%d/%Y %I:%M:%S %p"),
        "InvoiceNumber": ",".join(inv["number"] for inv in invoices), "Approved": "True" if approved else "False",
        "CustomerName": payer or customer["Name"], "CustomerAddress": customer["Address"],
        "CustomerCity": customer["City"], "CustomerState": customer["State"], "CustomerZip": customer["Zip"],
        "PaymentGUID": str(uuid.uuid4()), "PaymentAmount": page["total"],
        "PaymentDescription": f"Payment for account {customer['account']}",
        "PaymentTypeID": "1" if method == "card" else "2", "CardType": "Visa" if method == "card" else "",
        "PaymentMessage": message, "BillerReference": page["biller_reference"], "ConvenienceFee": str(fee),
        "RemoteIP": remote_ip or "",
    }


def _pay(instance: Instance, page_id: str, form: dict[str, str], remote_ip: str | None) -> dict[str, Any]:
    page, biller = _page(instance, page_id)
    method, approved, message = _result(form, page)
    if approved is None or biller is None:
        return {"page": page, "biller": biller, "error": message if biller else "the biller no longer exists"}
    if approved and not instance.store.use_once("simulator-cpv2-paid", page_id,
                                                instance.clock() + timedelta(seconds=PAGE_LIFETIME)):
        return {"page": page, "biller": biller, "error": "this payment page was already paid"}
    fields = postback_fields(instance, page, biller, method=method, approved=approved, message=message,
                             payer=form.get("payer_name", "").strip(), remote_ip=remote_ip)
    try:
        answer = httpx.post(page["postback_url"], data=fields, timeout=POSTBACK_TIMEOUT, follow_redirects=False)
        delivered = f"HTTP {answer.status_code}"
    except httpx.HTTPError as exc:
        delivered = f"failed ({type(exc).__name__})"
    return {"page": page, "biller": biller, "approved": approved, "message": message, "fields": fields,
            "postback": delivered}


async def pay(request: Request) -> Response:
    instance: Instance = request.app.state.instance
    submitted = await request.form(max_files=0, max_fields=20)
    form = {k: v for k, v in submitted.items() if isinstance(v, str)}
    page_id = request.path_params["page_id"]
    outcome = await in_thread(request, _pay, instance, page_id, form, client_ip(request))
    page, biller = outcome.pop("page"), outcome.pop("biller")
    if "error" in outcome:
        return _html(request, "simulator/payment.html", page, biller, status=400, page_id=page_id, **outcome)
    return _html(request, "simulator/receipt.html", page, biller, **outcome)


def routes(instance: Instance) -> list[BaseRoute]:
    if not instance.settings.simulator.enabled:
        return []
    return [
        Route(API_PATH, api, methods=["POST"]),
        Route(PAGE_PATH + "/{page_id}", payment_page, methods=["GET"]),
        Route(PAGE_PATH + "/{page_id}", pay, methods=["POST"]),
    ]
