"""Post/redirect/get and confirmations: every admin form answers 303, its result is shown once, and destructive
actions do nothing until the confirmation page's form (with the typed key ID or biller name) is submitted."""

from __future__ import annotations

import re

import pytest
from dev_bridge import BASE_URL
from starlette.testclient import TestClient

from bridge.web.admin import actions
from bridge.web.admin.actions import Result

from .conftest import sign_in
from .test_pages import NEW_BILLER


def _post(admin, path: str, **fields: str):
    return admin.client.post(path, data={"csrf": admin.csrf, **fields}, follow_redirects=False)


def _handle(answer) -> str:
    assert answer.status_code == 303, answer.text[:500]
    match = re.search(r"[?&]done=([A-Za-z0-9_-]+)$", answer.headers["location"])
    assert match, answer.headers["location"]
    return match.group(1)


def _key_states(admin) -> dict[str, str]:
    return {r.kid: r.state for r in admin.instance.store.list_keys()}


def _generated_kid(admin) -> str:
    page = admin.client.get(_post(admin, "/admin/keys/generate").headers["location"]).text
    return re.search(r"Generated key ([0-9a-f]{16})", page).group(1)


def test_creating_a_biller_answers_303_to_a_page_that_shows_the_key_once(admin):
    answer = _post(admin, "/admin/billers/new", **NEW_BILLER)
    _handle(answer)
    assert answer.headers["location"].startswith("/admin/billers/city-water/api-key?done=")
    first = admin.client.get(answer.headers["location"])
    key = re.search(r'id="api-key">([^<]+)<', first.text).group(1)
    again = admin.client.get(answer.headers["location"])
    assert key not in again.text and 'id="key-gone"' in again.text
    assert len([e for e in admin.instance.store.audit_events() if e.event == "biller.changed"]) == 1


def test_a_result_is_for_the_session_that_caused_it(admin, dev_bridge):
    location = _post(admin, "/admin/billers/new", **NEW_BILLER).headers["location"]
    with TestClient(admin.client.app, base_url=BASE_URL) as other:
        bridge = type(admin)(directory=admin.directory, instance=admin.instance, client=other, init=admin.init,
                             clock=admin.clock)
        sign_in(bridge)
        stolen = other.get(location)
    assert 'id="api-key"' not in stolen.text and 'id="key-gone"' in stolen.text
    assert 'id="api-key"' not in admin.client.get(location).text  # taken (and lost) by the wrong session


def test_the_stored_result_holds_no_secret_in_clear_and_a_forged_handle_finds_nothing(admin):
    handle = actions.stash(admin.instance, "sid-1", Result("done", secrets=(("api-key", "key", "bk_supersecret"),)))
    row = admin.instance.store.take_pending(actions._row_id(handle), admin.clock())
    assert row is not None and "bk_supersecret" not in str(row) and handle not in str(row)
    admin.instance.store.put_pending(actions._row_id(handle), row, admin.clock() + actions.RESULT_LIFETIME)
    assert actions.take(admin.instance, "sid-1", handle + "x") is None
    assert actions.take(admin.instance, "sid-1", handle).secret("api-key") == "bk_supersecret"
    assert actions.take(admin.instance, "sid-1", handle) is None


def test_a_result_expires(admin):
    handle = actions.stash(admin.instance, "sid-1", Result("done"))
    admin.clock.advance(actions.RESULT_LIFETIME.total_seconds() + 1)
    assert actions.take(admin.instance, "sid-1", handle) is None


def test_editing_a_biller_answers_303_and_the_saved_note_shows_once(admin):
    form = {**NEW_BILLER, "biller_guid": admin.instance.store.get_biller("demo").biller_guid}
    form.pop("name")
    location = _post(admin, "/admin/billers/demo", **form).headers["location"]
    assert "Saved biller demo." in admin.client.get(location).text
    assert "Saved biller demo." not in admin.client.get(location).text


@pytest.mark.parametrize("path", ["/admin/billers/demo/rotate-key", "/admin/billers/demo/remove"])
def test_a_bare_post_to_a_biller_action_only_asks(admin, path):
    page = _post(admin, path)
    assert page.status_code == 200 and 'id="confirm-form"' in page.text
    assert admin.create_login("demo").status_code == 201  # the key still works: nothing was rotated or removed


@pytest.mark.parametrize("path", ["/admin/billers/demo/rotate-key", "/admin/billers/demo/remove"])
def test_a_wrongly_typed_name_changes_nothing(admin, path):
    page = _post(admin, path, confirmed="yes", typed="Demo")
    assert page.status_code == 400 and "Type demo exactly to confirm" in page.text
    assert admin.create_login("demo").status_code == 201


def test_the_confirmation_page_is_a_get_that_changes_nothing(admin):
    page = admin.client.get("/admin/billers/demo/rotate-key")
    assert page.status_code == 200 and 'name="typed"' in page.text and "Rotate the API key of demo?" in page.text
    assert admin.create_login("demo").status_code == 201


def test_rotation_confirmed_answers_303_and_revokes_the_old_key(admin):
    location = _post(admin, "/admin/billers/demo/rotate-key", confirmed="yes", typed="demo").headers["location"]
    key = re.search(r'id="api-key">([^<]+)<', admin.client.get(location).text).group(1)
    assert admin.create_login("demo").status_code == 401
    assert admin.create_login("demo", api_key=key).status_code == 201


def test_removal_confirmed_deletes_the_biller_and_revokes_its_keys(admin):
    answer = _post(admin, "/admin/billers/demo/remove", confirmed="yes", typed="demo")
    assert answer.headers["location"].startswith("/admin/billers?done=")
    assert "Biller demo removed; 1 API key(s) revoked." in admin.client.get(answer.headers["location"]).text
    assert admin.instance.store.get_biller("demo") is None
    assert admin.create_login("demo").status_code == 401
    removed = [e for e in admin.instance.store.audit_events() if e.detail == "removed"]
    assert [e.actor for e in removed] == ["admin:token"]


@pytest.mark.parametrize("action", ["retire", "purge"])
def test_retire_and_purge_need_the_key_id_typed(admin, action):
    kid = _generated_kid(admin)
    asked = _post(admin, f"/admin/keys/{action}", kid=kid)
    assert asked.status_code == 200 and f"Type <code>{kid}</code> to confirm" in asked.text
    wrong = _post(admin, f"/admin/keys/{action}", kid=kid, confirmed="yes", typed=kid[:-1])
    assert wrong.status_code == 400
    assert _key_states(admin)[kid] == "generated"
    _handle(_post(admin, f"/admin/keys/{action}", kid=kid, confirmed="yes", typed=kid))
    assert _key_states(admin).get(kid) == ("retired" if action == "retire" else None)


def test_activation_asks_without_typing_and_a_lifecycle_refusal_shows_on_the_confirmation_page(admin):
    kid = _generated_kid(admin)
    _handle(_post(admin, "/admin/keys/stage", kid=kid))
    asked = _post(admin, "/admin/keys/activate", kid=kid)
    assert asked.status_code == 200 and 'name="typed"' not in asked.text and 'name="force"' in asked.text
    refused = _post(admin, "/admin/keys/activate", kid=kid, confirmed="yes")
    assert refused.status_code == 409 and 'id="confirm-error"' in refused.text
    _handle(_post(admin, "/admin/keys/activate", kid=kid, confirmed="yes", force="on"))
    assert _key_states(admin)[kid] == "active"


def test_generate_and_stage_act_at_once_and_answer_303(admin):
    before = len(_key_states(admin))
    kid = _generated_kid(admin)
    assert len(_key_states(admin)) == before + 1
    _handle(_post(admin, "/admin/keys/stage", kid=kid))
    assert _key_states(admin)[kid] == "pending"


def test_a_refused_stage_shows_the_keys_page_with_the_reason(admin):
    page = _post(admin, "/admin/keys/stage", kid=admin.init.kid)
    assert page.status_code == 409 and 'id="key-error"' in page.text


def test_a_confirmation_for_an_unknown_key_is_not_found(admin):
    assert admin.client.get("/admin/keys/purge?kid=0000000000000000").status_code == 404


def test_a_biller_removed_in_the_console_leaves_this_nodes_memory_at_once(admin):
    cache = admin.instance.store_cache
    assert cache.poll() and cache.billers().get("demo") is not None
    _post(admin, "/admin/billers/demo/remove", confirmed="yes", typed="demo")
    snapshot = cache.billers()
    assert snapshot is None or snapshot.get("demo") is None  # never the removed biller, not even until a poll
    cache.poll()
    assert cache.billers().get("demo") is None
