"""Payments over HTTP (thin): ``POST /api/v1/payments``, ``GET /api/v1/payments/{id}``, and IC's PostBack.

The partner API's rules are those of ``/api/v1/logins`` (bearer key, rate limits, JSON errors);
the work is bridge.payments. The PostBack route answers IC in plain text.
"""

from __future__ import annotations

import logging
from typing import Any

from starlette.formparsers import MultiPartException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from bridge.billers import authenticate_api_key
from bridge.errors import BridgeError, RateLimited, StoreUnavailable
from bridge.instance import Instance
from bridge.payments import postbacks
from bridge.payments.models import parse_payment
from bridge.payments.service import POSTBACK_PATH, payments_of
from bridge.store.base import ApiKeyRecord
from bridge.web.api_input import json_bytes
from bridge.web.api_routes import _bearer
from bridge.web.offload import in_thread
from bridge.web.responses import client_ip

log = logging.getLogger("bridge.payments")
PAYMENTS_PATH = "/api/v1/payments"
MAX_POSTBACK_FIELDS = 40


def _authenticate(instance: Instance, token: str | None, ip: str | None) -> ApiKeyRecord:
    limits = instance.settings.limits
    instance.limiter.limit_api_client(ip, limits.api_per_minute)
    key = authenticate_api_key(instance.store, token)
    instance.limiter.limit_api_key(key.key_id, limits.api_per_minute)
    return key


def _create(instance: Instance, token: str | None, raw: bytes, idempotency_key: str | None,
            ip: str | None) -> tuple[dict[str, str], bool]:
    key = _authenticate(instance, token, ip)
    payment = parse_payment(raw)
    return payments_of(instance).create(key, payment, idempotency_key=idempotency_key, client_ip=ip)


async def create_payment(request: Request) -> Response:
    raw = await json_bytes(request)
    answer, replayed = await in_thread(
        request, _create, request.app.state.instance, _bearer(request), raw,
        request.headers.get("idempotency-key"), client_ip(request),
    )
    headers = {"Idempotent-Replayed": "true"} if replayed else None
    return JSONResponse(answer, status_code=201, headers=headers)


def _describe(instance: Instance, token: str | None, payment_id: str, ip: str | None) -> dict[str, Any]:
    key = _authenticate(instance, token, ip)
    return payments_of(instance).describe(key, payment_id)


async def get_payment(request: Request) -> Response:
    answer = await in_thread(request, _describe, request.app.state.instance, _bearer(request),
                             request.path_params["payment_id"], client_ip(request))
    return JSONResponse(answer)


def _receive(instance: Instance, token: str, fields: dict[str, str], ip: str | None) -> str:
    instance.limiter.enforce(f"postback-ip:{ip or 'unknown'}", instance.settings.payments.postbacks_per_minute_per_ip,
                             what="PostBacks from this address")
    return postbacks.receive(payments_of(instance), token, fields, client_ip=ip)


async def postback(request: Request) -> Response:
    """IC is a server, not a browser: every answer is one line of plain text (refusals are in the audit)."""
    try:
        form = await request.form(max_files=0, max_fields=MAX_POSTBACK_FIELDS)
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
        outcome = await in_thread(request, _receive, request.app.state.instance, request.path_params["token"],
                                  fields, client_ip(request))
    except StoreUnavailable:
        raise  # 503 from the one error map: IC retries later and nothing was stored
    except BridgeError as exc:
        log.info("PostBack refused: %s (%s)", exc.code, exc.detail)
        headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, RateLimited) else None
        return PlainTextResponse(f"{exc.code}: {exc.detail}", status_code=exc.status, headers=headers)
    except MultiPartException as exc:
        return PlainTextResponse(f"invalid_postback: {exc.message}", status_code=400)
    return PlainTextResponse("OK" if outcome == "accepted" else "OK (duplicate)")


def routes(instance: Instance) -> list[BaseRoute]:
    return [
        Route(PAYMENTS_PATH, create_payment, methods=["POST"]),
        Route(PAYMENTS_PATH + "/{payment_id}", get_payment, methods=["GET"]),
        Route(POSTBACK_PATH + "/{token}", postback, methods=["POST"]),
    ]
