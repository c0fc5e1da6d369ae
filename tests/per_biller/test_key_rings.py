"""A biller's own key ring: its rotation changes its own metadata and signatures, and nobody else's."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest
from saml_peers import xmlsec1_verify

from bridge.billers import get_biller
from bridge.cli import main
from bridge.errors import KeyLifecycleError, NotFound
from bridge.keys import lifecycle as key_lifecycle
from bridge.keys.material import Certificate
from bridge.saml.xml import NS, parse_untrusted

from .conftest import PAYER, TwoBillers

ADMIN = "os:test-admin"
# The SP libraries check times against the real clock: a one-minute keys.min_overlap, not a day.
SHORT_OVERLAP = 60


def _certs(xml: bytes) -> list[str]:
    root = parse_untrusted(xml)
    return ["".join(str(c.text).split()) for c in root.iterfind(".//md:KeyDescriptor//ds:X509Certificate", NS)]


def _kids(xml: bytes) -> list[str]:
    return [str(n.text) for n in parse_untrusted(xml).iterfind(".//md:KeyDescriptor/ds:KeyInfo/ds:KeyName", NS)]


def _cert(billers: TwoBillers, kid: str) -> str:
    return next(Certificate.from_pem(r.cert_pem).pem for r in billers.bridge.store.list_keys() if r.kid == kid)


def _step(billers: TwoBillers, action: str, *args: Any, **options: Any) -> Any:
    bridge = billers.bridge
    function = getattr(key_lifecycle, action)
    if action in ("generate", "activate", "retire", "purge"):
        args = (bridge.settings, *args)
    result = function(bridge.store, *args, now=bridge.clock(), actor=ADMIN, **options)
    bridge.instance.keyring.refresh()
    return result


def _sign_in(billers: TwoBillers, biller: str) -> tuple[Any, Any]:
    """Launch for ``biller`` and answer its SP's request at its endpoints: (the posted form, what the SP saw)."""
    billers.launch(biller)
    answer, request_id = billers.start(biller)
    form = billers.bridge.posted(answer)
    return form, billers.sp.consume(form, request_id)


def _short(settings: Any) -> Any:
    return settings.model_copy(update={"keys": settings.keys.model_copy(update={"min_overlap": SHORT_OVERLAP})})


def test_a_billers_rotation_leaves_the_other_billers_metadata_and_signatures_untouched(billers: TwoBillers):
    bridge = billers.bridge
    deployment = bridge.instance.keyring.active.kid
    power_before, shared_before = _certs(billers.metadata("power")), _certs(billers.metadata(None))

    new = _step(billers, "generate", ring="water").kid
    _step(billers, "stage", new, ring="water")
    assert _kids(billers.metadata("water")) == [deployment, new]  # published beside the key that still signs
    form, seen = _sign_in(billers, "water")  # the SP fetched water's metadata: the rollover evidence
    assert xmlsec1_verify(form.xml, _cert(billers, deployment)).returncode == 0

    bridge.instance.fetch_log.flush()  # the background loop's job
    bridge.clock.advance(SHORT_OVERLAP)
    activation = key_lifecycle.activate(bridge.store, _short(bridge.settings), new, now=bridge.clock(), actor=ADMIN,
                                        ring="water")
    bridge.instance.keyring.refresh()
    assert activation.previous == () and [c.last_fetch is not None for c in activation.evidence] == [True]

    assert _kids(billers.metadata("water")) == [new]
    form, seen = _sign_in(billers, "water")
    assert seen.name_id == PAYER["email"]
    assert xmlsec1_verify(form.xml, _cert(billers, new)).returncode == 0
    assert xmlsec1_verify(form.xml, _cert(billers, deployment)).returncode != 0

    assert _certs(billers.metadata("power")) == power_before
    assert _certs(billers.metadata(None)) == shared_before
    form, seen = _sign_in(billers, "power")
    assert seen.name_id == PAYER["email"]
    assert xmlsec1_verify(form.xml, _cert(billers, deployment)).returncode == 0
    assert bridge.instance.keyring.active.kid == deployment
    assert {r.kid: r.state for r in bridge.store.list_keys()} == {deployment: "active", new: "active"}
    transitions = bridge.audit("key.transition")
    assert [e.biller for e in transitions if new in (e.detail or "")] == ["water", "water", "water"]


def test_a_biller_with_its_own_entity_id_signs_as_it(billers: TwoBillers):
    bridge = billers.bridge
    own = f"{bridge.settings.idp.base_url}/saml/b/water/metadata"
    bridge.store.put_biller(replace(get_biller(bridge.store, "water"), idp_entity_id=own).record())
    assert parse_untrusted(billers.metadata("water")).get("entityID") == own
    form, seen = _sign_in(billers, "water")
    assert parse_untrusted(form.xml).findtext("saml:Issuer", namespaces=NS) == own
    assert seen.name_id == PAYER["email"]
    assert parse_untrusted(billers.metadata("power")).get("entityID") == bridge.settings.idp.resolved_entity_id


def test_staging_a_billers_own_key_needs_its_own_endpoints(billers: TwoBillers):
    bridge = billers.bridge
    bridge.store.put_biller(replace(get_biller(bridge.store, "water"), idp_endpoints="shared").record())
    kid = _step(billers, "generate", ring="water").kid
    with pytest.raises(KeyLifecycleError, match="--idp-endpoints per-biller"):
        _step(billers, "stage", kid, ring="water")


def test_a_key_is_found_only_in_its_own_ring(billers: TwoBillers):
    kid = _step(billers, "generate", ring="water").kid
    with pytest.raises(NotFound, match="--biller water"):
        _step(billers, "stage", kid)
    with pytest.raises(NotFound, match="biller power's ring"):
        _step(billers, "stage", kid, ring="power")
    deployment = billers.bridge.instance.keyring.active.kid
    with pytest.raises(NotFound, match="without --biller"):
        _step(billers, "retire", deployment, ring="water")


def test_expiry_warnings_name_the_billers_ring(billers: TwoBillers):
    kid = _step(billers, "generate", ring="water", validity_days=5).kid
    _step(billers, "stage", kid, ring="water")
    lines = key_lifecycle.expiry_warnings(billers.bridge.store, billers.bridge.settings, now=billers.bridge.clock())
    assert next(line for line in lines if kid in line).startswith(f"biller water: pending signing certificate {kid}")


def _cli(billers: TwoBillers, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main([*args, "--config", str(billers.bridge.init.config)])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_keys_take_a_biller_and_going_back_to_shared_needs_its_keys_retired(billers: TwoBillers, capsys):
    code, out, _ = _cli(billers, capsys, "keys", "generate", "--biller", "water", "--json")
    kid = json.loads(out)["kid"]
    assert code == 0 and json.loads(out)["ring"] == "water"
    assert _cli(billers, capsys, "keys", "stage", kid, "--biller", "water")[0] == 0
    code, out, _ = _cli(billers, capsys, "keys", "list", "--biller", "water", "--json")
    assert [(k["kid"], k["state"]) for k in json.loads(out)["keys"]] == [(kid, "pending")]
    code, out, _ = _cli(billers, capsys, "keys", "list", "--json")
    assert kid not in out
    code, _, err = _cli(billers, capsys, "billers", "update", "water", "--idp-endpoints", "shared")
    assert code == 1 and err.count("\n") == 1 and "icbridge keys retire KID --biller water" in err
    assert _cli(billers, capsys, "keys", "retire", kid, "--biller", "water")[0] == 0
    assert _cli(billers, capsys, "billers", "update", "water", "--idp-endpoints", "shared")[0] == 0
    code, _, err = _cli(billers, capsys, "keys", "list", "--biller", "nobody")
    assert code == 1 and err.count("\n") == 1 and "nobody" in err


def test_metrics_export_the_expiry_of_a_billers_own_certificates(billers: TwoBillers):
    kid = _step(billers, "generate", ring="water").kid
    _step(billers, "stage", kid, ring="water")
    text = billers.bridge.client.get("/metrics").text
    assert f'bridge_biller_key_expiry_seconds{{biller="water",kid="{kid}",state="pending"}}' in text
    assert f'bridge_key_expiry_seconds{{kid="{kid}"' not in text  # the deployment's gauge is unchanged
