"""``icbridge check``: every problem in one run, one line each; warnings that do not make it unusable."""

from __future__ import annotations

from pathlib import Path

from bridge.cli import main

HTTP_ACS_SP = """<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://sp.example">
<md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
<md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
  Location="http://sp.example/acs" index="0"/>
</md:SPSSODescriptor>
</md:EntityDescriptor>
"""


def test_a_healthy_instance_is_ok(icbridge, instance) -> None:  # type: ignore[no-untyped-def]
    assert (icbridge("check").code, icbridge("check").out) == (0, f"{instance.config}: OK\n")


def test_every_configuration_problem_is_reported_in_one_run(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    config = tmp_path / "bridge.toml"
    config.write_text('[idp]\nbase_url = "http://bridge.example"\n[tickets]\nsecrets = ["env:H13_UNSET_VAR"]\n'
                      '[keys]\nsize = 1000\n')
    config.chmod(0o600)
    assert main(["check", "--config", str(config)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(": ")[1] for line in lines] == [
        "tickets.secrets", "idp.base_url", "keys.size", "session.secrets"]
    assert "environment variable H13_UNSET_VAR is not set" in lines[0]


def test_inline_secrets_in_a_file_others_can_read_are_a_warning(icbridge, instance) -> None:  # type: ignore[no-untyped-def]
    instance.config.chmod(0o640)
    ran = icbridge("check")
    assert ran.code == 0
    assert ran.out.splitlines() == [
        f"warning: {instance.config}: readable by group or others (mode 0640) and holds inline secrets "
        f"(tickets.secrets, session.secrets, invoicecloud.secrets); run: chmod 600 {instance.config}, or use "
        '"env:NAME" / "file:PATH"',
        f"{instance.config}: usable, with 1 warning(s)",
    ]


def test_a_readable_file_whose_secrets_are_references_is_fine(icbridge, instance, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("H13_SECRET", "s" * 40)
    text = instance.config.read_text()
    for section in ("tickets", "session", "invoicecloud"):
        start = text.index(f"[{section}]")
        line_start = text.index("secrets = [", start)
        line_end = text.index("\n", line_start)
        text = text[:line_start] + 'secrets = ["env:H13_SECRET"]' + text[line_end:]
    instance.config.write_text(text)
    instance.config.chmod(0o644)
    assert icbridge("check").out == f"{instance.config}: OK\n"


def test_a_configuration_others_can_write_is_a_warning(icbridge, instance) -> None:  # type: ignore[no-untyped-def]
    instance.config.chmod(0o620)
    warnings = [line for line in icbridge("check").out.splitlines() if line.startswith("warning: ")]
    assert any("writable by group or others (mode 0620)" in w for w in warnings)


def test_each_bad_metadata_file_is_named_with_its_line_and_the_key_problem_too(icbridge, instance) -> None:  # type: ignore[no-untyped-def]
    metadata = instance.config.parent / "metadata"
    (metadata / "a-broken.xml").write_text('<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata">\n'
                                           "<unclosed>\n</md:EntityDescriptor>\n")
    (metadata / "b-http.xml").write_text(HTTP_ACS_SP)
    key = instance.config.parent / "certs" / f"{instance.kid}.key"
    key.chmod(0o640)
    ran = icbridge("check")
    assert ran.code == 1
    lines = ran.out.splitlines()
    assert lines[0] == f"the metadata from {metadata / 'a-broken.xml'} is not well-formed XML (line 3, column 23)"
    assert lines[1].startswith(f"metadata {metadata / 'b-http.xml'}: https://sp.example: no usable HTTP-POST "
                               "AssertionConsumerService in its metadata: 'http://sp.example/acs' must be an https URL")
    assert lines[1].endswith('for a development SP set allow_http_acs = true under [sp."https://sp.example"] '
                             "in bridge.toml")
    assert lines[2] == (f"keys: active key {instance.kid}: {key}: private key is readable by group or others "
                        f"(mode 0640); run: chmod 600 {key}")
    assert len(lines) == 3


def test_json_lists_problems_and_warnings(icbridge, instance) -> None:  # type: ignore[no-untyped-def]
    instance.config.chmod(0o644)
    (instance.config.parent / "certs" / f"{instance.kid}.key").unlink()
    ran = icbridge("check", "--json")
    payload = ran.json()
    assert (ran.code, payload["ok"], len(payload["problems"]), len(payload["warnings"])) == (1, False, 1, 1)
    assert payload["problems"][0].endswith("private key file not found")
