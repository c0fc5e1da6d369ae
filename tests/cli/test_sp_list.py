"""``icbridge sp list`` names every SP the bridge trusts, the built-in simulator's included."""

from __future__ import annotations

from bridge.clock import utcnow
from bridge.simulator.sp import KEY_FILE, METADATA_PATH, load_or_create_keys

SIMULATOR = "http://127.0.0.1:8000" + METADATA_PATH


def test_the_simulator_sp_is_listed_while_the_simulator_is_enabled(icbridge) -> None:  # type: ignore[no-untyped-def]
    (row,) = icbridge("sp", "list", "--json").json()["service_providers"]
    assert (row["entity_id"], row["source_type"]) == (SIMULATOR, "simulator")
    assert [e["location"] for e in row["acs"]] == ["http://127.0.0.1:8000/simulator/acs"]
    assert row["certificates"] == []  # its key is made by `icbridge serve` at first start, not by a listing


def test_listing_never_creates_the_simulator_key(icbridge, instance) -> None:  # type: ignore[no-untyped-def]
    icbridge("sp", "list")
    assert not (instance.config.parent / "certs" / KEY_FILE).exists()


def test_once_the_simulator_has_its_key_the_listing_shows_its_certificate(icbridge, instance) -> None:  # type: ignore[no-untyped-def]
    load_or_create_keys(instance.config.parent / "certs", now=utcnow(), common_name=SIMULATOR)  # as serve does
    (row,) = icbridge("sp", "list", "--json").json()["service_providers"]
    assert [c["subject"] for c in row["certificates"]] == [f"CN={SIMULATOR}"]
    assert icbridge("sp", "show", SIMULATOR, "--json").json()["entity_id"] == SIMULATOR


def test_a_disabled_simulator_is_not_listed(icbridge, instance) -> None:  # type: ignore[no-untyped-def]
    instance.config.write_text(instance.config.read_text().replace("enabled = true", "enabled = false"))
    ran = icbridge("sp", "list", "--json")
    assert ran.json()["service_providers"] == []
