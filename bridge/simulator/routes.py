"""The simulator's HTTP side: metadata, the IC-style redirect link, and the strict ACS.

``/simulator/saml/<BillerGUID>`` remembers the link's account, ViewMode and DeepLinkID in the
store under the AuthnRequest's ID (single use, expires with ``session.pending_lifetime``), so
any worker can answer the ACS and a Response can be consumed once only. Unsolicited Responses
(IdP-initiated launches) carry the same values in their RelayState.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs

from onelogin.saml2.auth import OneLogin_Saml2_Auth
from onelogin.saml2.response import OneLogin_Saml2_Response
from onelogin.saml2.settings import OneLogin_Saml2_Settings
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from bridge.billers import Biller, biller_from_record, get_biller_by_guid
from bridge.delegation.launches import ACCOUNT_RE
from bridge.errors import BridgeError, ValidationError
from bridge.instance import Instance
from bridge.invoicecloud.links import build_link, deep_link_page, resolve_view_mode
from bridge.simulator import remote_auth
from bridge.simulator.sp import ACS_PATH, LINK_PATH, METADATA_PATH, PREFIX, SimulatorSP
from bridge.web.offload import in_thread
from bridge.web.pages import render
from bridge.web.responses import client_ip, frame_ancestors
from bridge.web.security import page_csp

PENDING_PREFIX = "simulator:"
RELAY_STATE = "simulator"
VIEW_MODE_NAMES = {0: "0: full page (redirect)", 1: "1: inside the portal's iFrame"}


@dataclass(frozen=True, slots=True)
class LinkParams:
    account: str
    view_mode: int
    deep_link: int

    def to_dict(self) -> dict[str, Any]:
        return {"account": self.account, "view_mode": self.view_mode, "deep_link": self.deep_link}


@dataclass
class Outcome:
    """What the simulator concluded about one Response: the claims, or every problem found."""

    problems: list[str] = field(default_factory=list)
    biller: Biller | None = None
    link: LinkParams | None = None
    name_id: str | None = None
    name_id_format: str | None = None
    claims: dict[str, list[str]] = field(default_factory=dict)
    in_response_to: str | None = None

    @property
    def ok(self) -> bool:
        return not self.problems


def _simulator(instance: Instance) -> SimulatorSP:
    return instance.extras["simulator"]


def parse_link(params: Any) -> LinkParams:
    """IC's link query: ``account``, ``ViewMode`` (0|1), ``DeepLinkID`` (a positive integer)."""
    account = params.get("account") or ""
    if not ACCOUNT_RE.match(account):
        raise ValidationError("account", "required: letters, digits, '.', '_' or '-' (1-50 characters)")
    view_mode = resolve_view_mode(params.get("ViewMode", "0"), field="ViewMode")
    raw = params.get("DeepLinkID", "1")
    if not str(raw).isdigit() or not 0 < int(raw) <= 9999:
        raise ValidationError("DeepLinkID", "must be a positive integer")
    return LinkParams(account=account, view_mode=view_mode, deep_link=int(raw))


def _framed_html(request: Request, response: HTMLResponse, billers: list[Biller]) -> HTMLResponse:
    """ViewMode 1 pages run inside the portal: frame-ancestors from the biller's portal origins."""
    origins = sorted({o for b in billers for o in b.portal_origins})
    ancestors = frame_ancestors(Biller(name="-", biller_guid="-", sp_entity_id="-", portal_origins=tuple(origins)))
    response.headers["content-security-policy"] = page_csp(request.state.csp_nonce, frame_ancestors=ancestors)
    return response


async def metadata(request: Request) -> Response:
    body = _simulator(request.app.state.instance).metadata()
    return Response(body, media_type="application/samlmetadata+xml")


def _simulator_billers(instance: Instance) -> list[Biller]:
    entity_id = _simulator(instance).entity_id
    return [biller_from_record(r) for r in instance.store.list_billers() if r.sp_entity_id == entity_id]


async def index(request: Request) -> Response:
    instance: Instance = request.app.state.instance
    billers = await in_thread(request, _simulator_billers, instance)
    links = [
        (b, build_link(b.link_base, b.biller_guid, account="101Invoice", view_mode=b.view_mode, deep_link=b.deep_link))
        for b in billers
    ]
    simulator = _simulator(instance)
    from bridge.simulator.cpv2 import simulator_api_key  # the simulated IC's web services (Cloud Payments V2)

    ic_keys = {b.name: simulator_api_key(instance.settings, b.biller_guid) for b in billers}
    return render(request, "simulator/index.html", title="Invoice Cloud simulator", links=links,
                  simulator=simulator, ic_keys=ic_keys)


def _start(instance: Instance, request: Request, biller_guid: str) -> Response:
    now = instance.clock()
    instance.limiter.limit_simulator(client_ip(request), instance.settings.limits.sso_per_minute_per_ip)
    biller = get_biller_by_guid(instance.store, biller_guid)
    simulator = _simulator(instance)
    if biller.sp_entity_id != simulator.entity_id:
        raise BridgeError(
            f"biller {biller.name} is bound to the service provider {biller.sp_entity_id}, not to the simulator "
            f"({simulator.entity_id}); bind it to the simulator to test it here", code="not_simulator_biller",
        )
    link = parse_link(request.query_params)
    auth = OneLogin_Saml2_Auth(simulator.request_data(f"{LINK_PATH}/{biller.biller_guid}"),
                               simulator.settings_dict())
    url = auth.login(return_to=RELAY_STATE)
    data = {"biller": biller.name, **link.to_dict()}
    expires = now + timedelta(seconds=instance.settings.session.pending_lifetime)
    instance.store.put_pending(PENDING_PREFIX + auth.get_last_request_id(), data, expires)
    return RedirectResponse(url, status_code=303)


async def start(request: Request) -> Response:
    instance: Instance = request.app.state.instance
    return await in_thread(request, _start, instance, request, request.path_params["biller_guid"])


def _link_from_relay_state(relay_state: str | None) -> LinkParams | None:
    """An unsolicited Response's RelayState: IC's own query string (``account=..&ViewMode=..&DeepLinkID=..``)."""
    if not relay_state or relay_state == RELAY_STATE:
        return None
    values = {k: v[0] for k, v in parse_qs(relay_state).items()}
    try:
        return parse_link(values)
    except ValidationError:
        return None


def _peek(simulator: SimulatorSP, saml_response: str) -> OneLogin_Saml2_Response | None:
    try:
        return OneLogin_Saml2_Response(OneLogin_Saml2_Settings(simulator.settings_dict()), saml_response)
    except Exception:
        return None


def _expected(instance: Instance, outcome: Outcome, response: OneLogin_Saml2_Response,
              relay_state: str | None) -> None:
    """Which link this Response answers: the stored AuthnRequest (solicited) or the RelayState (unsolicited)."""
    now = instance.clock()
    outcome.in_response_to = response.get_in_response_to()
    if outcome.in_response_to:
        data = instance.store.take_pending(PENDING_PREFIX + outcome.in_response_to, now)
        if data is None:
            outcome.problems.append(
                f"InResponseTo {outcome.in_response_to} names no AuthnRequest the simulator is waiting for "
                "(unknown, expired, or this Response was already consumed)"
            )
            return
        outcome.link = LinkParams(account=data["account"], view_mode=data["view_mode"], deep_link=data["deep_link"])
        record = instance.store.get_biller(data["biller"])
        outcome.biller = biller_from_record(record) if record else None
        return
    outcome.link = _link_from_relay_state(relay_state)
    if outcome.link is None:
        outcome.problems.append("unsolicited Response without a RelayState naming account, ViewMode and DeepLinkID")


def _validate(instance: Instance, simulator: SimulatorSP, form: dict[str, str], outcome: Outcome) -> None:
    auth = OneLogin_Saml2_Auth(simulator.request_data(ACS_PATH, post=form), simulator.settings_dict())
    auth.process_response(request_id=outcome.in_response_to)
    errors = auth.get_errors()
    if errors:
        reason = auth.get_last_error_reason()
        outcome.problems.append(f"python3-saml (strict) refused the Response: {', '.join(errors)}"
                                + (f": {reason}" if reason else ""))
        return
    assertion_id = auth.get_last_assertion_id() or ""
    expires = instance.clock() + timedelta(seconds=instance.settings.idp.assertion_lifetime * 2)
    if not instance.store.use_once("simulator-assertion", assertion_id, expires):
        outcome.problems.append(f"assertion {assertion_id} was already consumed (replay)")
        return
    outcome.name_id = auth.get_nameid()
    outcome.name_id_format = auth.get_nameid_format()
    outcome.claims = auth.get_attributes()


def _check_claims(instance: Instance, outcome: Outcome) -> None:
    names = instance.settings.sp_settings(_simulator(instance).entity_id).attribute_names
    for claim in ("Email", "LoginType", "AccountNumber"):
        name = names.get(claim, claim)
        if not outcome.claims.get(name):
            outcome.problems.append(f"the assertion has no {name} claim")
    account = (outcome.claims.get(names.get("AccountNumber", "AccountNumber")) or [None])[0]
    if outcome.link is not None and account is not None and account != outcome.link.account:
        outcome.problems.append(
            f"the AccountNumber claim ({account}) is not the account in the link ({outcome.link.account})"
        )
    if outcome.biller is not None:
        login_type = (outcome.claims.get(names.get("LoginType", "LoginType")) or [None])[0]
        if login_type is not None and login_type not in outcome.biller.login_types.values():
            outcome.problems.append(f"LoginType {login_type} is not in biller {outcome.biller.name}'s mapping")


def consume(instance: Instance, form: dict[str, str]) -> Outcome:
    """Validate a posted Response the way a strict IC would; collect every problem, never raise."""
    simulator = _simulator(instance)
    outcome = Outcome()
    saml_response = form.get("SAMLResponse")
    if not saml_response:
        outcome.problems.append("no SAMLResponse field was posted")
        return outcome
    response = _peek(simulator, saml_response)
    if response is None:
        outcome.problems.append("the SAMLResponse is not a readable base64-encoded SAML message")
        return outcome
    _expected(instance, outcome, response, form.get("RelayState"))
    if outcome.problems:
        return outcome
    _validate(instance, simulator, form, outcome)
    if not outcome.problems:
        _check_claims(instance, outcome)
    return outcome


async def acs(request: Request) -> Response:
    instance: Instance = request.app.state.instance
    submitted = await request.form(max_files=0, max_fields=10)
    fields = {k: v for k, v in submitted.items() if isinstance(v, str)}
    outcome = await in_thread(request, consume, instance, fields)
    # An unsolicited Response names no biller: any simulator biller's portal may frame the result.
    billers = [outcome.biller] if outcome.biller else await in_thread(request, _simulator_billers, instance)
    link = outcome.link
    page = render(
        request, "simulator/result.html", status=200 if outcome.ok else 400,
        title="Signed in to the Invoice Cloud simulator" if outcome.ok else "The simulator refused the sign-in",
        outcome=outcome, link=link,
        page_name=deep_link_page(link.deep_link) if link else None,
        view_mode_name=VIEW_MODE_NAMES.get(link.view_mode) if link else None,
    )
    return _framed_html(request, page, billers)


def routes(instance: Instance) -> list[BaseRoute]:
    if not instance.settings.simulator.enabled or "simulator" not in instance.extras:
        return []
    return [
        Route(PREFIX, index, methods=["GET"]),
        Route(METADATA_PATH, metadata, methods=["GET"]),
        Route(LINK_PATH + "/{biller_guid}", start, methods=["GET"]),
        Route(ACS_PATH, acs, methods=["POST"]),
        *remote_auth.routes(instance),
    ]

