"""The partner API's OpenAPI 3.1 document (served at /api/v1/openapi.json)."""

from __future__ import annotations

from typing import Any

from bridge.invoicecloud.links import DEEP_LINK_BY_NAME

_ERROR = {
    "type": "object",
    "required": ["error", "detail"],
    "properties": {"error": {"type": "string"}, "detail": {"type": "string"}},
}


def _error(description: str) -> dict[str, Any]:
    schema = {"$ref": "#/components/schemas/Error"}
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def openapi_document(base_url: str) -> dict[str, Any]:
    login = {
        "type": "object",
        "required": ["biller", "email", "account_number"],
        "additionalProperties": False,
        "properties": {
            "biller": {"type": "string", "description": "Biller name registered on the bridge"},
            "email": {"type": "string", "format": "email", "maxLength": 254},
            "account_number": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]{0,49}$"},
            "role": {"type": "string", "description": "Partner role, mapped to LoginType by the biller"},
            "login_type": {"type": ["integer", "string"], "description": "Explicit LoginType (instead of role)"},
            "deep_link": {
                "oneOf": [{"type": "integer", "minimum": 1}, {"type": "string", "enum": sorted(DEEP_LINK_BY_NAME)}]
            },
            "view_mode": {"type": "integer", "enum": [0, 1], "description": "0 full page, 1 inside an iFrame"},
            "flow": {"type": "string", "enum": ["sp-initiated", "idp-initiated"]},
        },
    }
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": "SAML identity bridge partner API", "version": "1"},
        "servers": [{"url": base_url}],
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {"Login": login, "Error": _ERROR},
        },
        "security": [{"bearer": []}],
        "paths": {
            "/api/v1/logins": {
                "post": {
                    "summary": "Create a single-use launch URL that signs the payer in to Invoice Cloud",
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Login"}}},
                    },
                    "responses": {
                        "201": {
                            "description": "Launch URL created",
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "object",
                                        "required": ["url", "expires_at"],
                                        "properties": {
                                            "url": {"type": "string", "format": "uri"},
                                            "expires_at": {"type": "string", "format": "date-time"},
                                        },
                                    }
                                }
                            },
                        },
                        "400": _error("A field is invalid (the detail names it), or the body is not JSON"),
                        "401": _error("Missing or invalid API key"),
                        "403": _error("The API key is not for this biller"),
                        "404": _error("Unknown biller"),
                        "409": _error("ic_not_configured: the biller signs in over REST and lacks its IC "
                                      "credential (docs/rest-sso.md); nothing was issued"),
                        "413": _error("Body too large"),
                        "429": _error("Rate limited (see Retry-After)"),
                        "503": _error("The bridge's store is unavailable; nothing was issued"),
                    },
                }
            }
        },
    }
    _add_payments(document)
    return document


def _add_payments(document: dict[str, Any]) -> None:
    """``/api/v1/payments`` (docs/payments.md); the request schema is the validating model's own."""
    from bridge.payments.models import PaymentCreate

    schema = PaymentCreate.model_json_schema(ref_template="#/components/schemas/{model}")
    document["components"]["schemas"].update({"PaymentCreate": schema, **schema.pop("$defs", {})})
    created = {"type": "object", "required": ["payment_id", "url", "created_at"], "properties": {
        "payment_id": {"type": "string"}, "url": {"type": "string", "format": "uri"},
        "created_at": {"type": "string", "format": "date-time"}}}
    shared = {"401": _error("Missing or invalid API key"), "429": _error("Rate limited (see Retry-After)"),
              "503": _error("The bridge's store is unavailable")}
    document["paths"]["/api/v1/payments"] = {"post": {
        "summary": "Ask Invoice Cloud (Cloud Payments V2) for a payment page with the biller's IC API key",
        "parameters": [{"name": "Idempotency-Key", "in": "header", "required": False,
                        "schema": {"type": "string", "maxLength": 255},
                        "description": "A retry with the same key and body returns the first answer (24 h)"}],
        "requestBody": {"required": True, "content": {"application/json": {
            "schema": {"$ref": "#/components/schemas/PaymentCreate"}}}},
        "responses": {
            "201": {"description": "Payment page created", "content": {"application/json": {"schema": created}}},
            "400": _error("A field is invalid (the detail names it), or the body is not JSON"),
            "403": _error("The API key is not for this biller"), "404": _error("Unknown biller"),
            "409": _error("ic_not_configured, or idempotency_in_progress"),
            "422": _error("idempotency_key_reused: the same key with another body"),
            "502": _error("ic_rejected (IC's message) or ic_unavailable"),
            "504": _error("ic_unavailable: IC did not answer in time"), **shared,
        },
    }}
    document["paths"]["/api/v1/payments/{payment_id}"] = {"get": {
        "summary": "A payment's state (requested, approved, declined), its PostBacks and webhook deliveries",
        "parameters": [{"name": "payment_id", "in": "path", "required": True, "schema": {"type": "string"}}],
        "responses": {"200": {"description": "The payment"}, "404": _error("No such payment for this key"),
                      **shared},
    }}
