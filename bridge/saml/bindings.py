"""SAML bindings (SAML Bindings 2.0 §3.4 HTTP-Redirect, §3.5 HTTP-POST): decoding requests, encoding responses.

Decoding is written here rather than taken from python3-saml because its
``decode_base64_and_inflate`` has no output cap (a 272 KB request inflated to
200 MB), falls back to un-deflated input, and its base64 accepts junk.
"""

from __future__ import annotations

import base64
import binascii
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote, unquote_plus, unquote_to_bytes, urlencode

from bridge.errors import PayloadTooLarge, SamlError

REDIRECT = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
POST = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
# SAML Bindings 3.4.3 / 3.5.3: a sender's RelayState MUST NOT exceed 80 bytes. That binds the sender: what an
# SP sends is accepted up to limits.max_relay_state (default 1 KiB, SPs send return URLs) and echoed unchanged.
DEFAULT_MAX_RELAY_STATE = 1024


def b64decode_strict(value: str, *, max_size: int, what: str) -> bytes:
    if len(value) > max_size * 4 // 3 + 8:
        raise PayloadTooLarge(f"the {what} is larger than {max_size} bytes")
    compact = value.replace("\r", "").replace("\n", "").replace(" ", "+")
    try:
        return base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        raise SamlError(f"the {what} is not valid base64") from None


def inflate_bounded(data: bytes, *, max_size: int, what: str, binding: str = "HTTP-Redirect") -> bytes:
    """Raw DEFLATE (RFC 1951) with an output cap; never falls back to the input."""
    inflater = zlib.decompressobj(-15)
    try:
        out = inflater.decompress(data, max_size + 1)
    except zlib.error:
        if binding == "HTTP-POST":
            raise SamlError(f"the {what} is neither XML nor DEFLATE-compressed XML") from None
        raise SamlError(f"the {what} is not DEFLATE-compressed as the HTTP-Redirect binding requires") from None
    if len(out) > max_size or inflater.unconsumed_tail:
        raise PayloadTooLarge(f"the {what} inflates to more than {max_size} bytes")
    if not inflater.eof:
        raise SamlError(f"the {what} is a truncated DEFLATE stream")
    return out


def decode_redirect(value: str, *, max_message: int, max_inflated: int) -> bytes:
    raw = b64decode_strict(value, max_size=max_message, what="SAMLRequest")
    return inflate_bounded(raw, max_size=max_inflated, what="SAMLRequest")


def decode_post(value: str, *, max_message: int, max_inflated: int) -> bytes:
    """The POST binding carries the XML base64-encoded, not deflated (Bindings 3.5.4). Some SP libraries
    deflate it anyway (node-saml by default): a message that does not start as XML is inflated, with the
    same bounds as the Redirect binding."""
    raw = b64decode_strict(value, max_size=max_message, what="SAMLRequest")
    if raw.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<"):
        return raw
    return inflate_bounded(raw, max_size=max_inflated, what="SAMLRequest", binding="HTTP-POST")


@dataclass(frozen=True, slots=True)
class RedirectQuery:
    """The parameters of a Redirect-binding request, plus the exact octets its signature covers."""

    saml_request: str
    relay_state: str | None
    sig_alg: str | None
    signature: str | None
    signed_octets: bytes


def parse_redirect_query(raw_query: str) -> RedirectQuery:
    """Split the raw query string, keeping each parameter's original URL-encoding for the signature.

    Re-encoding decoded values would break signatures from SPs that encode
    differently (SAML Bindings 3.4.4.1 signs the octets as sent).
    """
    raw: dict[str, str] = {}
    for part in raw_query.split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        if name in raw:
            raise SamlError(f"the query string repeats the {name} parameter")
        raw[name] = value
    if "SAMLRequest" not in raw:
        raise SamlError("no SAMLRequest parameter: this URL receives SAML AuthnRequests")
    signed = "&".join(f"{name}={raw[name]}" for name in ("SAMLRequest", "RelayState", "SigAlg") if name in raw)
    try:
        # Strict: a RelayState whose octets are not UTF-8 could not be echoed byte for byte.
        decoded = {name: _unquote_plus(value) for name, value in raw.items()}
    except UnicodeDecodeError:
        raise SamlError("a query parameter is not valid percent-encoded UTF-8") from None
    return RedirectQuery(
        saml_request=decoded["SAMLRequest"],
        relay_state=decoded.get("RelayState"),
        sig_alg=decoded.get("SigAlg"),
        signature=decoded.get("Signature"),
        signed_octets=signed.encode("ascii", "replace"),
    )


def _unquote_plus(value: str) -> str:
    """``unquote_plus(value, errors="strict")``; for an all-ASCII value (every SAML parameter SPs send) the
    step it takes without its run-splitting regex, a third of its cost on the four parameters of a login."""
    if not value.isascii():
        return unquote_plus(value, errors="strict")
    return unquote_to_bytes(value.replace("+", " ")).decode("utf-8", "strict")


def check_relay_state(relay_state: str | None, *, max_bytes: int = DEFAULT_MAX_RELAY_STATE) -> str | None:
    """The RelayState to echo, unchanged; SamlError when it is too long or holds control characters."""
    if relay_state is not None and len(relay_state.encode()) > max_bytes:
        raise SamlError(f"RelayState is longer than {max_bytes} bytes")
    # Control characters have no place in a landing-page hint and browsers rewrite them in form values
    # (NUL to U+FFFD, CR/LF normalised), so the SP would receive something other than what was signed or sent.
    if relay_state is not None and any(ord(c) < 0x20 or ord(c) == 0x7F for c in relay_state):
        raise SamlError("RelayState contains control characters")
    return relay_state


def deflate_base64(message: bytes) -> str:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    return base64.b64encode(compressor.compress(message) + compressor.flush()).decode()


def redirect_location(
    location: str, field: str, message: bytes, relay_state: str | None, *, sig_alg: str,
    sign: Callable[[bytes], str],
) -> str:
    """An HTTP-Redirect binding URL carrying ``message``, signed over the query octets (Bindings 3.4.4.1)."""
    params = [(field, deflate_base64(message))]
    if relay_state is not None:
        params.append(("RelayState", relay_state))
    params.append(("SigAlg", sig_alg))
    query = urlencode(params, quote_via=quote)
    signature = quote(sign(query.encode()), safe="")
    separator = "&" if "?" in location else "?"
    return f"{location}{separator}{query}&Signature={signature}"


def post_fields(field: str, message: bytes, relay_state: str | None) -> list[tuple[str, str]]:
    """The form fields of the HTTP-POST binding (Bindings 3.5.4); the page around them is the web layer's."""
    fields = [(field, base64.b64encode(message).decode())]
    if relay_state is not None:
        fields.append(("RelayState", relay_state))
    return fields
