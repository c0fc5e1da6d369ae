"""Checks that every service and program the test suite needs is here, before CI runs it.

CI must never go green by skipping: a missing PostgreSQL, Redis, chromium or Node peer fails here with one
line saying what is missing and how to get it, and any skip that still happens fails the run
(tests/conftest.py, REQUIRE_ALL).
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
POSTGRES_URL = os.environ.get("BRIDGE_TEST_POSTGRES_URL", "postgresql://127.0.0.1:5432/test")
REDIS_URL = os.environ.get("BRIDGE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def postgres() -> str | None:
    import psycopg

    try:
        with psycopg.connect(POSTGRES_URL, connect_timeout=5) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        return f"PostgreSQL at {POSTGRES_URL} does not answer ({str(exc).strip().splitlines()[0]})"
    return None


def redis() -> str | None:
    import redis as redis_lib

    try:
        redis_lib.Redis.from_url(REDIS_URL, socket_timeout=5).ping()
    except (OSError, redis_lib.RedisError) as exc:
        return f"Redis at {REDIS_URL} does not answer ({exc})"
    return None


def program(name: str, package: str) -> Callable[[], str | None]:
    def check() -> str | None:
        return None if shutil.which(name) else f"{name} is not installed (Debian package {package}; scripts/setup.sh)"
    return check


def installed(path: str, package: str) -> Callable[[], str | None]:
    def check() -> str | None:
        return None if Path(path).exists() else f"{path} is missing (Debian package {package}; scripts/setup.sh)"
    return check


def node_module(name: str) -> Callable[[], str | None]:
    def check() -> str | None:
        path = ROOT / "tests" / "js" / "node_modules" / name
        return None if path.exists() else f"the Node package {name} is missing (npm ci in tests/js; scripts/setup.sh)"
    return check


CHECKS: dict[str, Callable[[], str | None]] = {
    "postgresql": postgres,
    "redis": redis,
    "xmlsec1": program("xmlsec1", "xmlsec1"),
    "chromium": program("chromium", "chromium"),
    "node": program("node", "nodejs"),
    "axe-core": node_module("axe-core"),
    "node-saml": node_module("@node-saml/node-saml"),
    "shibd": installed("/usr/sbin/shibd", "shibboleth-sp-utils"),
    "apache2": installed("/usr/sbin/apache2", "apache2"),
    "mod_shib": installed("/usr/lib/apache2/modules/mod_shib.so", "libapache2-mod-shib"),
}


def main() -> int:
    problems = [problem for check in CHECKS.values() if (problem := check())]
    for problem in problems:
        print(f"preflight: {problem}", file=sys.stderr)
    if problems:
        return 1
    print(f"preflight: {', '.join(CHECKS)} present")
    return 0


if __name__ == "__main__":
    sys.exit(main())
