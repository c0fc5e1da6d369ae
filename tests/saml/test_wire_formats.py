"""What we write and read on the wire agrees with the standard library's own spelling, for any value."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from urllib.parse import quote, unquote_plus

from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.saml.assertions import instant
from bridge.saml.bindings import _unquote_plus


def _decoded(decode, value: str) -> str:  # type: ignore[no-untyped-def]
    try:
        return str(decode(value))
    except UnicodeDecodeError:
        return "refused"


@settings(max_examples=500)
@given(st.text())
def test_query_values_decode_as_unquote_plus_decodes_them(text: str) -> None:
    for value in (text, quote(text, safe=""), quote(text, safe="").replace("%20", "+")):
        assert _decoded(_unquote_plus, value) == _decoded(lambda v: unquote_plus(v, errors="strict"), value)


@settings(max_examples=500)
@given(st.text(alphabet="%0123456789abcdefABCDEF+xé"))
def test_broken_escapes_decode_or_fail_as_unquote_plus_does(value: str) -> None:
    assert _decoded(_unquote_plus, value) == _decoded(lambda v: unquote_plus(v, errors="strict"), value)


FIVE_HOURS_WEST = st.just(timezone(timedelta(hours=-5)))


@given(st.datetimes(min_value=datetime(1000, 1, 1), max_value=datetime(9999, 12, 30), timezones=FIVE_HOURS_WEST))
def test_instants_are_utc_with_a_z_and_whole_seconds(value: datetime) -> None:
    assert instant(value) == value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
