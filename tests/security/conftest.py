"""Fixtures for the hostile-input suite: trusted SPs with a signed-in payer (SQLite: the store is not the subject)."""

from __future__ import annotations

import pytest
from saml_peers import KeyPair, OneLoginSP

from security.hostile import sign_in


@pytest.fixture(scope="session")
def sp_keys() -> KeyPair:
    """One SP key pair for the whole suite: RSA generation dominates fixture time otherwise."""
    return KeyPair.fresh("hostile-suite-sp")


@pytest.fixture
def plain_sp(sqlite_bridge, sp_keys) -> OneLoginSP:
    """A trusted SP whose requests need no signature, and a payer signed in to its biller."""
    sp = OneLoginSP(keys=sp_keys)
    sqlite_bridge.trust(sp)
    sign_in(sqlite_bridge, sp)
    return sp


@pytest.fixture
def signing_sp(sqlite_bridge, sp_keys) -> OneLoginSP:
    """A trusted SP whose metadata says AuthnRequestsSigned="true", and a payer signed in to its biller."""
    sp = OneLoginSP("https://sp-signing.test/metadata", "https://sp-signing.test/acs", sign_requests=True,
                    keys=sp_keys)
    sqlite_bridge.trust(sp)
    sign_in(sqlite_bridge, sp)
    return sp


@pytest.fixture(scope="session")
def attacker_keys() -> KeyPair:
    return KeyPair.fresh("attacker")
