"""The partner API under attack: credentials, cross-biller keys, brute force (429), hostile field values.

State unchanged means no ``launch.created`` row: nothing was minted.
"""

from __future__ import annotations

import pytest
from saml_peers import OneLoginSP

from bridge.billers import issue_api_key
from bridge.ratelimit import RateLimiter, window_of
from security.hostile import PAYER, assert_no_leak


def _refused(harness, response, status: int, code: str) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["error"] == code
    assert response.headers["cache-control"] == "no-store"
    assert_no_leak(harness, response.text)
    assert harness.audit("launch.created") == []


def set_limits(harness, **limits: int) -> None:  # type: ignore[no-untyped-def]
    """Small limits keep the brute-force tests fast; the rule under test is the same at 600."""
    settings = harness.instance.settings
    harness.instance.settings = settings.model_copy(update={"limits": settings.limits.model_copy(update=limits)})


@pytest.fixture
def api(sqlite_bridge, sp_keys):  # type: ignore[no-untyped-def]
    sp = OneLoginSP(keys=sp_keys)
    sqlite_bridge.trust(sp)
    sqlite_bridge.add_biller("city", sp.entity_id)
    return sqlite_bridge


def _post(harness, body, *, key: str | None = None, headers: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    sent = {"Authorization": f"Bearer {key if key is not None else harness.api_keys['city']}", **(headers or {})}
    return harness.client.post("/api/v1/logins", json=body, headers=sent)


def test_missing_authorization_is_401(api):
    _refused(api, api.client.post("/api/v1/logins", json={"biller": "city", **PAYER}), 401, "unauthorized")


def test_basic_scheme_instead_of_bearer_is_401(api):
    _refused(api, _post(api, {"biller": "city", **PAYER}, headers={"Authorization": f"Basic {api.api_keys['city']}"}),
             401, "unauthorized")


@pytest.mark.parametrize(
    "key", ["bk_", "bk_deadbeef_", "bk_000000000000_wrong", "xx_abc_def", "bk_" + "a" * 300, "bk_abc_def\x00"]
)
def test_malformed_or_guessed_key_is_401(api, key):
    _refused(api, _post(api, {"biller": "city", **PAYER}, key=key), 401, "unauthorized")


def test_right_key_id_with_a_wrong_secret_is_401(api):
    key_id = api.api_keys["city"].split("_")[1]
    _refused(api, _post(api, {"biller": "city", **PAYER}, key=f"bk_{key_id}_guess"), 401, "unauthorized")


def test_revoked_key_is_401(api):
    api.store.revoke_api_keys("city", api.clock())
    _refused(api, _post(api, {"biller": "city", **PAYER}), 401, "unauthorized")


def test_biller_a_key_for_biller_b_is_403(api, sp_keys):
    other = OneLoginSP("https://sp-b.test/metadata", "https://sp-b.test/acs", keys=sp_keys)
    api.trust(other)
    api.add_biller("town", other.entity_id)
    _refused(api, _post(api, {"biller": "town", **PAYER}, key=api.api_keys["city"]), 403, "forbidden")


def test_brute_force_from_one_address_is_429_with_retry_after(api):
    set_limits(api, api_per_minute=20)
    limit = 20
    api.clock.now = api.clock.now.replace(second=10)
    statuses = [_post(api, {"biller": "city", **PAYER}, key=f"bk_guess{i}_x").status_code for i in range(limit)]
    assert set(statuses) == {401}
    response = _post(api, {"biller": "city", **PAYER}, key="bk_guess_x")
    _refused(api, response, 429, "rate_limited")
    assert response.headers["retry-after"] == "50"
    # The correct key is limited too while the window lasts: guessing cannot race the limit.
    _refused(api, _post(api, {"biller": "city", **PAYER}), 429, "rate_limited")


def test_rate_limit_window_resets(api):
    api.clock.now = api.clock.now.replace(second=0)
    set_limits(api, api_per_minute=5)
    limit = 5
    statuses = [_post(api, {"biller": "city", **PAYER}, key="bk_x_y").status_code for _ in range(limit + 1)]
    assert statuses == [401] * limit + [429]  # the limit was reached inside the window
    _refused(api, _post(api, {"biller": "city", **PAYER}), 429, "rate_limited")
    api.clock.advance(60)
    assert _post(api, {"biller": "city", **PAYER}).status_code == 201


def test_per_key_limit_is_counted_in_the_store_across_nodes(api):
    # A second node shares the store: its hits count against the same key budget.
    key_id = api.api_keys["city"].split("_")[1]
    set_limits(api, api_per_minute=5)
    limit = 5
    other_node = RateLimiter(api.store, api.clock)
    for _ in range(limit):
        other_node.limit_api_key(key_id, limit)
    _refused(api, _post(api, {"biller": "city", **PAYER}), 429, "rate_limited")


def test_sso_flood_from_one_address_is_429(sqlite_bridge, plain_sp):
    set_limits(sqlite_bridge, sso_per_minute_per_ip=5)
    limit = 5
    sqlite_bridge.clock.now = sqlite_bridge.clock.now.replace(second=30)
    start, end = window_of(sqlite_bridge.clock())
    for _ in range(limit):
        sqlite_bridge.store.hit("sso-ip:testclient", start, end)
    response = sqlite_bridge.client.get("/saml/sso?SAMLRequest=x")
    assert response.status_code == 429
    assert response.headers["retry-after"] == "30"
    assert "Reference: rate_limited" in response.text


BAD_FIELDS = {
    "email-newline": {"email": "pat@example.com\n"},
    "email-crlf-header": {"email": "pat@example.com\r\nBcc: eve@example.com"},
    "email-script": {"email": "<script>alert(1)</script>@example.com"},
    "email-unicode-homoglyph": {"email": "pat@ex\u0430mple.com"},  # Cyrillic a
    "email-rtl-override": {"email": "pat\u202e@example.com"},
    "email-nul": {"email": "pat\x00@example.com"},
    "email-too-long": {"email": "a" * 65 + "@example.com"},
    "email-not-a-string": {"email": ["pat@example.com"]},
    "account-newline": {"account_number": "101Invoice\n"},
    "account-ampersand": {"account_number": "101&ViewMode=0"},
    "account-slash": {"account_number": "../../admin"},
    "account-quote": {"account_number": "101\"><script>"},
    "account-unicode-digits": {"account_number": "\u0661\u0660\u0661"},
    "account-too-long": {"account_number": "a" * 51},
    "account-number-type": {"account_number": 101},
    "unknown-field": {"is_admin": True},
    "login-type-bool": {"role": None, "login_type": True},
    "deep-link-huge": {"deep_link": 10**30},
    "deep-link-negative": {"deep_link": -1},
    "view-mode-2": {"view_mode": 2},
    "flow-unknown": {"flow": "evil"},
    "email-no-at-domain-dot": {"email": "a@b"},
    "email-not-an-address": {"email": "not-an-email"},
    "email-over-254": {"email": "x" * 250 + "@example.com"},
    "account-empty": {"account_number": ""},
    "account-spaces": {"account_number": "acct with spaces"},
    "account-script": {"account_number": "<script>"},
    "role-unknown": {"role": "landlord"},
    "login-type-unmapped": {"role": None, "login_type": 7},
    "deep-link-unknown-id": {"deep_link": 4},
    "deep-link-unknown-name": {"deep_link": "everything"},
    "deep-link-zero": {"deep_link": 0},
    "view-mode-name": {"view_mode": "iframe"},
    "unknown-field-colour": {"colour": "blue"},
}


@pytest.fixture(scope="module")
def shared_api(tmp_path_factory, sp_keys):  # type: ignore[no-untyped-def]
    """One instance for the field-validation cases: a refused request changes nothing, so they can share it."""
    from conftest import FakeClock, make_harness
    from store_backends import store_url

    directory = tmp_path_factory.mktemp("shared-api")
    with store_url("sqlite", directory) as url:
        for harness in make_harness(directory / "instance", url, FakeClock()):
            sp = OneLoginSP(keys=sp_keys)
            harness.trust(sp)
            harness.add_biller("city", sp.entity_id)
            yield harness


@pytest.mark.parametrize("change", list(BAD_FIELDS.values()), ids=list(BAD_FIELDS))
def test_hostile_field_value_is_400_naming_the_field(shared_api, change):
    body = {"biller": "city", **PAYER, **change}
    body = {k: v for k, v in body.items() if v is not None}
    response = _post(shared_api, body)
    _refused(shared_api, response, 400, "invalid_field")
    field = [name for name, value in change.items() if value is not None][-1]
    assert response.json()["detail"].startswith(f"{field}:"), response.json()


def test_json_nested_ten_thousand_deep_is_400_not_500(api):
    response = api.client.post(
        "/api/v1/logins", content=b"[" * 10_000 + b"]" * 10_000,
        headers={"Authorization": f"Bearer {api.api_keys['city']}", "content-type": "application/json"},
    )
    _refused(api, response, 400, "invalid_json")


def test_json_array_body_is_400(api):
    response = api.client.post("/api/v1/logins", json=[{"biller": "city"}],
                               headers={"Authorization": f"Bearer {api.api_keys['city']}"})
    _refused(api, response, 400, "invalid_json")


def test_form_encoded_body_is_400(api):
    response = api.client.post("/api/v1/logins", data={"biller": "city"},
                               headers={"Authorization": f"Bearer {api.api_keys['city']}"})
    _refused(api, response, 400, "invalid_json")


def test_control_valid_request_still_mints(api):
    assert _post(api, {"biller": "city", **PAYER}).status_code == 201


def test_second_key_of_the_same_biller_has_its_own_budget(api):
    second = issue_api_key(api.store, "city", now=api.clock())
    assert _post(api, {"biller": "city", **PAYER}, key=second).status_code == 201
