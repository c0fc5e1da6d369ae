"""``icbridge billers add|update|list``: one option table, every field changeable in place."""

from __future__ import annotations

import pytest

from bridge.billers import authenticate_api_key
from bridge.cli import build_parser
from bridge.cli.biller_options import BILLER_OPTIONS
from bridge.errors import AuthenticationError
from bridge.instance import DEMO_BILLER_GUID
from bridge.store import open_store_url

SIM_SP = "http://127.0.0.1:8000/simulator/metadata"
OTHER_GUID = "5d2e4a52-5c51-4a53-9f4b-2b0c37d9a1aa"


def _subcommand(*path: str):  # type: ignore[no-untyped-def]
    parser = build_parser()
    for name in path:
        action = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
        parser = action.choices[name]
    return parser


def _flags(*path: str) -> set[str]:
    return {flag for action in _subcommand(*path)._actions for flag in action.option_strings}


def test_add_and_update_offer_every_option_of_the_shared_table() -> None:
    for option in BILLER_OPTIONS:
        assert option.flag in _flags("billers", "add")
        assert option.flag in _flags("billers", "update")


def test_update_changes_only_the_given_fields_and_audits_them(icbridge) -> None:  # type: ignore[no-untyped-def]
    before = icbridge("billers", "list", "--json").json()["billers"][0]
    ran = icbridge("billers", "update", "demo", "--view-mode", "0", "--login-type", "owner=5",
                   "--login-type", "default=5", "--deep-link", "autopay", "--json")
    assert ran.code == 0
    assert ran.json()["changed"] == ["view_mode", "deep_link", "login_types"]
    after = icbridge("billers", "list", "--json").json()["billers"][0]
    assert after == before | {"view_mode": 0, "deep_link": 3, "login_types": {"owner": "5", "default": "5"}}
    tail = icbridge("audit", "tail", "--event", "biller.changed", "--json").json()["events"]
    assert tail[-1]["detail"] == "updated: view_mode, deep_link, login_types"


def test_update_with_no_option_changes_nothing(icbridge) -> None:  # type: ignore[no-untyped-def]
    ran = icbridge("billers", "update", "demo")
    assert (ran.code, ran.out) == (0, "Biller demo: no change.\n")
    assert icbridge("audit", "tail", "--event", "biller.changed", "--json").json()["events"] == []


def test_update_clears_an_optional_url_with_an_empty_value(icbridge) -> None:  # type: ignore[no-untyped-def]
    assert icbridge("billers", "update", "demo", "--return-url", "https://portal.example/home").code == 0
    assert icbridge("billers", "update", "demo", "--return-url", "", "--json").json()["changed"] == ["return_url"]


def test_update_switches_a_flag_on_and_off(icbridge) -> None:  # type: ignore[no-untyped-def]
    assert icbridge("billers", "update", "demo", "--allow-unknown-deep-links", "--deep-link", "42").code == 0
    ran = icbridge("billers", "update", "demo", "--no-allow-unknown-deep-links")
    assert ran.code == 1  # the biller's default page 42 is then an unknown ID
    assert ran.err == ["icbridge: error: deep_link: deep-link ID 42 is not known and this biller does not allow "
                       "unknown IDs"]


@pytest.mark.parametrize(("argv", "message"), [
    (("--biller-guid", "nope"), "biller_guid: must be a GUID"),
    (("--link-base", "http://ic.example/saml"), "link_base:"),
    (("--login-type", "owner"), "--login-type: 'owner' is not ROLE=VALUE"),
    (("--sp", "https://unknown.example/sp"), "no trusted metadata for SP https://unknown.example/sp"),
    (("--deep-link", "nowhere"), "--deep-link: unknown deep-link name 'nowhere'"),
])
def test_update_refuses_a_bad_value_with_one_line(icbridge, argv, message) -> None:  # type: ignore[no-untyped-def]
    ran = icbridge("billers", "update", "demo", *argv)
    assert ran.code == 1 and len(ran.err) == 1 and message in ran.err[0], ran.err
    assert icbridge("audit", "tail", "--event", "biller.changed", "--json").json()["events"] == []


def test_update_of_an_unknown_biller_is_one_line(icbridge) -> None:  # type: ignore[no-untyped-def]
    ran = icbridge("billers", "update", "nobody", "--flow", "idp-initiated")
    assert (ran.code, ran.err) == (1, ["icbridge: error: no biller named 'nobody'"])


def test_update_refuses_a_guid_another_biller_holds(icbridge) -> None:  # type: ignore[no-untyped-def]
    assert icbridge("billers", "add", "water", "--biller-guid", OTHER_GUID, "--sp", SIM_SP).code == 0
    ran = icbridge("billers", "update", "water", "--biller-guid", DEMO_BILLER_GUID)
    assert ran.code == 1 and "already registered to biller 'demo'" in ran.err[0]


def test_add_takes_the_same_options_as_update(icbridge) -> None:  # type: ignore[no-untyped-def]
    ran = icbridge("billers", "add", "water", "--biller-guid", OTHER_GUID.upper(), "--sp", SIM_SP,
                   "--flow", "idp-initiated", "--portal-origin", "https://portal.example", "--json")
    assert ran.code == 0 and ran.json()["biller_guid"] == OTHER_GUID
    row = {b["name"]: b for b in icbridge("billers", "list", "--json").json()["billers"]}["water"]
    assert (row["flow"], row["portal_origins"], row["login_types"]) == (
        "idp-initiated", ["https://portal.example"], {"owner": "1", "default": "1"})


def test_list_is_a_table_with_headers_and_the_login_type_mapping(icbridge) -> None:  # type: ignore[no-untyped-def]
    lines = icbridge("billers", "list").out.splitlines()
    assert lines[0].split() == ["NAME", "BILLER", "GUID", "SP", "VIEW", "FLOW", "LOGIN", "TYPES", "(role=LoginType)"]
    assert lines[1].split(None, 5) == ["demo", DEMO_BILLER_GUID, SIM_SP, "1", "sp-initiated",
                                       "co-owner=5, default=1, owner=1"]
    assert lines[0].index("SP") == lines[1].index(SIM_SP)  # columns line up under their headers


def test_update_sets_an_ic_credential_and_shows_only_its_last_four(icbridge, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("H13_IC_KEY", "secret-ic-key-9876")
    ran = icbridge("billers", "update", "demo", "--ic-api-key", "env:H13_IC_KEY", "--json")
    assert ran.code == 0 and ran.json()["changed"] == ["ic_api_key"]
    assert "secret-ic-key" not in ran.out
    assert icbridge("billers", "list", "--json").json()["billers"][0]["ic_api_key"].endswith("9876")


def test_rotate_key_replaces_a_lost_api_key(icbridge, instance) -> None:  # type: ignore[no-untyped-def]
    ran = icbridge("billers", "rotate-key", "demo", "--json")
    assert ran.code == 0 and ran.json()["revoked_keys"] == 1
    store = open_store_url(f"sqlite:///{instance.config.parent / 'bridge.db'}", base_dir=instance.config.parent)
    try:
        assert authenticate_api_key(store, ran.json()["api_key"]).biller == "demo"
        with pytest.raises(AuthenticationError):
            authenticate_api_key(store, instance.api_key)
    finally:
        store.close()
    assert icbridge("billers", "rotate-key", "nobody").err == ["icbridge: error: no biller named 'nobody'"]
