"""server.forwarded_allow_ips: who may name the client and the scheme, and what a bad setting says."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from bridge.config import Settings, load_settings
from bridge.errors import ConfigError
from bridge.web.proxy import proxy_middleware

FORWARDED = {"X-Forwarded-For": "198.51.100.7", "X-Forwarded-Proto": "https"}


def _settings(tmp_path: Path, server: str, base_url: str = "http://127.0.0.1:8000") -> Settings:
    path = tmp_path / "bridge.toml"
    path.write_text(f'[idp]\nbase_url = "{base_url}"\n[tickets]\nsecrets = ["x"]\n[session]\nsecrets = ["y"]\n'
                    f"[server]\n{server}\n")
    return load_settings(path)


def _echo(settings: Settings) -> Starlette:
    async def echo(request: Request) -> JSONResponse:
        return JSONResponse({"client": request.client.host if request.client else None,
                             "scheme": request.url.scheme})

    return Starlette(routes=[Route("/", echo)], middleware=proxy_middleware(settings))


def test_a_peer_inside_a_trusted_network_names_the_client_and_the_scheme(tmp_path: Path) -> None:
    app = _echo(_settings(tmp_path, 'forwarded_allow_ips = ["10.0.0.0/8"]'))
    seen = TestClient(app, client=("10.1.2.3", 5000)).get("/", headers=FORWARDED).json()
    assert seen == {"client": "198.51.100.7", "scheme": "https"}


def test_a_peer_outside_the_list_is_the_client_and_its_headers_are_ignored(tmp_path: Path) -> None:
    app = _echo(_settings(tmp_path, 'forwarded_allow_ips = ["10.0.0.0/8"]'))
    seen = TestClient(app, client=("192.0.2.1", 5000)).get("/", headers=FORWARDED).json()
    assert seen == {"client": "192.0.2.1", "scheme": "http"}


def test_by_default_only_loopback_peers_are_trusted(tmp_path: Path) -> None:
    settings = _settings(tmp_path, "")
    assert settings.server.forwarded_allow_ips == ["127.0.0.1", "::1"]
    assert TestClient(_echo(settings), client=("127.0.0.1", 1)).get("/", headers=FORWARDED).json()["client"] == (
        "198.51.100.7")
    assert TestClient(_echo(settings), client=("10.0.0.1", 1)).get("/", headers=FORWARDED).json()["client"] == (
        "10.0.0.1")


@pytest.mark.parametrize(("value", "message"), [
    ('["*"]', "'*' would believe any client's X-Forwarded-For"),
    ('["proxy.example"]', "'proxy.example' is not an IP address or CIDR network"),
    ('["10.0.0.0/33"]', "'10.0.0.0/33' is not an IP address or CIDR network"),
])
def test_a_bad_entry_is_a_config_error_naming_the_setting(tmp_path: Path, value: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _settings(tmp_path, f"forwarded_allow_ips = {value}")
    assert "server.forwarded_allow_ips" in caught.value.detail and message in caught.value.detail


def test_an_https_instance_reached_over_plain_http_says_once_how_to_trust_the_proxy(tmp_path, caplog) -> None:  # type: ignore[no-untyped-def]
    client = TestClient(_echo(_settings(tmp_path, "", base_url="https://bridge.test")), client=("10.0.0.1", 1))
    with caplog.at_level(logging.WARNING, logger="bridge.web"):
        client.get("/", headers=FORWARDED)
        client.get("/")
    (line,) = [r.getMessage() for r in caplog.records]
    assert "over plain http although idp.base_url is https (peer 10.0.0.1)" in line
    assert "server.forwarded_allow_ips (now 127.0.0.1, ::1)" in line
