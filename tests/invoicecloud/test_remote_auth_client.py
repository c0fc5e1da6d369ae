"""The Remote Authentication client at the transport seam (httpx.MockTransport): auth styles, IC's envelope,
and which answer becomes which error. The decision tree and the simulator are tested over real HTTP elsewhere."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from bridge.errors import ICCredentialsRefused, ICError, ICRejected, ICUnavailable, ICUnexpectedAnswer
from bridge.invoicecloud.remote_auth import (
    AUTHENTICATE,
    Credentials,
    RemoteAuthClient,
    RemoteToken,
    WireFormat,
    cloud_sso_page,
)

API_BASE = "https://ic.test"
CREDENTIALS = Credentials(biller_guid="c09d08fb-a969-4778-bb58-b46a8e9224e7", api_key="key-123",
                          web_service_key="wsk-456")
Handler = Callable[[httpx.Request], httpx.Response]


def _call(handler: Handler, wire: WireFormat | None = None, observed: list[Any] | None = None) -> Any:
    sink: list[Any] = observed if observed is not None else []

    async def run() -> Any:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
            client = RemoteAuthClient(
                http, api_base=API_BASE, wire=wire or WireFormat(), credentials=CREDENTIALS,
                timeout=httpx.Timeout(1.0), observe=lambda *args: sink.append(args),
            )
            return await client.authenticate(account_number="101Invoice", email="pat@example.com",
                                             login_type_id=1, css_url="https://portal.test/ic.css")

    return asyncio.run(run())


def _ok(token: str = "tok") -> Handler:
    return lambda request: httpx.Response(200, json={"Message": "SUCCESS",
                                                     "Data": {"RemoteAuthenticationToken": token}})


@pytest.mark.parametrize(("auth", "expected"), [("basic", "key-123"), ("basic-colon", "key-123:")])
def test_basic_auth_encodes_the_api_key_as_configured(auth: str, expected: str) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return _ok()(request)

    _call(handler, WireFormat(auth=auth))  # type: ignore[arg-type]
    assert seen[0].headers["authorization"] == "Basic " + base64.b64encode(expected.encode()).decode()
    assert str(seen[0].url) == "https://ic.test/api/v1/remoteauthentication/authenticate"
    assert json.loads(seen[0].content) == {"AccountNumber": "101Invoice", "EmailAddress": "pat@example.com",
                                           "LoginTypeID": 1}


def test_the_web_service_key_style_puts_biller_guid_and_key_in_the_body_and_no_header() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return _ok()(request)

    _call(handler, WireFormat(auth="web-service-key", css_in_authenticate=True))
    body = json.loads(seen[0].content)
    assert "authorization" not in seen[0].headers
    assert body["BillerGUID"] == CREDENTIALS.biller_guid and body["WebServiceKey"] == "wsk-456"
    assert body["CSSUrl"] == "https://portal.test/ic.css"


@pytest.mark.parametrize(("answer", "error", "outcome"), [
    (httpx.Response(401), ICCredentialsRefused, "refused"),
    (httpx.Response(403, json={"Message": "Forbidden"}), ICCredentialsRefused, "refused"),
    (httpx.Response(500, text="oops"), ICUnavailable, "server_error"),
    (httpx.Response(503, json={"Message": "Down for maintenance"}), ICRejected, "rejected"),
    (httpx.Response(200, json={"Message": "Account is locked"}), ICRejected, "rejected"),
    (httpx.Response(200, text="<html>"), ICUnexpectedAnswer, "bad_answer"),
    (httpx.Response(200, json=["SUCCESS"]), ICUnexpectedAnswer, "bad_answer"),
    (httpx.Response(200, json={"Message": "SUCCESS", "Data": {}}), ICUnexpectedAnswer, "bad_answer"),
    (httpx.Response(200, json={"Message": "SUCCESS", "Data": {"RemoteAuthenticationToken": 7}}),
     ICUnexpectedAnswer, "bad_answer"),
    (httpx.Response(302, json={"Message": "SUCCESS", "Data": {"RemoteAuthenticationToken": "t"}}),
     ICUnexpectedAnswer, "bad_answer"),
])
def test_each_kind_of_answer_becomes_its_error_naming_the_operation(
    answer: httpx.Response, error: type[ICError], outcome: str
) -> None:
    observed: list[Any] = []
    with pytest.raises(error) as raised:
        _call(lambda request: answer, observed=observed)
    assert raised.value.operation == AUTHENTICATE and raised.value.outcome == outcome
    assert observed[0][:2] == (AUTHENTICATE, outcome) and observed[0][2] >= 0


@pytest.mark.parametrize(("exc", "outcome"), [
    (httpx.ReadTimeout("slow"), "timeout"), (httpx.ConnectTimeout("slow"), "timeout"),
    (httpx.ConnectError("refused"), "unreachable"),
])
def test_a_transport_failure_is_ic_unavailable(exc: Exception, outcome: str) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    with pytest.raises(ICUnavailable) as raised:
        _call(handler)
    assert raised.value.outcome == outcome and raised.value.status == 504


def test_ic_s_message_is_kept_as_its_words() -> None:
    with pytest.raises(ICRejected) as raised:
        _call(lambda request: httpx.Response(200, json={"Message": "Email already registered to another user"}))
    assert raised.value.ic_message == "Email already registered to another user"


def test_ic_s_message_never_carries_the_billers_keys_back() -> None:
    with pytest.raises(ICRejected) as raised:
        _call(lambda request: httpx.Response(200, json={"Message": "Bad key key-123 for wsk-456"}))
    assert raised.value.ic_message == "Bad key *** for ***" and "key-123" not in raised.value.detail


def test_a_wire_format_refuses_unknown_operations_and_fields() -> None:
    with pytest.raises(ValueError, match="unknown operation 'lookup'"):
        WireFormat(paths={"lookup": "x"})
    with pytest.raises(ValueError, match="unknown field 'emial'"):
        WireFormat(fields={"emial": "Email"})
    assert WireFormat(fields={"email": "Email"}).fields["account_number"] == "AccountNumber"


def test_the_cloud_sso_page_carries_the_fields_the_designs_name() -> None:
    page = cloud_sso_page(WireFormat(), API_BASE, RemoteToken("tok"), view_mode=1, redirect_id=3,
                          css_url="https://portal.test/ic.css", return_url="https://portal.test/home",
                          return_site_name="City Water")
    assert page.url == "https://ic.test/cloudsso/login"
    assert page.fields == {"RemoteAuthenticationToken": "tok", "ViewMode": "1", "RedirectID": "3",
                           "CSSUrl": "https://portal.test/ic.css", "ReturnUrl": "https://portal.test/home",
                           "CustomReturnSiteName": "City Water"}
    assert "tok" not in repr(page)
