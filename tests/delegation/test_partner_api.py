"""POST /api/v1/logins: what a created login looks like, biller lookup, and the rules between fields.

Credentials, cross-biller keys and each field's validation: tests/security/test_api.py; body limits and the
JSON error shape: tests/api_input/."""

from __future__ import annotations

import pytest

PAYER = {"email": "pat@example.com", "account_number": "101Invoice"}
SP = "https://sp-onelogin.test/metadata"


@pytest.fixture
def api(sqlite_bridge, onelogin_sp):
    sqlite_bridge.add_biller("city", onelogin_sp.entity_id, login_types={"owner": "1", "co-owner": "5"})
    sqlite_bridge.add_biller("town", onelogin_sp.entity_id)
    return sqlite_bridge


def _error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["error"] == code
    assert "Traceback" not in body["detail"]
    return body


def test_created_login_answers_201_with_a_launch_url_and_expiry(api):
    response = api.create_login("city", **PAYER, role="owner")
    assert response.status_code == 201
    body = response.json()
    assert body["url"].startswith("https://bridge.test/launch?ticket=")
    assert body["expires_at"].endswith("Z")
    assert response.headers["cache-control"] == "no-store"


def test_unknown_biller_is_404(api):
    _error(api.create_login("nowhere", key=api.api_keys["city"], **PAYER), 404, "not_found")


def test_role_and_login_type_together_are_refused(api):
    _error(api.create_login("city", **PAYER, role="owner", login_type=1), 400, "invalid_field")


def test_unknown_deep_link_id_is_allowed_only_where_the_biller_allows_it(api, onelogin_sp):
    api.add_biller("open", onelogin_sp.entity_id, allow_unknown_deep_links=True)
    assert api.create_login("open", **PAYER, deep_link=42).status_code == 201
    _error(api.create_login("city", **PAYER, role="owner", deep_link=42), 400, "invalid_field")


def test_malformed_json_is_400(api):
    response = api.client.post(
        "/api/v1/logins", content=b"{not json", headers={
            "Authorization": f"Bearer {api.api_keys['city']}", "Content-Type": "application/json"},
    )
    _error(response, 400, "invalid_json")


def test_nothing_is_issued_for_a_refused_request(api):
    api.create_login("city", **PAYER, role="landlord")
    assert api.audit("launch.created") == []


def test_openapi_document_describes_the_logins_endpoint(api):
    document = api.client.get("/api/v1/openapi.json").json()
    operation = document["paths"]["/api/v1/logins"]["post"]
    assert set(operation["responses"]) >= {"201", "400", "401", "403", "404", "413"}
    assert document["components"]["schemas"]["Login"]["required"] == ["biller", "email", "account_number"]
