"""Signing in to the admin console from the simulator tests (same steps as tests/admin)."""

from __future__ import annotations

import re


def sign_in_admin(bridge) -> None:
    form = bridge.client.get("/admin/login").text
    csrf = re.search(r'name="csrf" value="([^"]+)"', form).group(1)
    answer = bridge.client.post("/admin/login", data={"csrf": csrf, "token": bridge.init.admin_token},
                                follow_redirects=False)
    assert answer.status_code == 303
