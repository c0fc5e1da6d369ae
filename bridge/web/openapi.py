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
    return {
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
