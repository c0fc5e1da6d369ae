"""Scheduled rotation (rotation.enabled): the background job performs due transitions, and logs them."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest

from bridge.config import load_settings
from bridge.instance import open_instance
from bridge.keys import lifecycle as key_lifecycle

from .conftest import DAY, Interleaved

ROTATION = '[rotation]\nenabled = true\npublish_ahead = "14d"\noverlap = "7d"\ncheck_interval = "1h"\n'


def _open_node(admin):
    config = admin.bridge.init.config
    config.write_text(config.read_text() + ROTATION)
    instance = open_instance(load_settings(config), clock=admin.bridge.clock)
    yield instance
    instance.close()


@pytest.fixture
def node(admin):
    """A node of the instance with scheduled rotation switched on (both store backends)."""
    yield from _open_node(admin)


@pytest.fixture
def sqlite_node(sqlite_admin):
    yield from _open_node(sqlite_admin)


def _rotation_job(instance):
    return next(job for job in instance.extras["jobs"] if "key-rotation" in repr(job))


def _sp_fetches_metadata(bridge) -> None:
    bridge.instance.keyring.refresh()
    assert bridge.client.get("/saml/metadata", headers={"User-Agent": "sp/1.0"}).status_code == 200
    bridge.instance.fetch_log.flush()


def _published(node) -> list[str]:
    node.keyring.refresh()
    return list(node.idp.metadata().kids)


def test_rotation_job_is_registered_only_when_enabled(sqlite_admin, sqlite_node):
    admin = sqlite_admin
    node = sqlite_node
    assert "key-rotation" in repr(node.extras["jobs"])
    assert "key-rotation" not in repr(admin.bridge.instance.extras["jobs"])


def test_a_whole_scheduled_rotation(admin, node, caplog):
    clock, job = admin.bridge.clock, _rotation_job(node)
    old = admin.active_kid
    expires = admin.certificate(old).not_after
    clock.now = expires - timedelta(days=15)
    with caplog.at_level(logging.WARNING, logger="bridge.keys.lifecycle"):
        job()
        assert _published(node) == [old]  # nothing due yet
        clock.now = expires - timedelta(days=14)
        job()
        (new,) = [k for k in _published(node) if k != old]
        assert admin.states() == {old: "active", new: "pending"}
        _sp_fetches_metadata(admin.bridge)
        clock.advance(7 * DAY)
        job()
        assert _published(node) == [new, old] and node.keyring.active.kid == new
        clock.advance(7 * DAY)
        job()
        assert _published(node) == [new]
    assert admin.states() == {old: "retired", new: "active"}
    logged = [r.getMessage() for r in caplog.records if r.name == "bridge.keys.lifecycle"]  # not other threads
    assert [line.split(" ")[2] for line in logged] == ["generated", "activated", "retired"], logged
    assert {e.actor for e in admin.bridge.audit("key.transition")[1:]} == {"scheduler"}


def test_the_job_waits_for_its_check_interval(sqlite_admin, sqlite_node):
    admin = sqlite_admin
    node = sqlite_node
    clock, job = admin.bridge.clock, _rotation_job(node)
    threshold = admin.certificate(admin.active_kid).not_after - timedelta(days=14)
    clock.now = threshold - timedelta(minutes=10)
    job()
    clock.advance(20 * 60)  # due now, but the last check was 20 minutes ago
    job()
    assert list(admin.states().values()) == ["active"]
    clock.advance(40 * 60)
    job()
    assert sorted(admin.states().values()) == ["active", "pending"]


def test_an_admin_staged_key_is_activated_on_schedule_and_no_second_key_is_made(sqlite_admin, sqlite_node):
    admin = sqlite_admin
    node = sqlite_node
    clock = admin.bridge.clock
    old = admin.active_kid
    clock.now = admin.certificate(old).not_after - timedelta(days=10)
    new = admin.staged()
    key_lifecycle.due_transitions(node.store, node.settings, now=clock())
    assert admin.states() == {old: "active", new: "pending"}
    _sp_fetches_metadata(admin.bridge)
    clock.advance(7 * DAY)
    key_lifecycle.due_transitions(node.store, node.settings, now=clock())
    assert admin.states() == {old: "retiring", new: "active"}


def test_two_nodes_staging_at_once_keep_a_single_pending_key(admin, node):
    clock = admin.bridge.clock
    clock.now = admin.certificate(admin.active_kid).not_after - timedelta(days=13)
    other = lambda: key_lifecycle.due_transitions(node.store, node.settings, now=clock())  # noqa: E731
    # Both nodes see no pending key; the other node generates and stages before this one records its key.
    key_lifecycle.due_transitions(Interleaved(node.store, other, on="add_key"), node.settings, now=clock())
    states = sorted(admin.states().values())
    assert states == ["active", "pending", "retired"]


def test_a_key_no_client_has_fetched_is_held_not_activated(sqlite_admin, sqlite_node):
    admin = sqlite_admin
    node = sqlite_node
    clock = admin.bridge.clock
    old = admin.active_kid
    new = admin.staged()
    clock.advance(8 * DAY)
    done = key_lifecycle.due_transitions(node.store, node.settings, now=clock())
    assert admin.states() == {old: "active", new: "pending"}
    assert done[0].startswith(f"holding {new}: no client has fetched metadata listing it")


def test_a_refused_scheduled_activation_is_logged_and_changes_nothing(sqlite_admin, sqlite_node, caplog):
    admin = sqlite_admin
    node = sqlite_node
    clock, job = admin.bridge.clock, _rotation_job(node)
    old = admin.active_kid
    new = admin.staged()
    _sp_fetches_metadata(admin.bridge)
    (admin.bridge.directory / "certs" / f"{new}.key").unlink()
    clock.advance(8 * DAY)
    with caplog.at_level(logging.ERROR, logger="bridge.keys.lifecycle"):
        job()
    assert admin.states() == {old: "active", new: "pending"}
    assert "private key file not found" in caplog.records[-1].getMessage()
