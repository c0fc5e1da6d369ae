"""``icbridge billers add|update``: the Cloud SSO Connect over REST options (docs/rest-sso.md)."""

from __future__ import annotations


def test_update_switches_a_biller_to_rest_with_its_login_type_and_delivery(icbridge) -> None:  # type: ignore[no-untyped-def]
    ran = icbridge("billers", "update", "demo", "--sso-method", "rest", "--rest-login-type-id", "5",
                   "--rest-delivery", "get", "--css-url", "https://portal.example/ic.css",
                   "--return-url", "https://portal.example/home", "--return-site-name", "City Water", "--json")
    assert ran.code == 0, ran.err
    settings = ran.json()["settings"]
    assert (settings["sso_method"], settings["rest_login_type_id"], settings["rest_delivery"]) == ("rest", 5, "get")
    assert settings["css_url"] == "https://portal.example/ic.css" and settings["return_site_name"] == "City Water"
    back = icbridge("billers", "update", "demo", "--sso-method", "saml", "--json")
    assert back.json()["changed"] == ["sso_method"]


def test_a_login_type_id_other_than_1_or_5_is_refused_in_one_line(icbridge) -> None:  # type: ignore[no-untyped-def]
    ran = icbridge("billers", "update", "demo", "--rest-login-type-id", "3")
    assert ran.code == 1
    assert ran.err == ["icbridge: error: rest_login_type_id: must be one of 1, 5"]
