"""Signed timed tokens: the age is judged by the injected clock, not the OS clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bridge.delegation.tokens import TimedTokens, TokenExpired, TokenInvalid

NOW = datetime(2030, 1, 1, tzinfo=UTC)  # far from the OS clock on purpose


def test_a_token_loads_within_its_max_age_even_far_from_the_os_clock():
    tokens = TimedTokens(["s1"], salt="t")
    assert tokens.load(tokens.dump({"a": 1}, now=NOW), max_age=60, now=NOW + timedelta(seconds=60)) == {"a": 1}


def test_a_token_past_its_max_age_is_expired():
    tokens = TimedTokens(["s1"], salt="t")
    with pytest.raises(TokenExpired):
        tokens.load(tokens.dump({}, now=NOW), max_age=60, now=NOW + timedelta(seconds=61))


def test_a_token_from_the_future_is_invalid():
    tokens = TimedTokens(["s1"], salt="t")
    with pytest.raises(TokenInvalid):
        tokens.load(tokens.dump({}, now=NOW + timedelta(minutes=5)), max_age=60, now=NOW)


def test_a_token_of_another_salt_is_invalid():
    token = TimedTokens(["s1"], salt="a").dump({}, now=NOW)
    with pytest.raises(TokenInvalid):
        TimedTokens(["s1"], salt="b").load(token, max_age=60, now=NOW)


def test_old_secrets_verify_and_the_newest_signs():
    old = TimedTokens(["s1"], salt="t").dump({"v": "old"}, now=NOW)
    rotated = TimedTokens(["s1", "s2"], salt="t")
    assert rotated.load(old, max_age=60, now=NOW) == {"v": "old"}
    with pytest.raises(TokenInvalid):
        TimedTokens(["s1"], salt="t").load(rotated.dump({}, now=NOW), max_age=60, now=NOW)
