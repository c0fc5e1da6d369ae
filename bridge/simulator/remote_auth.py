"""The simulator's Invoice Cloud side of Cloud SSO Connect over REST, speaking the configured wire format.

Served under ``/simulator`` (a simulator biller's ``ic_api_base``, as for CPV2, and knowing billers by
the same issued API keys): the four Remote Authentication operations at ``[invoicecloud.remote_auth]
paths``, with its auth style and field names, so the bridge's client and this stand-in always agree on
the same (assumed) defaults, and a changed wire format is exercised on both sides. Then IC's Cloud SSO
page at ``sso_page``: it redeems the token once and shows what IC would show (the account, the page for
the RedirectID, the biller's CSS, ViewMode 1 inside the portal's frame, and "Sign out and Return to
<SiteName>" linking ReturnUrl).

``/simulator/ic`` itself lists the records and queues faults for the next calls (dev only, like the
whole simulator).
"""

from __future__ import annotations

import asyncio
import hmac
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from bridge.billers import Biller, biller_from_record
from bridge.errors import BridgeError, ValidationError
from bridge.instance import Instance
from bridge.invoicecloud import credentials
from bridge.invoicecloud.links import deep_link_page, resolve_view_mode
from bridge.invoicecloud.remote_auth import OPERATIONS, WireFormat
from bridge.secrets_at_rest import SecretUnavailable
from bridge.simulator.cpv2 import biller_for_key, presented_key
from bridge.simulator.ic_state import FAULTS, ICState, TokenGrant
from bridge.simulator.sp import PREFIX
from bridge.web.offload import in_thread
from bridge.web.pages import render
from bridge.web.responses import frame_ancestors, origin_of
from bridge.web.security import page_csp

API_BASE = PREFIX  # a simulator biller's ic_api_base is <base_url>/simulator (CPV2 lives there too)
IC_PREFIX = PREFIX + "/ic"  # the records and the fault queue
STATE_FILE = "simulator-ic.db"


class _Refused(Exception):
    def __init__(self, response: Response) -> None:
        self.response = response


def ic_state(instance: Instance) -> ICState:
    state = instance.extras.get("simulator_ic")
    if state is None:
        state = instance.extras["simulator_ic"] = ICState(instance.settings.path(STATE_FILE))
    return state


def _wire(instance: Instance) -> WireFormat:
    return instance.settings.invoicecloud.remote_auth


def _answer(wire: WireFormat, message: str, data: dict[str, Any] | None = None, status: int = 200) -> JSONResponse:
    body: dict[str, Any] = {wire.fields["message"]: message}
    if data is not None:
        body[wire.fields["data"]] = data
    return JSONResponse(body, status_code=status)


def _revealed(biller: Biller, field: str, instance: Instance) -> str | None:
    try:
        return credentials.reveal(biller, field, credentials.secret_box(instance.settings))
    except SecretUnavailable:
        return None


def _caller(instance: Instance, request: Request, body: dict[str, Any]) -> Biller:
    """The biller whose credentials the call carries, as IC would tell: the API key this simulated IC issued
    to it (as for CPV2), or, in the web-service-key style, BillerGUID with the biller's web service key."""
    wire = _wire(instance)
    if wire.auth == "web-service-key":
        guid = str(body.get(wire.fields["biller_guid"], "")).lower()
        presented = str(body.get(wire.fields["web_service_key"], ""))
        record = instance.store.get_biller_by_guid(guid) if guid else None
        biller = biller_from_record(record) if record else None
        expected = _revealed(biller, credentials.WEB_SERVICE_KEY, instance) if biller else None
        if biller is not None and presented and expected and hmac.compare_digest(expected, presented):
            return biller
    else:
        key = presented_key(request.headers.get("authorization", ""))
        found = biller_for_key(instance, key) if key else None
        if found is not None:
            return found
    raise _Refused(_answer(wire, "Unauthorized", status=401))


def _text(body: dict[str, Any], wire: WireFormat, name: str) -> str:
    value = body.get(wire.fields[name])
    if not isinstance(value, str) or not value:
        raise _Refused(_answer(wire, f"{wire.fields[name]} is required"))
    return value


def _login_type(body: dict[str, Any], wire: WireFormat) -> int:
    value = body.get(wire.fields["login_type_id"])
    if value not in (1, 5):
        raise _Refused(_answer(wire, f"{wire.fields['login_type_id']} must be 1 or 5"))
    return int(value)


def _operate(instance: Instance, operation: str, biller: Biller, body: dict[str, Any]) -> JSONResponse:
    wire, state, f, now = _wire(instance), ic_state(instance), _wire(instance).fields, instance.clock()
    guid = biller.biller_guid
    if operation == "retrieve_users":
        account = _text(body, wire, "account_number")
        _text(body, wire, "email")
        users = [{f["email"]: r.email, f["login_type_id"]: r.login_type_id} for r in state.registrations(guid, account)]
        return _answer(wire, wire.success_message,
                       {f["account_exists"]: state.account_exists(guid, account), f["users"]: users})
    if operation == "create_customer":
        customer = state.create_customer(guid, _text(body, wire, "account_number"), _text(body, wire, "email"),
                                         now=now)
        return _answer(wire, wire.success_message, {f["customer_guid"]: customer})
    email = _text(body, wire, "email")
    login_type = _login_type(body, wire)
    if operation == "register_accounts":
        accounts = body.get(f["account_numbers"])
        if not isinstance(accounts, list) or not accounts or not all(isinstance(a, str) for a in accounts):
            return _answer(wire, f"{f['account_numbers']} must be a list of account numbers")
        for account in accounts:
            if not state.account_exists(guid, account):
                return _answer(wire, f"Account {account} does not exist")
        for account in accounts:
            state.register(guid, account, email, login_type)
        return _answer(wire, wire.success_message)
    account = _text(body, wire, "account_number")
    if not any(r.email == email.casefold() for r in state.registrations(guid, account)):
        return _answer(wire, f"{email} is not registered for account {account}")
    css = body.get(f["css_url"]) if isinstance(body.get(f["css_url"]), str) else None
    token = state.issue_token(TokenGrant(guid, account, email, login_type, css), now=now)
    return _answer(wire, wire.success_message, {f["token"]: token})


async def _fault(instance: Instance, request: Request, operation: str) -> Response | None:
    kind = await in_thread(request, ic_state(instance).take_fault, operation)
    wire = _wire(instance)
    if kind == "timeout":
        await asyncio.sleep(instance.settings.invoicecloud.read_timeout + 1)  # past the bridge's read timeout
        return _answer(wire, wire.success_message, {})
    if kind == "unauthorized":
        return _answer(wire, "Unauthorized", status=401)
    if kind == "server_error":
        return PlainTextResponse("Internal Server Error", status_code=500)
    if kind == "malformed":
        return PlainTextResponse("<html>not the JSON you expected</html>", status_code=200)
    if kind == "ic_error":
        return _answer(wire, f"Simulated IC error in {operation}")
    return None


def _handler(operation: str):  # type: ignore[no-untyped-def]
    async def handle(request: Request) -> Response:
        instance: Instance = request.app.state.instance
        faulted = await _fault(instance, request, operation)
        if faulted is not None:
            return faulted
        try:
            body = await request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return _answer(_wire(instance), "The request body must be a JSON object")
        try:
            biller = await in_thread(request, _caller, instance, request, body)
            return await in_thread(request, _operate, instance, operation, biller, body)
        except _Refused as refused:
            return refused.response

    return handle


async def cloud_sso(request: Request) -> Response:
    """IC's Cloud SSO page: redeem the token once, then show the signed-in landing page."""
    instance: Instance = request.app.state.instance
    f = _wire(instance).fields
    submitted = await request.form(max_files=0, max_fields=20) if request.method == "POST" else request.query_params
    fields = {k: v for k, v in submitted.items() if isinstance(v, str)}
    token = fields.get(f["token"], "")
    grant = await in_thread(request, ic_state(instance).redeem_token, token, now=instance.clock())
    if isinstance(grant, str):
        raise BridgeError(f"Invoice Cloud simulator: {grant}", code="ic_token_refused")
    biller = await in_thread(request, _biller_by_guid, instance, grant.biller_guid)
    try:
        view_mode = resolve_view_mode(fields.get(f["view_mode"], "0"), field=f["view_mode"])
    except ValidationError:
        view_mode = 0
    redirect = fields.get(f["redirect_id"], "1")
    css_url = grant.css_url or fields.get(f["css_url"])
    page = render(
        request, "simulator/cloud_sso.html", title="Invoice Cloud: Cloud SSO Connect (simulator)", grant=grant,
        biller=biller, view_mode=view_mode, redirect_id=redirect,
        page_name=deep_link_page(int(redirect)) if redirect.isdigit() else "unknown RedirectID",
        css_url=css_url, return_url=fields.get(f["return_url"]), site_name=fields.get(f["return_site_name"]),
        registrations=await in_thread(request, ic_state(instance).registrations, grant.biller_guid,
                                      grant.account_number),
    )
    style = f" {origin_of(css_url)}" if css_url else ""
    page.headers["content-security-policy"] = page_csp(
        request.state.csp_nonce, frame_ancestors=frame_ancestors(biller),
    ).replace("style-src ", f"style-src{style} ", 1)
    return page


def _biller_by_guid(instance: Instance, guid: str) -> Biller | None:
    record = instance.store.get_biller_by_guid(guid)
    return biller_from_record(record) if record else None


def _overview(instance: Instance) -> list[tuple[Biller, list[Any], dict[str, int]]]:
    state = ic_state(instance)
    rows = []
    for record in instance.store.list_billers():
        biller = biller_from_record(record)
        registrations = state.registrations(biller.biller_guid)
        accounts = {r.account_number for r in registrations}
        rows.append((biller, registrations, {a: state.customer_records(biller.biller_guid, a) for a in accounts}))
    return rows


async def overview(request: Request) -> Response:
    instance: Instance = request.app.state.instance
    rows = await in_thread(request, _overview, instance)
    return render(request, "simulator/ic.html", title="Invoice Cloud simulator: Remote Authentication", rows=rows,
                  operations=OPERATIONS, faults=FAULTS, wire=_wire(instance))


async def add_fault(request: Request) -> Response:
    """Queue a fault for the next call(s) of one operation (dev only: tests and partners trying failure paths)."""
    instance: Instance = request.app.state.instance
    form = await request.form(max_files=0, max_fields=5)
    operation, kind, count = str(form.get("operation", "")), str(form.get("kind", "")), str(form.get("count", "1"))
    if operation not in OPERATIONS:
        raise ValidationError("operation", f"one of {', '.join(OPERATIONS)}")
    if kind not in FAULTS:
        raise ValidationError("kind", f"one of {', '.join(FAULTS)}")
    if not count.isdigit() or not 1 <= int(count) <= 10:
        raise ValidationError("count", "1 to 10")
    await in_thread(request, ic_state(instance).add_fault, operation, kind, int(count))
    return RedirectResponse(IC_PREFIX, status_code=303)


def routes(instance: Instance) -> list[BaseRoute]:
    wire = _wire(instance)
    found: list[BaseRoute] = [Route(f"{API_BASE}/{wire.paths[op].strip('/')}", _handler(op), methods=["POST"])
                              for op in OPERATIONS]
    return [
        *found,
        Route(f"{API_BASE}/{wire.sso_page.strip('/')}", cloud_sso, methods=["GET", "POST"]),
        Route(IC_PREFIX, overview, methods=["GET"]),
        Route(f"{IC_PREFIX}/faults", add_fault, methods=["POST"]),
    ]
