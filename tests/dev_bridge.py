"""A bridge instance as `icbridge init` makes it for development: simulator on, admin token set,
demo biller bound to the simulator. Shared by the admin, simulator and observability tests."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from saml_peers import parse_post_page
from starlette.testclient import TestClient

from bridge.config import load_settings
from bridge.instance import InitResult, Instance, init_instance, open_instance
from bridge.web.app import create_app

BASE_URL = "https://bridge.test"
PAYER = {"email": "pat.payer@example.com", "account_number": "101Invoice", "role": "owner"}


@dataclass
class DevBridge:
    directory: Path
    instance: Instance
    client: TestClient
    init: InitResult
    clock: Any

    def create_login(self, biller: str = "demo", *, api_key: str | None = None, **body: Any):  # type: ignore[no-untyped-def]
        headers = {"Authorization": f"Bearer {api_key or self.init.api_key}"}
        return self.client.post("/api/v1/logins", json={"biller": biller, **PAYER, **body}, headers=headers)

    def launch_url(self, biller: str = "demo", **body: Any) -> str:
        created = self.create_login(biller, **body)
        assert created.status_code == 201, created.text
        return created.json()["url"]

    def follow(self, url: str, *, limit: int = 5):  # type: ignore[no-untyped-def]
        """Follow redirects and auto-POST pages as a browser would, until a page that is neither."""
        response = self.client.get(url, follow_redirects=False)
        for _ in range(limit):
            if response.status_code in (302, 303):
                response = self.client.get(response.headers["location"], follow_redirects=False)
            elif 'id="saml"' in response.text and response.status_code == 200:
                action, fields = post_form(response.text)
                response = self.client.post(action, data=fields, follow_redirects=False)
            else:
                return response
        return response


def post_form(page: str) -> tuple[str, dict[str, str]]:
    form = parse_post_page(page)
    return form.action, form.fields


def make_dev_bridge(directory: Path, clock: Any, *, simulator: bool = True, config: str = "") -> Iterator[DevBridge]:
    """``config``: TOML appended to the configuration ``icbridge init`` wrote (sections it has no table for)."""
    result = init_instance(directory, base_url=BASE_URL, now=clock(), simulator=simulator)
    if config:
        with result.config.open("a") as handle:
            handle.write("\n" + config)
    instance = open_instance(load_settings(result.config), clock=clock)
    app = create_app(instance, background=False)
    with TestClient(app, base_url=BASE_URL, raise_server_exceptions=False) as client:
        yield DevBridge(directory=directory, instance=instance, client=client, init=result, clock=clock)
    instance.close()
