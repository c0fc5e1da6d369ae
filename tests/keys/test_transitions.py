"""The lifecycle state machine: each step, its audit row, every refusal (races on both store backends)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bridge.errors import KeyLifecycleError, NotFound
from bridge.keys import lifecycle as key_lifecycle
from bridge.store import open_store_url

from .conftest import ADMIN, DAY, Interleaved, metadata_kids


def test_a_generated_key_is_not_published(sqlite_admin):
    admin = sqlite_admin
    kid = admin.generate()
    assert admin.states()[kid] == "generated"
    assert kid not in metadata_kids(admin.bridge.metadata())


def test_the_generated_key_file_is_private(sqlite_admin):
    admin = sqlite_admin
    kid = admin.generate()
    key_path = admin.bridge.directory / "certs" / f"{kid}.key"
    assert key_path.stat().st_mode & 0o777 == 0o600


def test_generate_honours_size_and_validity(sqlite_admin):
    admin = sqlite_admin
    kid = admin.generate(size=3072, validity_days=90)
    cert = admin.certificate(kid)
    assert cert.key_size == 3072
    assert (cert.not_after - admin.bridge.clock()).days == 90


def test_stage_publishes_the_key_after_the_active_one(sqlite_admin):
    admin = sqlite_admin
    old = admin.active_kid
    new = admin.staged()
    assert admin.states() == {old: "active", new: "pending"}
    assert metadata_kids(admin.bridge.metadata()) == [old, new]


def test_activate_swaps_the_signing_key_and_keeps_the_old_one_published(sqlite_admin):
    admin = sqlite_admin
    old, new = admin.rolled_over()
    assert admin.states() == {old: "retiring", new: "active"}
    assert admin.active_kid == new
    assert metadata_kids(admin.bridge.metadata()) == [new, old]


def test_retire_removes_the_old_key_from_the_metadata(sqlite_admin):
    admin = sqlite_admin
    old, new = admin.rolled_over()
    admin.bridge.clock.advance(admin.settings.keys.min_overlap)
    admin.retire(old)
    assert admin.states() == {old: "retired", new: "active"}
    assert metadata_kids(admin.bridge.metadata()) == [new]


def test_purge_deletes_the_record_and_the_files(sqlite_admin):
    admin = sqlite_admin
    old, new = admin.rolled_over()
    admin.bridge.clock.advance(admin.settings.keys.min_overlap)
    admin.retire(old)
    admin.purge(old)
    assert admin.states() == {new: "active"}
    assert not list((admin.bridge.directory / "certs").glob(f"{old}.*"))


def test_every_transition_is_audited_with_actor_and_from_to(admin):
    old, new = admin.rolled_over()
    admin.bridge.clock.advance(admin.settings.keys.min_overlap)
    admin.retire(old)
    admin.purge(old)
    rows = [e for e in admin.bridge.audit("key.transition") if e.actor == ADMIN]
    assert [e.detail for e in rows] == [
        f"{new}: none -> generated", f"{new}: generated -> pending", f"{new}: pending -> active",
        f"{old}: active -> retiring (replaced by {new})", f"{old}: retiring -> retired", f"{old}: retired -> purged",
    ]
    assert all(e.outcome == "ok" and e.at is not None for e in rows)


def test_a_pending_key_can_be_retired_without_ever_signing(sqlite_admin):
    admin = sqlite_admin
    kid = admin.staged()
    admin.retire(kid)
    assert admin.states()[kid] == "retired"


# --- refusals: a clear error and the key set unchanged ----------------------------------------------


def _refused(admin, action, match):
    before = admin.bridge.store.list_keys()
    with pytest.raises((KeyLifecycleError, NotFound)) as caught:
        action()
    assert caught.match(match)
    assert admin.bridge.store.list_keys() == before
    return caught.value


def test_activating_a_generated_but_unstaged_key_is_refused(sqlite_admin):
    admin = sqlite_admin
    kid = admin.generate()
    admin.bridge.clock.advance(2 * DAY)
    _refused(admin, lambda: admin.activate(kid), f"cannot activate key {kid}: it is generated; stage it first")


def test_activating_before_the_minimum_overlap_is_refused(sqlite_admin):
    admin = sqlite_admin
    kid = admin.staged()
    admin.bridge.clock.advance(DAY - 60)
    _refused(admin, lambda: admin.activate(kid), r"published for 24.0 h, less than keys.min_overlap|published for 23")


def test_force_activates_before_the_overlap_with_a_warning(sqlite_admin):
    admin = sqlite_admin
    kid = admin.staged()
    activation = admin.activate(kid, force=True)
    assert admin.active_kid == kid
    assert any(w.startswith("forced") for w in activation.warnings)
    assert any("(forced)" in (e.detail or "") for e in admin.bridge.audit("key.transition"))


def test_retiring_a_key_within_the_overlap_of_its_replacement_is_refused(sqlite_admin):
    admin = sqlite_admin
    old, _new = admin.rolled_over()
    admin.bridge.clock.advance(admin.settings.keys.min_overlap - 60)
    error = _refused(admin, lambda: admin.retire(old), f"key {old} stopped signing only 24.0 h ago|only 23")
    assert isinstance(error, key_lifecycle.NeedsForce)
    assert "--force" not in error.detail and "force the retirement" in error.detail


def test_force_retires_within_the_overlap_with_a_warning_and_an_audited_note(sqlite_admin):
    admin = sqlite_admin
    old, _new = admin.rolled_over()
    retirement = admin.retire(old, force=True)
    assert admin.states()[old] == "retired"
    assert retirement.warnings[0].startswith(f"forced: key {old} stopped signing only 0.0 h ago")
    assert admin.bridge.audit("key.transition")[-1].detail == f"{old}: retiring -> retired (forced)"


def test_the_first_key_of_an_empty_store_activates_without_the_overlap(sqlite_admin, tmp_path):
    settings, now = sqlite_admin.settings, sqlite_admin.bridge.clock()
    empty = open_store_url(f"sqlite:///{tmp_path / 'empty.db'}", base_dir=tmp_path)
    try:
        empty.migrate()
        kid = key_lifecycle.generate(empty, settings, now=now, actor=ADMIN).kid
        key_lifecycle.stage(empty, kid, now=now, actor=ADMIN)
        activation = key_lifecycle.activate(empty, settings, kid, now=now, actor=ADMIN)
        assert (activation.record.state, activation.warnings) == ("active", ())
        second = key_lifecycle.stage(empty, key_lifecycle.generate(empty, settings, now=now, actor=ADMIN).kid,
                                     now=now, actor=ADMIN)
        with pytest.raises(key_lifecycle.NeedsForce):  # once a key has signed, the overlap applies again
            key_lifecycle.activate(empty, settings, second.kid, now=now, actor=ADMIN)
    finally:
        empty.close()


def test_retiring_the_only_active_key_is_refused(sqlite_admin):
    admin = sqlite_admin
    _refused(admin, lambda: admin.retire(admin.active_kid), "it is the active signing key")


def test_an_unknown_kid_is_refused_for_every_step(sqlite_admin):
    admin = sqlite_admin
    for step in (admin.stage, admin.activate, admin.retire, admin.purge):
        error = _refused(admin, lambda step=step: step("0123456789abcdef"), "no signing key '0123456789abcdef'")
        assert isinstance(error, NotFound)


def test_staging_twice_is_refused(sqlite_admin):
    admin = sqlite_admin
    kid = admin.staged()
    _refused(admin, lambda: admin.stage(kid), "only a generated key can be staged")


def test_activating_the_active_key_is_refused(sqlite_admin):
    admin = sqlite_admin
    _refused(admin, lambda: admin.activate(admin.active_kid, force=True), "it is active")


def test_purging_a_published_key_is_refused(sqlite_admin):
    admin = sqlite_admin
    old, _new = admin.rolled_over()
    _refused(admin, lambda: admin.purge(old), "it is retiring; retire it first")


def test_an_expired_certificate_is_never_activated(sqlite_admin):
    admin = sqlite_admin
    clock = admin.bridge.clock
    kid = admin.generate(now=clock() - timedelta(days=3), validity_days=2)
    admin.stage(kid)
    clock.advance(2 * DAY)
    _refused(admin, lambda: admin.activate(kid, force=True), f"cannot activate key {kid}: its certificate expired")


def test_a_not_yet_valid_certificate_is_never_activated(sqlite_admin):
    admin = sqlite_admin
    kid = admin.generate(now=admin.bridge.clock() + timedelta(days=3))
    admin.stage(kid)
    admin.bridge.clock.advance(DAY)
    _refused(admin, lambda: admin.activate(kid, force=True), "its certificate is not valid before")


def test_a_key_whose_file_went_missing_is_not_activated(sqlite_admin):
    admin = sqlite_admin
    kid = admin.staged()
    (admin.bridge.directory / "certs" / f"{kid}.key").unlink()
    admin.bridge.clock.advance(DAY)
    before = admin.bridge.store.list_keys()
    with pytest.raises(Exception, match="private key file not found"):
        admin.activate(kid)
    assert admin.bridge.store.list_keys() == before


def test_of_two_admins_activating_the_same_key_only_one_wins(admin):
    kid = admin.staged()
    admin.bridge.clock.advance(DAY)
    store, settings, now = admin.bridge.store, admin.settings, admin.bridge.clock()
    first = lambda: key_lifecycle.activate(store, settings, kid, now=now, actor="os:first")  # noqa: E731
    with pytest.raises(KeyLifecycleError, match="changed the key set at the same time"):
        key_lifecycle.activate(Interleaved(store, first), settings, kid, now=now, actor="os:second")
    states = admin.states()
    assert states[kid] == "active"
    assert list(states.values()).count("active") == 1
    assert [e.actor for e in admin.bridge.audit("key.transition") if "pending -> active" in (e.detail or "")] == [
        "os:first"]


def test_of_two_keys_activated_in_a_race_only_one_stays_active(admin):
    old, first, second = admin.active_kid, admin.staged(), admin.staged()
    admin.bridge.clock.advance(DAY)
    store, settings, now = admin.bridge.store, admin.settings, admin.bridge.clock()
    other = lambda: key_lifecycle.activate(store, settings, first, now=now, actor="os:other")  # noqa: E731
    with pytest.raises(KeyLifecycleError, match="changed the key set at the same time"):
        key_lifecycle.activate(Interleaved(store, other), settings, second, now=now, actor="os:us")
    assert admin.states() == {old: "retiring", first: "active", second: "pending"}
