"""The console's keys page works on one key ring at a time: the deployment's, or a biller's own."""

from __future__ import annotations

import re
from dataclasses import replace

from bridge.billers import get_biller


def _per_biller(admin) -> None:  # type: ignore[no-untyped-def]
    store = admin.instance.store
    store.put_biller(replace(get_biller(store, "demo"), idp_endpoints="per-biller").record())


def test_a_key_generated_and_staged_for_a_biller_is_published_only_in_its_metadata(admin):
    _per_biller(admin)
    page = admin.client.post("/admin/keys/generate", data={"csrf": admin.csrf, "biller": "demo"})
    assert page.status_code == 200 and "biller demo's own ring" in page.text
    kid = re.search(r"Generated key ([0-9a-f]{16})", page.text).group(1)
    assert kid not in admin.client.get("/admin/keys").text
    staged = admin.client.post("/admin/keys/stage", data={"csrf": admin.csrf, "kid": kid, "biller": "demo"})
    assert staged.status_code == 200, staged.text[:300]
    assert kid in admin.client.get("/saml/b/demo/metadata").text
    assert kid not in admin.client.get("/saml/metadata").text
    confirm = admin.client.get(f"/admin/keys/activate?kid={kid}&biller=demo")
    assert confirm.status_code == 200 and 'name="biller" value="demo"' in confirm.text
    assert {r.kid: r.ring for r in admin.instance.store.list_keys()}[kid] == "demo"


def test_a_key_of_another_ring_or_an_unknown_biller_is_refused(admin):
    _per_biller(admin)
    kid = admin.init.kid  # the deployment's key
    assert admin.client.get(f"/admin/keys/retire?kid={kid}&biller=demo").status_code == 404
    assert admin.client.get("/admin/keys?biller=nobody").status_code == 404
