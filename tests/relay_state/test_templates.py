"""relay_state_template is checked when it is saved: in bridge.toml at load, and against a biller's own
name and GUID when a biller that launches IdP-initiated is saved."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import reopened
from saml_peers import OneLoginSP

from bridge.config import settings_from_dict
from bridge.errors import ConfigError, ValidationError

SP = "https://sp.test/metadata"


def _load(tmp_path: Path, template: str, **limits: int):  # type: ignore[no-untyped-def]
    raw = {"tickets": {"secrets": ["t"]}, "session": {"secrets": ["s"]},
           "sp": {SP: {"relay_state_template": template}}, "limits": limits}
    return settings_from_dict(raw, base_dir=tmp_path)


@pytest.mark.parametrize(("template", "reason"), [
    ("account={acct}", "unknown placeholder {acct}"),
    ("{account.__class__}", "unknown placeholder"),
    ("{account[0]}", "unknown placeholder"),
    ("{account!r}", "no conversion or format spec"),
    ("{deep_link:>40}", "no conversion or format spec"),
    ("account={account", "not a valid template"),
    ("next\npage={account}", "control characters"),
], ids=["unknown", "attribute", "index", "conversion", "format-spec", "unbalanced", "control"])
def test_a_bad_template_is_a_config_error_naming_the_setting(tmp_path, template, reason):
    with pytest.raises(ConfigError) as refused:
        _load(tmp_path, template)
    assert "relay_state_template" in refused.value.detail and reason in refused.value.detail


def test_a_template_too_long_even_with_the_shortest_values_is_refused(tmp_path):
    with pytest.raises(ConfigError, match=r'sp\."https://sp.test/metadata"\.relay_state_template: .*81-byte'):
        _load(tmp_path, "https://sp.test/" + "x" * 64 + "{deep_link}")


def test_the_sent_limit_is_configurable(tmp_path):
    template = "https://sp.test/" + "x" * 64 + "{deep_link}"
    assert _load(tmp_path, template, max_relay_state_sent=200).sp_settings(SP).relay_state_template == template


def test_literal_braces_are_allowed(tmp_path):
    assert _load(tmp_path, "{{x}}={account}").sp_settings(SP).relay_state_template == "{{x}}={account}"


def test_a_biller_whose_name_makes_the_template_too_long_is_refused_when_saved(sqlite_bridge):
    sp = OneLoginSP()
    sqlite_bridge.trust(sp)
    template = "https://sp.test/portal/" + "p" * 20 + "/{biller}/{account}"  # 45 bytes + name + account
    with reopened(sqlite_bridge, append=f'\n[sp."{sp.entity_id}"]\nrelay_state_template = "{template}"\n') as node:
        from bridge.billers import Biller, validate_biller
        from bridge.delegation.launches import check_relay_state_fits

        short = validate_biller(Biller(name="city", biller_guid="c09d08fb-a969-4778-bb58-b46a8e9224e7",
                                       sp_entity_id=sp.entity_id, flow="idp-initiated"))
        check_relay_state_fits(node.settings, short)
        long_name = validate_biller(Biller(name="a" * 40, biller_guid="c09d08fb-a969-4778-bb58-b46a8e9224e7",
                                           sp_entity_id=sp.entity_id, flow="idp-initiated"))
        with pytest.raises(ValidationError) as refused:
            check_relay_state_fits(node.settings, long_name)
        assert refused.value.field == "relay_state_template"
