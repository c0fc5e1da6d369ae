"""The payer session cookie's codec: what it accepts, including from its memo of tokens it signed or verified."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bridge.delegation.sessions import Session, SessionCodec
from bridge.identity import Identity

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
IDLE = 900


def _session() -> Session:
    identity = Identity(biller="city", email="pat@example.com", account_number="101", login_type="1")
    return Session(session_id="s1", identity=identity, authn_instant=NOW, view_mode=0, deep_link=0)


def test_a_cookie_this_process_signed_loads_with_its_signing_time() -> None:
    codec = SessionCodec(["secret"], idle_timeout=IDLE)
    loaded = codec.load(codec.dump(_session(), now=NOW), now=NOW + timedelta(seconds=5))
    assert loaded == _session() and loaded.issued_at == NOW


def test_a_remembered_cookie_still_expires_after_the_idle_timeout() -> None:
    codec = SessionCodec(["secret"], idle_timeout=IDLE)
    token = codec.dump(_session(), now=NOW)
    assert codec.load(token, now=NOW + timedelta(seconds=IDLE)) is not None
    assert codec.load(token, now=NOW + timedelta(seconds=IDLE + 1)) is None


def test_a_tampered_copy_of_a_remembered_cookie_is_refused() -> None:
    codec = SessionCodec(["secret"], idle_timeout=IDLE)
    token = codec.dump(_session(), now=NOW)
    tampered = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
    assert codec.load(tampered, now=NOW) is None


def test_a_cookie_verified_by_another_node_loads_the_same_and_is_remembered() -> None:
    signer, verifier = SessionCodec(["secret"], idle_timeout=IDLE), SessionCodec(["secret"], idle_timeout=IDLE)
    token = signer.dump(_session(), now=NOW)
    first = verifier.load(token, now=NOW)
    assert first == _session() and verifier.load(token, now=NOW) is first


def test_the_memo_is_bounded() -> None:
    codec = SessionCodec(["secret"], idle_timeout=IDLE, memo_size=2)
    tokens = [codec.dump(_session(), now=NOW + timedelta(seconds=i)) for i in range(5)]
    assert len(codec._memo) <= 2
    assert all(codec.load(t, now=NOW + timedelta(seconds=5)) is not None for t in tokens)  # the rest still verify
