"""xs:dateTime values from requests and metadata become aware datetimes, or a clear SAML error."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from bridge.errors import SamlError
from bridge.saml.authn_request import parse_instant
from bridge.saml.sp_metadata import parse_sp_metadata

EXAMPLE = (Path(__file__).parents[2] / "metadata" / "example-invoicecloud-sp.xml").read_text()


def _with_valid_until(value: str) -> bytes:
    entity = 'entityID="https://sso.invoicecloud.com/saml/example-sp"'
    return EXAMPLE.replace(entity, f'{entity} validUntil="{value}"').encode()


def test_metadata_valid_until_without_a_zone_is_read_as_utc():
    sp = parse_sp_metadata(_with_valid_until("2030-01-01T00:00:00"), source="t")[0]
    assert sp.valid_until == datetime(2030, 1, 1, tzinfo=UTC)


def test_issue_instant_without_a_zone_is_refused():
    with pytest.raises(SamlError, match="must be in UTC"):
        parse_instant("2030-01-01T00:00:00")


def test_issue_instant_that_is_not_a_date_is_refused():
    with pytest.raises(SamlError, match="not an xs:dateTime"):
        parse_instant("soon")
