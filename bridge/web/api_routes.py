"""The partner API (CONTRACT.md): ``POST /api/v1/logins`` and its OpenAPI document."""

from __future__ import annotations

from typing import Any, Literal

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bridge import audit
from bridge.billers import authenticate_api_key, authorise, get_biller
from bridge.delegation import rest_sso, tickets
from bridge.delegation.launches import expires_at, launch_relay_state, launch_url, validate_launch
from bridge.instance import Instance
from bridge.web.api_input import ApiModel, Integer, IntegerOrName, Name, Text, json_bytes, parse_json
from bridge.web.offload import in_thread
from bridge.web.openapi import openapi_document
from bridge.web.responses import client_ip

LOGINS_PATH = "/api/v1/logins"


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


class LoginBody(ApiModel):
    """``POST /api/v1/logins`` (CONTRACT.md). Types and sizes here; the biller-specific rules
    (known roles, enabled deep links, email and account syntax) in bridge.delegation.launches."""

    biller: Name
    email: Text(254, min_length=1)
    account_number: Text(50, min_length=1)
    role: Text(64) | None = None
    login_type: IntegerOrName | None = None
    deep_link: IntegerOrName | None = None
    view_mode: Integer | None = None
    flow: Literal["sp-initiated", "idp-initiated"] | None = None

    def launch_fields(self) -> dict[str, Any]:
        """The fields the partner sent, for validate_launch (absent and null are the same: the default)."""
        return self.model_dump(exclude_none=True)


def _create_login(instance: Instance, token: str | None, raw: bytes, ip: str | None) -> dict[str, str]:
    limits = instance.settings.limits
    instance.limiter.limit_api_client(ip, limits.api_per_minute)
    key = authenticate_api_key(instance.store, token)
    instance.limiter.limit_api_key(key.key_id, limits.api_per_minute)
    body = parse_json(raw, LoginBody)  # after the key: an anonymous caller learns nothing about the fields
    biller = get_biller(instance.store, body.biller)
    authorise(key, biller.name)
    launch = validate_launch(biller, body.launch_fields())
    if biller.sso_method == "rest":  # a launch that could not reach IC is refused now, not in the payer's browser
        rest_sso.prepare(instance, biller, launch)
    else:
        launch_relay_state(instance.settings, biller, launch)  # refused now, not after the ticket is spent
    now = instance.clock()
    token_value = tickets.mint(instance.settings.tickets.secrets, launch, ticket_id=instance.new_id(), now=now)
    audit.record(
        instance.store,
        audit.login_event(audit.LAUNCH_CREATED, at=now, outcome="ok", biller=biller.name, flow=launch.flow,
                          sp=biller.sp_entity_id, client_ip=ip, detail=f"deep_link={launch.deep_link}"),
    )
    lifetime = instance.settings.tickets.lifetime
    return {
        "url": launch_url(instance.settings.idp.base_url, token_value),
        "expires_at": expires_at(now, lifetime).isoformat().replace("+00:00", "Z"),
    }


async def create_login(request: Request) -> Response:
    instance: Instance = request.app.state.instance
    token = _bearer(request)
    raw = await json_bytes(request)
    result = await in_thread(request, _create_login, instance, token, raw, client_ip(request))
    return JSONResponse(result, status_code=201)


async def openapi(request: Request) -> Response:
    return JSONResponse(openapi_document(request.app.state.instance.settings.idp.base_url))


routes = [
    Route(LOGINS_PATH, create_login, methods=["POST"]),
    Route("/api/v1/openapi.json", openapi, methods=["GET"]),
]
