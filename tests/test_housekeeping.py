"""The background pass keeps going when one of its steps fails."""

from __future__ import annotations

from bridge.errors import ConfigError
from bridge.web.app import housekeeping


def test_a_failing_step_does_not_stop_the_others(sqlite_bridge, caplog):
    ran: list[str] = []

    def broken_refresh() -> bool:
        raise ConfigError("certs/x.key: cannot read the private key file")

    sqlite_bridge.instance.keyring.refresh = broken_refresh  # a node whose new key file will not load
    sqlite_bridge.instance.extras["jobs"] = [lambda: ran.append("job")]
    housekeeping(sqlite_bridge.instance, last_purge=[0.0])
    assert ran == ["job"]
    assert "key refresh: certs/x.key" in caplog.text


def test_a_key_path_that_is_a_folder_is_one_clear_error(tmp_path):
    from datetime import UTC, datetime

    import pytest

    from bridge.keys.material import generate_rsa_key, load_signing_key, self_signed_certificate

    cert = self_signed_certificate(generate_rsa_key(), common_name="t", now=datetime.now(UTC), validity_days=1)

    folder = tmp_path / "k.key"
    folder.mkdir(mode=0o700)
    with pytest.raises(ConfigError, match="cannot read the private key file"):
        load_signing_key(folder, cert)
