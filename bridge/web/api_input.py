"""The partner API's one strict JSON input layer: a pydantic model per body, one function to read it.

Every API body is read by :func:`read_json` (or :func:`parse_json` for bytes already in hand)
into a subclass of :class:`ApiModel`. The pattern for a new endpoint::

    class PaymentBody(ApiModel):
        biller: Name
        customers: list[Customer] = Field(min_length=1, max_length=100)
        allow_cc: bool = True          # booleans are JSON true/false, nothing else
        view_mode: Integer = 0         # an int, or its decimal string ("1"); never 1.0, never true

    body = await read_json(request, PaymentBody)

What the layer guarantees, whatever the model:

- the body is UTF-8 JSON under ``Content-Type: application/json``, an object at the top;
- a key repeated in any object is refused (parsers disagree on which copy wins, so a
  signature or a check could see one value and the code the other); ``NaN``/``Infinity``
  are refused; a fraction is read as :class:`~decimal.Decimal`, never a float (amounts);
- types are strict (pydantic strict mode): a string is a string, a boolean is ``true`` or
  ``false``, an :data:`Integer` is a JSON integer or its decimal string (``3.9`` and ``true``
  are refused, not truncated); a date is an :data:`IsoDate` string; unknown fields are refused;
- every string has a length cap (:data:`MAX_TEXT` unless the field says less); :func:`Text` and
  :data:`Name` fields also refuse control characters (use them for free text); lists carry their
  own ``max_length``;
- every failure is a :class:`bridge.errors.ValidationError` (400 ``invalid_field``, the detail
  starts with the field's path, e.g. ``customers[0].invoices[2].due_date: …``) or a
  :class:`bridge.errors.BridgeError` with code ``invalid_json``; bridge.web.errors turns
  both into the API's JSON ``{"error", "detail"}``.
"""

from __future__ import annotations

import json
import re
from datetime import date
from decimal import Decimal
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, PlainValidator, StringConstraints, WithJsonSchema
from pydantic import ValidationError as PydanticValidationError
from pydantic_core import ErrorDetails
from starlette.requests import Request

from bridge.errors import BridgeError, ValidationError

__all__ = [
    "MAX_TEXT",
    "ApiModel",
    "Integer",
    "IntegerOrName",
    "IsoDate",
    "Name",
    "Text",
    "json_bytes",
    "parse_json",
    "parse_object",
    "read_json",
]

MAX_TEXT = 1024  # characters, for any string field that does not set its own limit
MAX_INTEGER = 10**15  # an API integer's magnitude: IDs and counts, never money in cents beyond this
_DECIMAL = re.compile(r"-?[0-9]{1,16}\Z")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}\Z")
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9._-]{0,62}\Z")

M = TypeVar("M", bound="ApiModel")


class ApiModel(BaseModel):
    """Base of every API body: strict types, unknown fields refused, immutable once read."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, str_max_length=MAX_TEXT)


def _no_control_characters(value: str) -> str:
    if _CONTROL.search(value):
        raise ValueError("must not contain control characters")
    return value


def Text(max_length: int = MAX_TEXT, *, min_length: int = 0) -> Any:
    """A string of at most ``max_length`` characters, with no control characters."""
    return Annotated[str, StringConstraints(min_length=min_length, max_length=max_length),
                     AfterValidator(_no_control_characters)]


def _integer(value: object) -> int:
    # bool is an int subclass in Python: True must not become 1.
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and _DECIMAL.match(value):
        number = int(value)
    else:
        raise ValueError("must be an integer (a JSON number without a fraction, or its decimal string)")
    if abs(number) > MAX_INTEGER:
        raise ValueError(f"must be at most {MAX_INTEGER} in magnitude")
    return number


def _integer_or_name(value: object) -> int | str:
    if isinstance(value, str) and not _DECIMAL.match(value):
        if not _NAME.match(value):
            raise ValueError("must be an integer or a name (a letter, then letters, digits, '.', '_' or '-')")
        return value
    try:
        return _integer(value)
    except ValueError:
        raise ValueError("must be an integer or a name") from None


Integer = Annotated[int, PlainValidator(_integer), WithJsonSchema({"type": ["integer", "string"],
                                                                      "pattern": _DECIMAL.pattern})]
"""A JSON integer, or its decimal string; never a float, never a boolean."""

IntegerOrName = Annotated[int | str, PlainValidator(_integer_or_name),
                          WithJsonSchema({"type": ["integer", "string"]})]
"""An integer (as :data:`Integer`) or a short name such as ``"bills"``; the caller resolves names."""

def _iso_date(value: object) -> date:
    if not isinstance(value, str) or not _DATE.match(value):
        raise ValueError("must be a date as YYYY-MM-DD")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError("must be a real date as YYYY-MM-DD") from None


IsoDate = Annotated[date, PlainValidator(_iso_date), WithJsonSchema({"type": "string", "format": "date"})]
"""A JSON string ``YYYY-MM-DD`` (JSON has no date type; strict mode alone would want a date object)."""

Name = Annotated[str, StringConstraints(min_length=1, max_length=63), AfterValidator(_no_control_characters)]
"""A required, non-empty identifier such as a biller name."""


# -- reading ----------------------------------------------------------------------------------------------


async def read_json(request: Request, model: type[M]) -> M:
    """The request's JSON body as ``model``; ValidationError / BridgeError (400) on anything else."""
    return parse_json(await json_bytes(request), model)


async def json_bytes(request: Request) -> bytes:
    """The raw body of a request that says it is JSON; for a route that authenticates before it parses
    (``raw = await json_bytes(request)``, check the key, then ``parse_json(raw, Model)``)."""
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
        raise BridgeError("send the body as JSON with Content-Type: application/json", code="invalid_json")
    return await request.body()


def parse_json(raw: bytes, model: type[M]) -> M:
    """``raw`` (UTF-8 JSON) as ``model``: decoded by the standard parser (duplicate keys, NaN, depth and
    the top-level object checked there; fractions read as :class:`~decimal.Decimal`, so an amount never
    passes through a float), then validated by pydantic in strict mode."""
    document = _decode(raw)
    try:
        return model.model_validate(document, strict=True)
    except PydanticValidationError as exc:
        raise _field_error(exc) from None


def parse_object(data: Any, model: type[M]) -> M:
    """Already-decoded JSON (e.g. a signed ticket's payload) under exactly the same rules as a body."""
    try:
        raw = json.dumps(data, allow_nan=False).encode()
    except (TypeError, ValueError):
        raise BridgeError("the payload is not a JSON object", code="invalid_json") from None
    return parse_json(raw, model)


def _refuse_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise ValidationError(key[:64], "appears more than once in the same JSON object")
        seen[key] = value
    return seen


def _refuse_constant(name: str) -> Any:
    raise BridgeError(f"the body is not valid JSON ({name} is not a JSON number)", code="invalid_json")


def _decode(raw: bytes) -> dict[str, Any]:
    try:
        document = json.loads(raw, object_pairs_hook=_refuse_duplicates, parse_constant=_refuse_constant,
                              parse_float=Decimal)
    except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: "[[[[…" nested past the stack
        raise BridgeError("the body is not valid JSON", code="invalid_json") from None
    if not isinstance(document, dict):
        raise BridgeError("the body must be a JSON object", code="invalid_json")
    return document


# -- errors -----------------------------------------------------------------------------------------------


def field_path(loc: tuple[int | str, ...]) -> str:
    """``("customers", 0, "due_date")`` → ``customers[0].due_date`` (pydantic's own tags left out)."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif not part.startswith(_INTERNAL_TAGS):
            path += f".{part}" if path else part
    return path or "body"


# Steps pydantic inserts in a location for validators and unions (``function-after[...]``, ``list[...]``).
_INTERNAL_TAGS = ("function-", "list[", "nullable[", "constrained-", "union[", "tagged-union[")


_MESSAGES = {
    "missing": "required",
    "extra_forbidden": "is not a known field",
    "string_type": "must be a string",
    "bool_type": "must be true or false",
    "model_type": "must be a JSON object",
    "dict_type": "must be a JSON object",
    "list_type": "must be a JSON array",
}


def _message(error: ErrorDetails) -> str:
    kind = error["type"]
    ctx = error.get("ctx") or {}
    if kind in _MESSAGES:
        return _MESSAGES[kind]
    if kind == "string_too_long":
        return f"at most {ctx.get('max_length')} characters"
    if kind == "string_too_short":
        return "required" if ctx.get("min_length") == 1 else f"at least {ctx.get('min_length')} characters"
    if kind == "too_long":
        return f"at most {ctx.get('max_length')} items"
    if kind == "too_short":
        return f"at least {ctx.get('min_length')} items"
    if kind == "value_error":
        return str(ctx.get("error", error["msg"]))
    return error["msg"][:200]  # pydantic's own words never include the input value


def _field_error(exc: PydanticValidationError) -> BridgeError:
    errors = exc.errors(include_url=False, include_input=False)
    first = errors[0]
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return ValidationError(field_path(tuple(first["loc"])), _message(first) + more)
