"""A changed wire format (``[invoicecloud.remote_auth]``) is spoken by the bridge and the simulator alike:
SOAP-style BillerGUID + WebServiceKey in the body, other paths, other field names, CSSUrl sent to authenticate."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from bridge.invoicecloud import credentials

from .live_ic import LiveBridge, serve_live

WIRE = """
[invoicecloud.remote_auth]
auth = "web-service-key"
sso_page = "portal/CloudSSO.aspx"
css_in_authenticate = true

[invoicecloud.remote_auth.paths]
retrieve_users = "RemoteAuthentication/RetrieveUsers"
authenticate = "RemoteAuthentication/RemoteAuthenticate"

[invoicecloud.remote_auth.fields]
email = "Email"
token = "AuthToken"
"""


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveBridge]:
    yield from serve_live(tmp_path_factory.mktemp("rest-sso-wire"), extra_config=WIRE)


def test_a_changed_wire_format_signs_a_payer_in_end_to_end(live: LiveBridge) -> None:
    biller, key = live.add_rest_biller(ic_key="")
    with_key = credentials.set_secret(biller, credentials.WEB_SERVICE_KEY, "wsk-" + "w" * 20,
                                      credentials.secret_box(live.settings))
    live.update_biller(biller.name, ic_web_service_key=with_key.ic_web_service_key)
    first, page = live.open(live.launch_url(biller.name, key))
    assert 'name="AuthToken"' in first.text and "/simulator/portal/CloudSSO.aspx" in first.text
    assert 'name="CSSUrl"' not in first.text, "CSSUrl went to the authenticate call instead"
    assert page is not None and 'id="outcome" data-ok="true"' in page.text, first.text[:500]
    assert biller.css_url in page.text
    assert live.audit(biller.name, "rest_sso")[-1].detail.startswith("branch=created;")


def test_the_simulator_serves_the_configured_paths_only(live: LiveBridge) -> None:
    body = {"AccountNumber": "101Invoice", "Email": "pat@example.com"}
    default_path = httpx.post(f"{live.base_url}/simulator/api/v1/remoteauthentication/retrieveusers", json=body)
    configured = httpx.post(f"{live.base_url}/simulator/RemoteAuthentication/RetrieveUsers", json=body)
    assert default_path.status_code in (404, 405)
    assert configured.status_code == 401 and configured.json() == {"Message": "Unauthorized"}


def test_a_web_service_key_of_another_biller_is_refused(live: LiveBridge) -> None:
    biller, _key = live.add_rest_biller(ic_key="")
    answer = httpx.post(f"{live.base_url}/simulator/RemoteAuthentication/RetrieveUsers", json={
        "AccountNumber": "101Invoice", "Email": "pat@example.com", "BillerGUID": biller.biller_guid,
        "WebServiceKey": "not-its-key",
    })
    assert answer.status_code == 401
