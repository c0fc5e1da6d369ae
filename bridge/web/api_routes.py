"""The partner API (CONTRACT.md): ``POST /api/v1/logins`` and its OpenAPI document."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bridge import audit
from bridge.billers import authenticate_api_key, authorise, get_biller
from bridge.delegation import tickets
from bridge.delegation.launches import expires_at, launch_relay_state, launch_url, validate_launch
from bridge.errors import BridgeError, ValidationError
from bridge.instance import Instance
from bridge.web.offload import in_thread
from bridge.web.openapi import openapi_document
from bridge.web.responses import client_ip

LOGINS_PATH = "/api/v1/logins"


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


async def _json_body(request: Request) -> dict[str, Any]:
    if "application/json" not in request.headers.get("content-type", ""):
        raise BridgeError("send the body as JSON with Content-Type: application/json", code="invalid_json")
    raw = await request.body()
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: "[[[[…" nested past the stack
        raise BridgeError("the body is not valid JSON", code="invalid_json") from None
    if not isinstance(body, dict):
        raise BridgeError("the body must be a JSON object", code="invalid_json")
    return body


def _create_login(instance: Instance, token: str | None, body: dict[str, Any], ip: str | None) -> dict[str, str]:
    limits = instance.settings.limits
    instance.limiter.limit_api_client(ip, limits.api_per_minute)
    key = authenticate_api_key(instance.store, token)
    instance.limiter.limit_api_key(key.key_id, limits.api_per_minute)
    name = body.get("biller")
    if not isinstance(name, str) or not name:
        raise ValidationError("biller", "required")
    biller = get_biller(instance.store, name)
    authorise(key, biller.name)
    launch = validate_launch(biller, body)
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
    body = await _json_body(request)
    result = await in_thread(request, _create_login, instance, token, body, client_ip(request))
    return JSONResponse(result, status_code=201)


async def openapi(request: Request) -> Response:
    return JSONResponse(openapi_document(request.app.state.instance.settings.idp.base_url))


routes = [
    Route(LOGINS_PATH, create_login, methods=["POST"]),
    Route("/api/v1/openapi.json", openapi, methods=["GET"]),
]
