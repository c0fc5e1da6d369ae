"""IC's Remote Authentication web service (Cloud SSO Connect over REST): the wire format and its client.

IC does not publish this service's wire format (DOMAIN.md). Everything IC-specific about it is
therefore configuration, :class:`WireFormat`, whose defaults follow IC's public REST services
(``<api base>/api/v1/...``, HTTP Basic with the biller's API key, JSON in PascalCase, answers
``{"Message": "SUCCESS", "Data": {...}}``) and are **assumed**: confirm them against IC's partner
specification and change them in ``[invoicecloud.remote_auth]`` (docs/rest-sso.md lists each one).

The four operations (names as in the partner designs):

- ``retrieve_users``   "Remote Authentication - Retrieve Users": does the account exist, who is registered
- ``create_customer``  "Customers - Create Customer Record"
- ``register_accounts`` "Remote Authentication - Register Accounts" (with the biller's LoginTypeID)
- ``authenticate``     "Remote Authentication - Remote Authentication": returns the RemoteAuthenticationToken

Errors (``bridge.errors``): :class:`ICUnavailable` (unreachable, timed out), :class:`ICCredentialsRefused`
(401/403), :class:`ICRejected` (IC's own error message), :class:`ICUnexpectedAnswer` (anything else).
Each names the operation; none carries a key or a token. Nothing here retries: which calls may be
repeated is the decision tree's business (``bridge.invoicecloud.registration``).
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeVar
from urllib.parse import urlencode

import httpx
from pydantic import BaseModel, ConfigDict, Field, field_validator

from bridge.errors import ICCredentialsRefused, ICError, ICRejected, ICUnavailable, ICUnexpectedAnswer

RETRIEVE_USERS = "retrieve_users"
CREATE_CUSTOMER = "create_customer"
REGISTER_ACCOUNTS = "register_accounts"
AUTHENTICATE = "authenticate"
OPERATIONS = (RETRIEVE_USERS, CREATE_CUSTOMER, REGISTER_ACCOUNTS, AUTHENTICATE)

# ASSUMED: paths relative to the API base (https://www.invoicecloud.com), next to IC's public
# /api/v1/customer/RetrieveCustomerGuid.
DEFAULT_PATHS: Mapping[str, str] = {
    RETRIEVE_USERS: "api/v1/remoteauthentication/retrieveusers",
    CREATE_CUSTOMER: "api/v1/customer/createcustomerrecord",
    REGISTER_ACCOUNTS: "api/v1/remoteauthentication/registeraccounts",
    AUTHENTICATE: "api/v1/remoteauthentication/authenticate",
}
# Our name → IC's name. ASSUMED except the Cloud SSO page's fields (token, view_mode, redirect_id,
# css_url, return_url, return_site_name), which the partner designs name.
DEFAULT_FIELDS: Mapping[str, str] = {
    "message": "Message",
    "data": "Data",
    "account_number": "AccountNumber",
    "account_numbers": "AccountNumbers",
    "email": "EmailAddress",
    "login_type_id": "LoginTypeID",
    "account_exists": "AccountExists",
    "users": "Users",
    "customer_guid": "CustomerGuid",
    "token": "RemoteAuthenticationToken",
    "biller_guid": "BillerGUID",
    "web_service_key": "WebServiceKey",
    "view_mode": "ViewMode",
    "redirect_id": "RedirectID",
    "css_url": "CSSUrl",
    "return_url": "ReturnUrl",
    "return_site_name": "CustomReturnSiteName",
}
T = TypeVar("T")
AuthStyle = Literal["basic", "basic-colon", "web-service-key"]


class WireFormat(BaseModel):
    """``[invoicecloud.remote_auth]``: how the Remote Authentication service is spoken. Every default is assumed.

    ``auth``: ``basic`` sends ``Authorization: Basic base64(<API key>)`` (as IC's public REST clients do),
    ``basic-colon`` encodes ``<API key>:``, ``web-service-key`` puts ``BillerGUID`` and ``WebServiceKey``
    in the body (IC's older SOAP services). ``paths`` and ``fields`` override the defaults one by one.
    ``sso_page`` is IC's Cloud SSO page, relative to the API base.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    auth: AuthStyle = "basic"
    paths: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_PATHS))
    fields: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_FIELDS))
    success_message: str = "SUCCESS"
    sso_page: str = "cloudsso/login"  # ASSUMED
    # Send CSSUrl in the authenticate call instead of on the Cloud SSO page.
    css_in_authenticate: bool = False

    @field_validator("paths")
    @classmethod
    def _paths(cls, value: dict[str, str]) -> dict[str, str]:
        return _merged(value, DEFAULT_PATHS, "operation")

    @field_validator("fields")
    @classmethod
    def _fields(cls, value: dict[str, str]) -> dict[str, str]:
        return _merged(value, DEFAULT_FIELDS, "field")

    def url(self, api_base: str, path: str) -> str:
        return f"{api_base.rstrip('/')}/{path.lstrip('/')}"


def _merged(given: dict[str, str], defaults: Mapping[str, str], what: str) -> dict[str, str]:
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        raise ValueError(f"unknown {what} {unknown[0]!r}; known: {', '.join(defaults)}")
    if any(not str(v).strip() for v in given.values()):
        raise ValueError(f"a {what} name cannot be empty")
    return {**defaults, **given}


class RemoteToken:
    """A RemoteAuthenticationToken. Its repr and str hide it, so no log line or traceback can carry it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "RemoteToken(<hidden>)"

    __str__ = __repr__


@dataclass(frozen=True, slots=True)
class Lookup:
    """What Retrieve Users says about one account and one email, at the moment of asking (never cached)."""

    account_exists: bool
    registered: bool


@dataclass(frozen=True, slots=True)
class Credentials:
    """One biller's credentials for IC's web services, in clear only for the length of a launch."""

    biller_guid: str
    api_key: str | None = None
    web_service_key: str | None = None

    def secrets(self) -> tuple[str, ...]:
        return tuple(s for s in (self.api_key, self.web_service_key) if s)


def needed_credential(wire: WireFormat) -> Literal["api_key", "web_service_key"]:
    """The credential this wire format authenticates with (a :class:`Credentials` field)."""
    return "web_service_key" if wire.auth == "web-service-key" else "api_key"


Observer = Callable[[str, str, float], None]  # (operation, outcome, seconds)


class RemoteAuthClient:
    """The four operations for one biller, over an ``httpx.AsyncClient`` the caller owns."""

    def __init__(
        self, http: httpx.AsyncClient, *, api_base: str, wire: WireFormat, credentials: Credentials,
        timeout: httpx.Timeout, observe: Observer | None = None,
    ) -> None:
        self._http = http
        self._api_base = api_base
        self._wire = wire
        self._credentials = credentials
        self._timeout = timeout
        self._observe = observe
        self._f = wire.fields

    async def retrieve_users(self, *, account_number: str, email: str) -> Lookup:
        def parse(data: dict[str, Any]) -> Lookup:
            exists = data.get(self._f["account_exists"])
            users = data.get(self._f["users"], [])
            if not isinstance(exists, bool) or not isinstance(users, list):
                raise ICUnexpectedAnswer(
                    f"{self._f['account_exists']} must be true or false and {self._f['users']} a list",
                    operation=RETRIEVE_USERS,
                )
            wanted = email.casefold()
            registered = any(
                isinstance(user, dict) and str(user.get(self._f["email"], "")).casefold() == wanted
                for user in users
            )
            return Lookup(account_exists=exists, registered=registered)

        return await self._call(RETRIEVE_USERS, {"account_number": account_number, "email": email}, parse)

    async def create_customer(self, *, account_number: str, email: str) -> str:
        return await self._call(CREATE_CUSTOMER, {"account_number": account_number, "email": email},
                                lambda data: self._string(data, "customer_guid", CREATE_CUSTOMER))

    async def register_accounts(self, *, email: str, account_numbers: list[str], login_type_id: int) -> None:
        body = {"email": email, "account_numbers": account_numbers, "login_type_id": login_type_id}
        await self._call(REGISTER_ACCOUNTS, body, lambda data: None)

    async def authenticate(
        self, *, account_number: str, email: str, login_type_id: int, css_url: str | None
    ) -> RemoteToken:
        body: dict[str, Any] = {"account_number": account_number, "email": email, "login_type_id": login_type_id}
        if css_url and self._wire.css_in_authenticate:
            body["css_url"] = css_url
        return await self._call(AUTHENTICATE, body,
                                lambda data: RemoteToken(self._string(data, "token", AUTHENTICATE)))

    # the wire

    def _request(self, body: Mapping[str, Any]) -> tuple[dict[str, str], dict[str, Any]]:
        payload = {self._f[name]: value for name, value in body.items()}
        headers = {"Accept": "application/json"}
        key = self._credentials.api_key or ""
        if self._wire.auth == "web-service-key":
            payload[self._f["biller_guid"]] = self._credentials.biller_guid
            payload[self._f["web_service_key"]] = self._credentials.web_service_key
        else:
            raw = key + ":" if self._wire.auth == "basic-colon" else key
            headers["Authorization"] = "Basic " + base64.b64encode(raw.encode()).decode()
        return headers, payload

    async def _call(self, operation: str, body: Mapping[str, Any], parse: Callable[[dict[str, Any]], T]) -> T:
        """One operation, timed and observed with its outcome, including reading what IC answered."""
        started = time.perf_counter()
        outcome = "ok"
        try:
            return parse(await self._exchange(operation, body))
        except ICError as exc:
            outcome = exc.outcome
            raise
        finally:
            if self._observe is not None:
                self._observe(operation, outcome, time.perf_counter() - started)

    async def _exchange(self, operation: str, body: Mapping[str, Any]) -> dict[str, Any]:
        headers, payload = self._request(body)
        url = self._wire.url(self._api_base, self._wire.paths[operation])
        try:
            answer = await self._http.post(url, json=payload, headers=headers, timeout=self._timeout)
        except httpx.TimeoutException:
            raise ICUnavailable("Invoice Cloud did not answer in time", operation=operation,
                                outcome="timeout") from None
        except httpx.TransportError as exc:
            raise ICUnavailable(f"Invoice Cloud cannot be reached ({type(exc).__name__})", operation=operation,
                                outcome="unreachable") from None
        if answer.status_code in (401, 403):
            raise ICCredentialsRefused(
                f"Invoice Cloud refused this biller's credentials (HTTP {answer.status_code})", operation=operation,
            )
        message, data = self._envelope(answer, operation)
        if message != self._wire.success_message:
            for secret in self._credentials.secrets():  # IC's words go to the payer and the audit trail
                message = message.replace(secret, "***")
            raise ICRejected(f"Invoice Cloud answered: {message}", operation=operation, ic_message=message)
        if answer.status_code >= 300:
            raise ICUnexpectedAnswer(f"HTTP {answer.status_code} with {self._f['message']} "
                                     f"{self._wire.success_message}", operation=operation)
        return data

    def _envelope(self, answer: httpx.Response, operation: str) -> tuple[str, dict[str, Any]]:
        """``{"Message": ..., "Data": {...}}``; a 5xx without one is IC failing, not answering."""
        try:
            parsed = answer.json()
        except ValueError:
            parsed = None
        message = parsed.get(self._f["message"]) if isinstance(parsed, dict) else None
        if not isinstance(message, str):
            if answer.status_code >= 500:
                raise ICUnavailable(f"Invoice Cloud failed (HTTP {answer.status_code})", operation=operation,
                                    outcome="server_error")
            raise ICUnexpectedAnswer(
                f"HTTP {answer.status_code} without a JSON {self._f['message']} field", operation=operation
            )
        data = parsed.get(self._f["data"]) if isinstance(parsed, dict) else None
        return message[:300], data if isinstance(data, dict) else {}

    def _string(self, data: Mapping[str, Any], name: str, operation: str) -> str:
        value = data.get(self._f[name])
        if not isinstance(value, str) or not value:
            raise ICUnexpectedAnswer(f"the answer has no {self._f['data']}.{self._f[name]}", operation=operation)
        return value


@dataclass(frozen=True, slots=True)
class CloudSsoPage:
    """Where the browser goes with its token: IC's Cloud SSO page and the fields it takes."""

    url: str
    fields: dict[str, str]

    def __repr__(self) -> str:
        return f"CloudSsoPage(url={self.url!r}, fields=<{len(self.fields)} hidden>)"

    def get_url(self) -> str:
        return f"{self.url}?{urlencode(self.fields)}"


def cloud_sso_page(
    wire: WireFormat, api_base: str, token: RemoteToken, *, view_mode: int, redirect_id: int,
    css_url: str | None, return_url: str | None, return_site_name: str | None,
) -> CloudSsoPage:
    """IC's Cloud SSO page and its fields: the token, ViewMode, RedirectID, CSSUrl, ReturnUrl, CustomReturnSiteName."""
    f = wire.fields
    fields = {f["token"]: token.reveal(), f["view_mode"]: str(view_mode), f["redirect_id"]: str(redirect_id)}
    if css_url and not wire.css_in_authenticate:
        fields[f["css_url"]] = css_url
    if return_url:
        fields[f["return_url"]] = return_url
    if return_site_name:
        fields[f["return_site_name"]] = return_site_name
    return CloudSsoPage(url=wire.url(api_base, wire.sso_page), fields=fields)
