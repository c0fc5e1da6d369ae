"""The identity provider: receives AuthnRequests, decides where a Response may go, issues it.

This is the one place where the SAML core (bridge.saml), trust (the SP
registry), keys (the key ring), durable state (replay cache, audit) and
time meet. It knows nothing about HTTP: the web layer hands it decoded
parameters and turns its results and errors into pages.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from lxml import etree

from bridge import audit
from bridge.clock import Clock, IdFactory, new_id, utcnow
from bridge.config import Settings
from bridge.delegation.launches import PendingRequest
from bridge.endpoints import METADATA_PATH, SLO_PATH, SSO_PATH, IdpIdentity, deployment_identity
from bridge.errors import ReplayError, SamlError, SignatureError
from bridge.identity import Identity
from bridge.keys.ring import KeyRing
from bridge.saml import assertions, bindings
from bridge.saml.authn_request import AuthnRequest, check_freshness, parse_authn_request
from bridge.saml.idp_metadata import IdpEndpoints, build_idp_metadata
from bridge.saml.logout import LogoutRequest, build_logout_response, parse_logout_request
from bridge.saml.signing import RSA_SHA256, sign_redirect, verify_enveloped, verify_redirect
from bridge.saml.sp_metadata import Endpoint, ServiceProvider
from bridge.store.base import AuditEvent, OnceItem, Store
from bridge.store.batch_writer import BatchWriter
from bridge.trust.service_providers import ServiceProviderRegistry, choose_acs

log = logging.getLogger(__name__)
REPLAYED = "this sign-in request was already used; start the sign-in again from the portal"
M = TypeVar("M", AuthnRequest, LogoutRequest)

__all__ = ["METADATA_PATH", "SLO_PATH", "SSO_PATH", "Answer", "IdentityProvider", "IdpIdentity", "Incoming", "Outgoing"]


@dataclass(frozen=True, slots=True)
class SingleUse:
    """The replay-cache mark a message takes when it is answered (Store.use_once)."""

    namespace: str
    key: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class Incoming:
    """A verified AuthnRequest and the ACS its Response will go to.

    Not yet marked used: whatever answers it (a Response, a NoPassive status, parking it for the
    partner login) takes ``mark``, and a replay fails there. A Response takes the mark in the same
    transaction as its audit row, so a login costs one commit, not two.
    """

    request: AuthnRequest
    sp: ServiceProvider
    acs: Endpoint
    relay_state: str | None
    binding: str
    mark: SingleUse
    identity: IdpIdentity  # the endpoints it arrived at: the Response speaks as this identity


@dataclass(frozen=True, slots=True)
class IncomingLogout:
    request: LogoutRequest
    sp: ServiceProvider
    relay_state: str | None
    binding: str
    location: str  # the SP's SingleLogoutService from its metadata
    identity: IdpIdentity


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A signed Response ready for the HTTP-POST binding."""

    acs_url: str
    message: bytes
    relay_state: str | None
    assertion_id: str | None = None


@dataclass(frozen=True, slots=True)
class Answer:
    """A signed Response and what must be on disk before it leaves: its audit row and its request's replay mark."""

    outgoing: Outgoing
    event: AuditEvent | None
    mark: SingleUse | None


@dataclass(frozen=True, slots=True)
class MetadataDocument:
    body: bytes
    etag: str
    cache_seconds: int
    kids: tuple[str, ...]


class IdentityProvider:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        registry: ServiceProviderRegistry,
        keyring: KeyRing,
        *,
        clock: Clock = utcnow,
        new_id: IdFactory = new_id,
    ) -> None:
        self.settings = settings
        self.store = store
        self.registry = registry
        self.keyring = keyring
        self.clock = clock
        self.new_id = new_id
        self.deployment = deployment_identity(settings)
        self._metadata: dict[IdpIdentity, tuple[object, MetadataDocument]] = {}

    # --- metadata -------------------------------------------------------------------------
    def metadata(self, identity: IdpIdentity | None = None) -> MetadataDocument:
        """Built once per identity and key-set change (and per day, to keep validUntil ahead), never per request."""
        identity = identity or self.deployment
        keys = self.keyring.view(identity.ring)
        now = self.clock()
        cache_key = (keys.version, now.date())
        cached = self._metadata.get(identity)
        if cached is not None and cached[0] == cache_key:
            return cached[1]
        idp = self.settings.idp
        cache_seconds = idp.metadata_cache_duration_rotating if keys.rotating else idp.metadata_cache_duration
        body = build_idp_metadata(
            IdpEndpoints(entity_id=identity.entity_id, sso_url=identity.sso_url, slo_url=identity.slo_url),
            keys.published,
            now=now,
            valid_for=idp.metadata_valid_for,
            cache_duration=cache_seconds,
            organization=idp.organization,
            sign_with=keys.active if idp.sign_metadata else None,
            want_authn_requests_signed=idp.want_authn_requests_signed,
            allow_sha1=idp.allow_sha1,
        )
        etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        document = MetadataDocument(
            body=body, etag=etag, cache_seconds=cache_seconds, kids=tuple(c.kid for c in keys.published)
        )
        if len(self._metadata) > 10_000:  # identities come from billers (admin-made); bound it anyway
            self._metadata.clear()
        self._metadata[identity] = (cache_key, document)
        return document

    # --- receiving ------------------------------------------------------------------------
    def _must_be_signed(self, sp: ServiceProvider) -> bool:
        """The SP's metadata says it signs (AuthnRequestsSigned), or this IdP wants every request signed."""
        return sp.authn_requests_signed or self.settings.idp.want_authn_requests_signed

    def _unsigned_refusal(self, sp: ServiceProvider) -> str:
        if sp.authn_requests_signed:
            return "this service provider's requests must be signed; the request is not"
        return "this bridge accepts only signed requests (idp.want_authn_requests_signed); the request is not signed"

    def _verified_redirect(
        self, raw_query: str, parse: Callable[[bytes], tuple[etree._Element, M]]
    ) -> tuple[M, ServiceProvider, str | None]:
        """Decode, parse and verify a Redirect-binding message (SAML Bindings 3.4.4.1)."""
        limits = self.settings.limits
        query = bindings.parse_redirect_query(raw_query)
        xml = bindings.decode_redirect(
            query.saml_request, max_message=limits.max_saml_message, max_inflated=limits.max_inflated
        )
        _root, message = parse(xml)
        sp = self.registry.get(message.issuer)
        if message.signed:
            raise SignatureError("the HTTP-Redirect binding carries its signature in the query, not in the XML")
        if query.signature is not None or self._must_be_signed(sp):
            if query.signature is None:
                raise SignatureError(self._unsigned_refusal(sp))
            verify_redirect(
                query.signed_octets, query.sig_alg, query.signature, sp.signing_certs,
                allow_sha1=self.settings.idp.allow_sha1,
            )
        return message, sp, bindings.check_relay_state(query.relay_state, max_bytes=limits.max_relay_state)

    def _verified_post(
        self, form: Mapping[str, str], parse: Callable[[bytes], tuple[etree._Element, M]]
    ) -> tuple[M, ServiceProvider, str | None]:
        """Decode, parse and verify a POST-binding message: the verified root is the message processed."""
        value = form.get("SAMLRequest")
        if not value:
            raise SamlError("no SAMLRequest field: this URL receives SAML requests")
        limits = self.settings.limits
        xml = bindings.decode_post(value, max_message=limits.max_saml_message, max_inflated=limits.max_inflated)
        root, message = parse(xml)
        sp = self.registry.get(message.issuer)
        if message.signed or self._must_be_signed(sp):
            if not message.signed:
                raise SignatureError(self._unsigned_refusal(sp))
            verify_enveloped(root, sp.signing_certs, allow_sha1=self.settings.idp.allow_sha1)
        relay_state = bindings.check_relay_state(form.get("RelayState"), max_bytes=limits.max_relay_state)
        return message, sp, relay_state

    def receive_redirect(self, raw_query: str, identity: IdpIdentity | None = None) -> Incoming:
        request, sp, relay_state = self._verified_redirect(raw_query, parse_authn_request)
        return self._accept(request, sp, relay_state, bindings.REDIRECT, identity or self.deployment)

    def receive_post(self, form: Mapping[str, str], identity: IdpIdentity | None = None) -> Incoming:
        request, sp, relay_state = self._verified_post(form, parse_authn_request)
        return self._accept(request, sp, relay_state, bindings.POST, identity or self.deployment)

    def receive_logout(self, *, raw_query: str | None = None, form: Mapping[str, str] | None = None,
                       identity: IdpIdentity | None = None) -> IncomingLogout:
        """An SP's LogoutRequest (SAML Core 3.7.1), verified like an AuthnRequest and replay-checked."""
        identity = identity or self.deployment
        if raw_query is not None:
            request, sp, relay_state = self._verified_redirect(raw_query, parse_logout_request)
        else:
            request, sp, relay_state = self._verified_post(form or {}, parse_logout_request)
        if request.destination is not None and request.destination != identity.slo_url:
            raise SamlError("the request's Destination is not this bridge's logout URL")
        now = self.clock()
        self._check_fresh(request.issue_instant, now)
        if not self.store.use_once("logout-request", f"{sp.entity_id}|{request.id}", self._replay_horizon(now)):
            raise ReplayError("this logout request was already used")
        # Answer over POST where the SP offers it, else over Redirect (python3-saml SPs take only Redirect).
        endpoints = sorted(sp.slo, key=lambda e: e.binding != bindings.POST)
        if not endpoints:
            raise SamlError("the service provider's metadata lists no SingleLogoutService")
        endpoint = endpoints[0]
        return IncomingLogout(request=request, sp=sp, relay_state=relay_state, binding=endpoint.binding,
                              location=endpoint.response_location or endpoint.location, identity=identity)

    def logout_response(self, incoming: IncomingLogout) -> Outgoing | str:
        """A signed LogoutResponse: an Outgoing for the POST binding, or the Redirect-binding URL."""
        key = self.keyring.signing_key(incoming.identity.ring)
        post = incoming.binding == bindings.POST
        body = build_logout_response(
            issuer=incoming.identity.entity_id, destination=incoming.location, in_response_to=incoming.request.id,
            response_id=self.new_id(), now=self.clock(), key=key if post else None,
        )
        if post:
            return Outgoing(acs_url=incoming.location, message=body, relay_state=incoming.relay_state)
        return bindings.redirect_location(
            incoming.location, "SAMLResponse", body, incoming.relay_state, sig_alg=RSA_SHA256,
            sign=lambda octets: sign_redirect(octets, key),
        )

    def _accept(
        self, request: AuthnRequest, sp: ServiceProvider, relay_state: str | None, binding: str,
        identity: IdpIdentity,
    ) -> Incoming:
        # A request for one biller's endpoints never counts at another's (or at the shared ones).
        if request.destination is not None and request.destination != identity.sso_url:
            raise SamlError("the request's Destination is not this bridge's SSO URL")
        now = self.clock()
        self._check_fresh(request.issue_instant, now)
        acs = choose_acs(sp, url=request.acs_url, index=request.acs_index, binding=request.protocol_binding)
        mark = SingleUse("authn-request", f"{sp.entity_id}|{request.id}", self._replay_horizon(now))
        return Incoming(request=request, sp=sp, acs=acs, relay_state=relay_state, binding=binding, mark=mark,
                        identity=identity)

    def _check_fresh(self, issue_instant: datetime, now: datetime) -> None:
        idp = self.settings.idp
        check_freshness(issue_instant, now=now, max_age=idp.request_max_age, skew=idp.clock_skew)

    def _replay_horizon(self, now: datetime) -> datetime:
        """How long a request's replay mark is kept: past the last moment _check_fresh could accept it again."""
        idp = self.settings.idp
        return now + timedelta(seconds=idp.request_max_age + 2 * idp.clock_skew)

    def use(self, incoming: Incoming) -> None:
        """Mark the request answered without a Response (parked, or NoPassive); ReplayError when it already was."""
        self._commit(None, incoming.mark)

    # --- responding -----------------------------------------------------------------------
    def _spec(self, identity: IdpIdentity, sp: ServiceProvider, acs_url: str, in_response_to: str | None,
              session_id: str, authn_instant: datetime) -> assertions.ResponseSpec:
        idp = self.settings.idp
        return assertions.ResponseSpec(
            issuer=identity.entity_id,
            audience=sp.entity_id,
            destination=acs_url,
            in_response_to=in_response_to,
            response_id=self.new_id(),
            assertion_id=self.new_id(),
            session_index=session_id,
            now=self.clock(),
            authn_instant=authn_instant,
            lifetime=idp.assertion_lifetime,
            skew=idp.clock_skew,
        )

    def _subject(self, sp: ServiceProvider, identity: Identity, requested_format: str | None) -> assertions.Subject:
        options = self.settings.sp_settings(sp.entity_id)
        name_format = options.nameid_format or requested_format or assertions.NAMEID_EMAIL
        if name_format == assertions.NAMEID_UNSPECIFIED and not options.nameid_format:
            name_format = assertions.NAMEID_EMAIL
        if name_format not in assertions.SUPPORTED_NAMEID_FORMATS:
            raise _NameIdPolicyError(name_format)
        names = options.attribute_names
        attributes = {names.get(claim, claim): value for claim, value in identity.claims().items()}
        return assertions.Subject(name_id=identity.email, name_id_format=name_format, attributes=attributes)

    def _issue(self, idp: IdpIdentity, sp: ServiceProvider, acs_url: str, identity: Identity,
               **options: Any) -> Outgoing:
        answer = self._answer(idp, sp, acs_url, identity, **options)
        self.commit(answer)
        return answer.outgoing

    def _answer(
        self,
        idp: IdpIdentity,
        sp: ServiceProvider,
        acs_url: str,
        identity: Identity,
        *,
        in_response_to: str | None,
        requested_format: str | None,
        relay_state: str | None,
        session_id: str,
        authn_instant: datetime,
        flow: str,
        client_ip: str | None,
        mark: SingleUse | None,
    ) -> Answer:
        """The signed message, not yet committed: :meth:`commit` makes it durable before it may leave."""
        options = self.settings.sp_settings(sp.entity_id)
        spec = self._spec(idp, sp, acs_url, in_response_to, session_id, authn_instant)
        key = self.keyring.signing_key(idp.ring)
        try:
            subject = self._subject(sp, identity, requested_format)
        except _NameIdPolicyError:
            message = assertions.build_error_response(
                spec, key, code=assertions.STATUS_REQUESTER, second=assertions.STATUS_INVALID_NAMEID_POLICY,
            )
            return Answer(
                Outgoing(acs_url=acs_url, message=message, relay_state=relay_state),
                self._event(audit.LOGIN_REFUSED, "refused", identity, sp, flow, client_ip, "unsupported NameID format"),
                mark,
            )
        encrypt_for = sp.encryption_certs[0] if options.encrypt_assertion and sp.encryption_certs else None
        sign_response = bool(options.sign_response)
        message = assertions.build_response(
            spec, subject, key, sign_response=sign_response, encrypt_for=encrypt_for
        )
        return Answer(
            Outgoing(acs_url=acs_url, message=message, relay_state=relay_state, assertion_id=spec.assertion_id),
            self._event(audit.LOGIN_ISSUED, "ok", identity, sp, flow, client_ip, None),
            mark,
        )

    def _event(self, event: str, outcome: str, identity: Identity, sp: ServiceProvider, flow: str,
               client_ip: str | None, detail: str | None) -> AuditEvent:
        return audit.login_event(
            event, at=self.clock(), outcome=outcome, identity=identity, sp=sp.entity_id, flow=flow,
            client_ip=client_ip, detail=detail,
        )

    def _commit(self, event: AuditEvent | None, mark: SingleUse | None) -> None:
        """Fail closed: an answer leaves only once its audit row and its request's replay mark are committed.

        Both go in one transaction. A concurrent duplicate of the same request loses the mark,
        and its already-signed Response is dropped here.
        """
        if mark is None:
            if event is not None:
                audit.record(self.store, event)
        elif not audit.record_once(self.store, mark.namespace, mark.key, mark.expires_at, event):
            raise ReplayError(REPLAYED)

    async def commit_batched(self, answer: Answer, writer: BatchWriter) -> None:
        """:meth:`commit` for a caller on the event loop: the writer thread commits it with other logins'."""
        mark = answer.mark
        if mark is None:
            raise ValueError("only an answer to a request (which has a replay mark) is committed in batches")
        if not await writer.use_once(OnceItem(mark.namespace, mark.key, mark.expires_at, answer.event)):
            raise ReplayError(REPLAYED)
        if answer.event is not None:
            audit.log_event(answer.event)

    def commit(self, answer: Answer) -> None:
        """Blocking (one durable commit): run it off the event loop."""
        self._commit(answer.event, answer.mark)

    def respond(
        self, incoming: Incoming, identity: Identity, *, session_id: str, authn_instant: datetime,
        client_ip: str | None = None, flow: str = "sp-initiated",
    ) -> Outgoing:
        answer = self.answer(incoming, identity, session_id=session_id, authn_instant=authn_instant,
                             client_ip=client_ip, flow=flow)
        self.commit(answer)
        return answer.outgoing

    def answer(
        self, incoming: Incoming, identity: Identity, *, session_id: str, authn_instant: datetime,
        client_ip: str | None = None, flow: str = "sp-initiated",
    ) -> Answer:
        """:meth:`respond` without its commit, for a caller on the event loop: all CPU, no I/O.

        The caller runs :meth:`commit` (off the loop) and sends the page only once it returned.
        """
        return self._answer(
            incoming.identity, incoming.sp, incoming.acs.location, identity,
            in_response_to=incoming.request.id, requested_format=incoming.request.nameid_format,
            relay_state=incoming.relay_state, session_id=session_id, authn_instant=authn_instant,
            flow=flow, client_ip=client_ip, mark=incoming.mark,
        )

    def unsolicited(
        self, sp_entity_id: str, identity: Identity, *, relay_state: str | None, session_id: str,
        authn_instant: datetime, client_ip: str | None = None, idp: IdpIdentity | None = None,
    ) -> Outgoing:
        """IdP-initiated SSO (SAML Profiles 4.1.5): to the SP's default ACS, no InResponseTo; as ``idp``."""
        sp = self.registry.get(sp_entity_id)
        return self._issue(
            idp or self.deployment, sp, sp.default_acs().location, identity, in_response_to=None,
            requested_format=None,
            relay_state=bindings.check_relay_state(relay_state, max_bytes=self.settings.limits.max_relay_state_sent),
            session_id=session_id,
            authn_instant=authn_instant, flow="idp-initiated", client_ip=client_ip, mark=None,
        )

    def resume(
        self, pending: PendingRequest, identity: Identity, *, session_id: str, authn_instant: datetime,
        client_ip: str | None = None, idp: IdpIdentity | None = None,
    ) -> Outgoing:
        """Answer an AuthnRequest that waited for the partner login; its ACS is checked against metadata again.

        The request took its replay mark when it was parked; taking the parked copy is single use too.
        """
        sp = self.registry.get(pending.sp)
        acs = choose_acs(sp, url=pending.acs_url, index=None, binding=None)
        return self._issue(
            idp or self.deployment, sp, acs.location, identity, in_response_to=pending.request_id,
            requested_format=pending.nameid_format, relay_state=pending.relay_state,
            session_id=session_id, authn_instant=authn_instant, flow="sp-initiated", client_ip=client_ip, mark=None,
        )

    def status_response(self, incoming: Incoming, *, second: str) -> Outgoing:
        """A signed non-success Response to the SP (e.g. NoPassive when IsPassive and no session); its
        StatusMessage is our fixed text for ``second``, never anything from the request."""
        spec = self._spec(incoming.identity, incoming.sp, incoming.acs.location, incoming.request.id, self.new_id(),
                          self.clock())
        body = assertions.build_error_response(
            spec, self.keyring.signing_key(incoming.identity.ring), code=assertions.STATUS_RESPONDER, second=second
        )
        self.use(incoming)
        return Outgoing(acs_url=incoming.acs.location, message=body, relay_state=incoming.relay_state)


class _NameIdPolicyError(Exception):
    pass
