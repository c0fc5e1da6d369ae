"""``icbridge sessions revoke``: sign out everywhere from the server's shell, seen by the running service."""

from __future__ import annotations

import json

from bridge.cli import main

from .conftest import PAYER, answered, sign_in_admin, sso_with


def test_revoking_admins_from_the_cli_signs_out_the_console(bridge, capsys):
    sign_in_admin(bridge.client, bridge.init.admin_token)
    assert main(["sessions", "revoke", "--admins", "--config", str(bridge.init.config), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"ended": ["every admin session"]}
    assert bridge.client.get("/admin", follow_redirects=False).status_code == 303
    assert bridge.audit("sessions.revoked")[-1].actor == "cli"


def test_revoking_one_billers_payers_from_the_cli_ends_their_sessions(bridge, sp, capsys):
    bridge.launch("city", **PAYER)
    assert main(["sessions", "revoke", "--payers", "--biller", "city", "--config", str(bridge.init.config)]) == 0
    assert capsys.readouterr().out.strip() == "Ended every payer session of city."
    assert not answered(sso_with(bridge.client, sp, bridge.clock))


def test_revoke_without_saying_what_is_one_error_line(bridge, capsys):
    assert main(["sessions", "revoke", "--config", str(bridge.init.config)]) == 1
    assert capsys.readouterr().err.strip().count("\n") == 0


def test_revoking_an_unknown_billers_payers_is_refused(bridge, capsys):
    assert main(["sessions", "revoke", "--payers", "--biller", "nobody", "--config", str(bridge.init.config)]) == 1
    assert "nobody" in capsys.readouterr().err
