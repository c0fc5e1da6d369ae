"""The bridge's exceptions: one small tree, each carrying what a user can act on.

    BridgeError                 (400 bad_request)
    ├── ConfigError             configuration, key or metadata unusable (CLI exit 1)
    ├── SamlError               a SAML message we refuse (400)
    │   ├── UnknownServiceProvider   (400 unknown_sp)
    │   ├── SignatureError           (400 bad_signature)
    │   └── ReplayError              (400 replay)
    ├── ValidationError         a request field is wrong (400, names the field)
    ├── AuthenticationError     missing or wrong credentials (401)
    ├── PermissionDenied        credentials valid, not for this resource (403)
    ├── NotFound                (404)
    │   └── NoSession                no bridge session for IC's request (same code; its own page title)
    ├── PayloadTooLarge         (413)
    ├── RateLimited             (429, carries retry_after)
    ├── TicketError             a launch ticket we refuse (400)
    │   └── TicketReplayed           already used (same answer, counted apart)
    ├── EmbeddingRefused        a framed launch that cannot succeed there, refused unspent (403)
    ├── KeyLifecycleError       a key transition we refuse (409)
    ├── StoreConflict           a write collided with an existing record (409 conflict)
    ├── ICError                 Invoice Cloud did not do what was asked (502; names the operation)
    │   ├── ICUnavailable            unreachable, timed out, or failing (504 ic_unavailable)
    │   ├── ICCredentialsRefused     the biller's IC credentials were refused (502)
    │   ├── ICRejected               IC answered with its own error message (502 ic_rejected)
    │   └── ICUnexpectedAnswer       an answer we cannot read (502)
    └── StoreUnavailable        durable state cannot answer: fail closed (503)

``detail`` is safe to show to the caller; anything sensitive goes to the log only.
"""

from __future__ import annotations


class BridgeError(Exception):
    code = "bad_request"
    status = 400

    def __init__(self, detail: str, *, code: str | None = None, status: int | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status


class ConfigError(BridgeError):
    code = "config_error"
    status = 500


class SamlError(BridgeError):
    code = "invalid_saml_request"


class UnknownServiceProvider(SamlError):
    code = "unknown_sp"


class SignatureError(SamlError):
    code = "bad_signature"


class ReplayError(SamlError):
    code = "replay"


class ValidationError(BridgeError):
    code = "invalid_field"

    def __init__(self, field: str, detail: str) -> None:
        super().__init__(f"{field}: {detail}")
        self.field = field


class AuthenticationError(BridgeError):
    code = "unauthorized"
    status = 401


class PermissionDenied(BridgeError):
    code = "forbidden"
    status = 403


class NotFound(BridgeError):
    code = "not_found"
    status = 404


class NoSession(NotFound):
    """IC's AuthnRequest arrived with no bridge session and nowhere to park it."""


class PayloadTooLarge(BridgeError):
    code = "payload_too_large"
    status = 413


class RateLimited(BridgeError):
    code = "rate_limited"
    status = 429

    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class TicketError(BridgeError):
    code = "invalid_ticket"


class TicketReplayed(TicketError):
    """The ticket was valid but already used (same code and status: no oracle for the caller)."""


class EmbeddingRefused(BridgeError):
    """A launch opened in a frame where it cannot succeed (origin not allowed, cookies blocked).

    Raised before the ticket is consumed; ``advice`` tells the portal's team what to configure."""

    code = "frame_not_allowed"
    status = 403

    def __init__(self, detail: str, *, code: str, advice: str) -> None:
        super().__init__(detail, code=code)
        self.advice = advice


class KeyLifecycleError(BridgeError):
    code = "key_lifecycle"
    status = 409


class StoreConflict(BridgeError):
    """A write collided with an existing record (duplicate key, GUID taken, unknown biller)."""

    code = "conflict"
    status = 409


class StoreUnavailable(BridgeError):
    code = "store_unavailable"
    status = 503


class ICError(BridgeError):
    """``operation`` is the IC call that failed, ``outcome`` its metrics/audit label, ``ic_message`` IC's words."""

    code = "ic_error"
    status = 502
    outcome = "error"

    def __init__(
        self, detail: str, *, operation: str | None = None, outcome: str | None = None, ic_message: str | None = None
    ) -> None:
        super().__init__(detail)
        self.operation = operation
        self.ic_message = ic_message
        if outcome is not None:
            self.outcome = outcome


class ICUnavailable(ICError):
    code = "ic_unavailable"
    status = 504
    outcome = "unavailable"


class ICCredentialsRefused(ICError):
    code = "ic_credentials_refused"
    outcome = "refused"


class ICRejected(ICError):
    code = "ic_rejected"
    outcome = "rejected"


class ICUnexpectedAnswer(ICError):
    code = "ic_unexpected_answer"
    outcome = "bad_answer"
