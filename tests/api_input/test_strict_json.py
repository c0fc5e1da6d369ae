"""The strict JSON layer (bridge/web/api_input.py) on its own: types, unknown and duplicate keys, limits, paths.

Every refusal is a BridgeError whose detail starts with the field it is about, so the API can
answer 400 ``{"error", "detail"}`` naming it.
"""

from __future__ import annotations

import json

import pytest
from pydantic import Field

from bridge.errors import BridgeError, ValidationError
from bridge.web.api_input import ApiModel, Integer, Text, parse_json, parse_object
from bridge.web.api_routes import LoginBody

PAYER = {"biller": "city", "email": "pat@example.com", "account_number": "101Invoice"}


class Invoice(ApiModel):
    number: Text(20, min_length=1)
    amount_cents: Integer


class Payment(ApiModel):
    """A nested shape like the payments API's: lists of objects with their own limits."""

    invoices: list[Invoice] = Field(min_length=1, max_length=3)
    allow_cc: bool = True


def _refusal(raw: bytes | str, model=LoginBody) -> BridgeError:  # type: ignore[no-untyped-def]
    with pytest.raises(BridgeError) as refused:
        parse_json(raw.encode() if isinstance(raw, str) else raw, model)
    return refused.value


def _field(body: dict, model=LoginBody) -> str:  # type: ignore[no-untyped-def]
    error = _refusal(json.dumps(body), model)
    assert isinstance(error, ValidationError), error.detail
    assert error.detail.startswith(f"{error.field}: ")
    return error.field


@pytest.mark.parametrize("value", [3.9, 1.0, True, "3.9", " 3", "0x3", "1e3", [3], {"id": 3}])
def test_a_view_mode_that_is_not_an_integer_is_refused(value):
    assert _field({**PAYER, "view_mode": value}) == "view_mode"


@pytest.mark.parametrize("value", [3.9, 1.5, False, "3.9", "", "bills!", "a" * 64])
def test_a_deep_link_that_is_neither_an_integer_nor_a_name_is_refused(value):
    assert _field({**PAYER, "deep_link": value}) == "deep_link"


def test_an_integer_may_be_its_decimal_string():
    body = parse_json(json.dumps({**PAYER, "view_mode": "1", "deep_link": "3"}).encode(), LoginBody)
    assert (body.view_mode, body.deep_link) == (1, 3)


def test_a_deep_link_name_stays_a_name_for_the_biller_to_resolve():
    assert parse_json(json.dumps({**PAYER, "deep_link": "autopay"}).encode(), LoginBody).deep_link == "autopay"


@pytest.mark.parametrize("value", ["true", 1, 0, "yes", None])
def test_a_boolean_is_only_true_or_false(value):
    body = {"invoices": [{"number": "A1", "amount_cents": 100}], "allow_cc": value}
    assert _field(body, Payment) == "allow_cc"


def test_an_unknown_field_is_refused_by_name():
    assert _field({**PAYER, "is_admin": True}) == "is_admin"


def test_a_duplicate_key_is_refused_by_name():
    raw = '{"biller": "city", "email": "pat@example.com", "account_number": "1", "email": "eve@example.com"}'
    error = _refusal(raw)
    assert isinstance(error, ValidationError) and error.field == "email"
    assert "more than once" in error.detail


def test_a_duplicate_key_inside_a_nested_object_is_refused():
    raw = '{"invoices": [{"number": "A1", "amount_cents": 1, "amount_cents": 100000}]}'
    assert isinstance(_refusal(raw, Payment), ValidationError)


def test_a_missing_required_field_is_named():
    assert _field({"biller": "city", "email": "pat@example.com"}) == "account_number"


def test_a_string_over_its_limit_is_refused_with_the_limit():
    error = _refusal(json.dumps({**PAYER, "email": "a" * 255}))
    assert error.detail == "email: at most 254 characters"


def test_a_control_character_in_a_string_is_refused():
    assert _field({**PAYER, "role": "owner\x00"}) == "role"


def test_a_list_over_its_count_limit_is_refused_with_the_limit():
    invoices = [{"number": f"A{i}", "amount_cents": 1} for i in range(4)]
    error = _refusal(json.dumps({"invoices": invoices}), Payment)
    assert error.detail == "invoices: at most 3 items"


def test_a_nested_field_is_named_by_its_path():
    body = {"invoices": [{"number": "A1", "amount_cents": 1}, {"number": "A2", "amount_cents": 2.5}]}
    assert _field(body, Payment) == "invoices[1].amount_cents"


def test_an_integer_beyond_the_magnitude_limit_is_refused():
    assert _field({**PAYER, "deep_link": 10**30}) == "deep_link"


@pytest.mark.parametrize("raw", ["{", "[]", '"x"', "null", "1", '{"a": NaN}', '{"a": Infinity}', "\xff", "[" * 100_000])
def test_a_body_that_is_not_a_json_object_is_invalid_json(raw):
    error = _refusal(raw.encode("latin-1") if raw == "\xff" else raw)
    assert error.code == "invalid_json"


def test_a_partner_ticket_payload_is_held_to_the_same_rules():
    with pytest.raises(ValidationError, match=r"^deep_link: "):
        parse_object({**PAYER, "deep_link": 3.9}, LoginBody)
    assert parse_object({**PAYER, "deep_link": 3}, LoginBody).deep_link == 3


def test_the_model_describes_its_integer_fields_in_json_schema():
    properties = LoginBody.model_json_schema()["properties"]
    assert properties["view_mode"]["anyOf"][0]["type"] == ["integer", "string"]
