"""A biller's IC credentials: sealed at rest, bound to their biller, rotatable, never shown or logged in full."""

from __future__ import annotations

import json
import logging
import re
import sqlite3
from pathlib import Path

import pytest

from bridge.billers import get_biller
from bridge.cli import main
from bridge.config import ConfigError, load_settings
from bridge.instance import init_instance
from bridge.invoicecloud import credentials
from bridge.secrets_at_rest import SecretBox, SecretUnavailable

IC_KEY = "ic-live-Zq8pX2mN4vB7cD1eF3gH5jK9"
WEB_KEY = "ws-2b1d9f0e-7c6a-4e8b-9d3f-aa55cc77ee99"
OLD = "o" * 40
NEW = "n" * 40
GUID = "11111111-2222-4333-8444-555555555555"


@pytest.fixture
def instance(tmp_path: Path, clock) -> Path:  # type: ignore[no-untyped-def]
    return init_instance(tmp_path / "inst", base_url="https://bridge.test", now=clock()).config


def _add(config: Path, *extra: str) -> int:
    return main(["billers", "add", "city", "--config", str(config), "--biller-guid", GUID,
                 "--sp", "https://bridge.test/simulator/metadata", "--json", *extra])


def _raw_settings(config: Path) -> str:
    with sqlite3.connect(config.parent / "bridge.db") as db:
        return str(db.execute("SELECT settings FROM billers WHERE name = 'city'").fetchone()[0])


def test_a_sealed_value_opens_with_its_context_and_hides_its_value() -> None:
    box = SecretBox([NEW])
    sealed = box.seal(IC_KEY, context="ctx")
    assert IC_KEY not in sealed.token and IC_KEY not in repr(sealed)
    assert sealed.masked() == "…" + IC_KEY[-4:]
    assert box.open(sealed, context="ctx") == IC_KEY


def test_a_value_sealed_for_one_biller_does_not_open_for_another() -> None:
    box = SecretBox([NEW])
    sealed = box.seal(IC_KEY, context=credentials.context("a", credentials.API_KEY))
    with pytest.raises(SecretUnavailable) as refused:
        box.open(sealed, context=credentials.context("b", credentials.API_KEY))
    assert IC_KEY not in refused.value.detail and sealed.token not in refused.value.detail


def test_the_newest_secret_seals_and_every_configured_one_opens() -> None:
    old_sealed = SecretBox([OLD]).seal(IC_KEY, context="c")
    both = SecretBox([OLD, NEW])
    assert both.open(old_sealed, context="c") == IC_KEY
    resealed = both.reseal(old_sealed, context="c")
    assert SecretBox([NEW]).open(resealed, context="c") == IC_KEY
    with pytest.raises(SecretUnavailable, match="cannot be decrypted"):
        SecretBox([NEW]).open(old_sealed, context="c")


def test_a_short_value_shows_no_tail() -> None:
    assert SecretBox([NEW]).seal("abcd1234", context="c").masked() == "(set)"


def test_a_short_encryption_secret_is_refused_naming_the_setting(tmp_path: Path) -> None:
    config = tmp_path / "bridge.toml"
    config.write_text('[tickets]\nsecrets = ["x"]\n[session]\nsecrets = ["y"]\n[invoicecloud]\nsecrets = ["short"]\n')
    with pytest.raises(ConfigError, match=r"invoicecloud\.secrets: an encryption secret needs at least 32"):
        load_settings(config)


def test_billers_add_seals_keys_given_by_env_and_file(instance: Path, tmp_path: Path, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("CITY_IC_KEY", IC_KEY)
    (tmp_path / "ws.key").write_text(WEB_KEY + "\n")
    monkeypatch.chdir(tmp_path)
    assert _add(instance, "--ic-api-key", "env:CITY_IC_KEY", "--ic-web-service-key", "file:ws.key",
                "--ic-api-base", "http://127.0.0.1:9/ic", "--payment-webhook", "https://portal.example/hook") == 0
    out, err = capsys.readouterr()
    assert IC_KEY not in out + err and WEB_KEY not in out + err
    raw = _raw_settings(instance)
    assert IC_KEY not in raw and WEB_KEY not in raw
    settings = load_settings(instance)
    from bridge.store import open_store

    store = open_store(settings)
    try:
        biller = get_biller(store, "city")
    finally:
        store.close()
    box = credentials.secret_box(settings)
    assert credentials.reveal(biller, credentials.API_KEY, box) == IC_KEY
    assert credentials.reveal(biller, credentials.WEB_SERVICE_KEY, box) == WEB_KEY
    assert credentials.api_base(biller, settings) == "http://127.0.0.1:9/ic"
    assert biller.payment_webhook == "https://portal.example/hook"


def test_billers_list_shows_only_the_last_four_characters(instance: Path, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("CITY_IC_KEY", IC_KEY)
    assert _add(instance, "--ic-api-key", "env:CITY_IC_KEY") == 0
    capsys.readouterr()
    assert main(["billers", "list", "--config", str(instance), "--json"]) == 0
    out = capsys.readouterr().out
    row = next(b for b in json.loads(out)["billers"] if b["name"] == "city")
    assert row["ic_api_key"] == "…" + IC_KEY[-4:] and row["ic_web_service_key"] is None
    assert IC_KEY not in out


def test_an_inline_key_is_accepted_with_a_warning(instance: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    assert _add(instance, "--ic-api-key", IC_KEY) == 0
    err = capsys.readouterr().err
    assert "visible in the process list" in err and IC_KEY not in err


def test_a_missing_env_variable_is_one_line_naming_it(instance: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    assert _add(instance, "--ic-api-key", "env:NOPE_NOT_SET") == 1
    err = capsys.readouterr().err
    assert err.strip() == "icbridge: error: --ic-api-key: environment variable NOPE_NOT_SET is not set"


def test_a_key_with_a_line_break_is_refused_without_echoing_it(instance: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    assert _add(instance, "--ic-api-key", "secret part\nother") == 1
    err = capsys.readouterr().err
    assert "ic_api_key: must be 1-512 printable characters" in err and "secret part" not in err


def test_an_instance_without_an_encryption_secret_refuses_to_store_a_key(instance: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    instance.write_text(re.sub(r'(\[invoicecloud\][^\[]*?secrets = )\["[^"]+"\]', r"\1[]", instance.read_text()))
    assert _add(instance, "--ic-api-key", IC_KEY) == 1
    assert "invoicecloud.secrets is empty" in capsys.readouterr().err


def test_a_plain_http_api_base_off_loopback_is_refused(instance: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    assert _add(instance, "--ic-api-base", "http://ic.example") == 1
    assert "ic_api_base" in capsys.readouterr().err


def test_reseal_moves_every_key_to_the_newest_secret(instance: Path, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("CITY_IC_KEY", IC_KEY)
    assert _add(instance, "--ic-api-key", "env:CITY_IC_KEY") == 0
    text = instance.read_text()
    old = re.search(r'\[invoicecloud\][^\[]*?secrets = \["([^"]+)"\]', text).group(1)  # type: ignore[union-attr]
    instance.write_text(text.replace(f'secrets = ["{old}"]', f'secrets = ["{old}", "{NEW}"]'))
    assert main(["billers", "reseal", "--config", str(instance), "--json"]) == 0
    assert "city" in json.loads(capsys.readouterr().out.splitlines()[-1])["resealed"]
    instance.write_text(text.replace(f'secrets = ["{old}"]', f'secrets = ["{NEW}"]'))
    settings = load_settings(instance)
    from bridge.store import open_store

    store = open_store(settings)
    try:
        biller = get_biller(store, "city")
    finally:
        store.close()
    assert credentials.reveal(biller, credentials.API_KEY, credentials.secret_box(settings)) == IC_KEY


def test_a_biller_without_a_key_gets_an_error_saying_how_to_set_it() -> None:
    from bridge.billers import Biller

    biller = Biller(name="city", biller_guid=GUID, sp_entity_id="x")
    with pytest.raises(credentials.CredentialMissing, match="icbridge billers update city --ic-api-key"):
        credentials.reveal(biller, credentials.API_KEY, SecretBox([NEW]))


def test_no_log_line_carries_the_key(instance: Path, monkeypatch, caplog) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("CITY_IC_KEY", IC_KEY)
    with caplog.at_level(logging.DEBUG):
        assert _add(instance, "--ic-api-key", "env:CITY_IC_KEY") == 0
    assert IC_KEY not in caplog.text
