"""Fuzz target: AuthnRequest decode + parse (both bindings), the path every untrusted SAML message takes.

Runs under atheris (coverage-guided, libFuzzer) when it is installed, else a
seeded random mutator; either way for a bounded time, then prints one line:
``fuzz: <runs> runs in <seconds> s, <crashes> crashes``. A crash is any
exception other than a BridgeError subclass: it is printed with its input
(base64) so it can be added to tests/security/test_fuzz.py as a regression.

    python fuzz/fuzz_authn_request.py [--seconds 25] [--seed N]
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import random
import sys
import time
import zlib

from bridge.errors import BridgeError
from bridge.saml import bindings
from bridge.saml.authn_request import parse_authn_request

MAX_MESSAGE = 32 * 1024
MAX_INFLATED = 128 * 1024
SEEDS = [
    b'<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" '
    b'xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_a1" Version="2.0" '
    b'IssueInstant="2026-01-01T00:00:00Z" AssertionConsumerServiceURL="https://sp.test/acs">'
    b"<saml:Issuer>https://sp.test/metadata</saml:Issuer>"
    b'<samlp:NameIDPolicy Format="urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress" AllowCreate="true"/>'
    b"</samlp:AuthnRequest>",
    b'<!DOCTYPE r [<!ENTITY x "y">]><r>&x;</r>',
    b'<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="_b" Version="2.0" '
    b'IssueInstant="2026-01-01T00:00:00" AssertionConsumerServiceIndex="99999999999999999999"/>',
]


def one_input(data: bytes) -> None:
    """Feed one input through every decode/parse entry point; only BridgeError may escape."""
    text = data.decode("latin-1")
    for attempt in (
        lambda: parse_authn_request(data),
        lambda: parse_authn_request(bindings.decode_post(base64.b64encode(data).decode(), max_message=MAX_MESSAGE,
                                                         max_inflated=MAX_INFLATED)),
        lambda: parse_authn_request(bindings.decode_post(base64.b64encode(_deflate(data)).decode(),
                                                         max_message=MAX_MESSAGE, max_inflated=MAX_INFLATED)),
        lambda: parse_authn_request(bindings.decode_redirect(
            base64.b64encode(_deflate(data)).decode(), max_message=MAX_MESSAGE, max_inflated=MAX_INFLATED)),
        lambda: bindings.decode_redirect(text, max_message=MAX_MESSAGE, max_inflated=MAX_INFLATED),
        lambda: bindings.parse_redirect_query(text),
    ):
        with contextlib.suppress(BridgeError):
            attempt()


def _deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
    return compressor.compress(data) + compressor.flush()


def _mutate(rng: random.Random, data: bytes) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        choice = rng.random()
        position = rng.randint(0, len(buf)) if buf else 0
        if choice < 0.3 and buf:
            buf[min(position, len(buf) - 1)] = rng.randint(0, 255)
        elif choice < 0.5:
            buf[position:position] = rng.choice([b"<", b">", b"&", b"<!--", b"-->", b"\x00", b'"', b"<!DOCTYPE",
                                                  b"&#x0;", b"]]>", b"\xff\xfe", b"<a>" * 50, b"=", b"%"])
        elif choice < 0.7 and buf:
            del buf[position:position + rng.randint(1, 16)]
        else:
            other = rng.choice(SEEDS)
            cut = rng.randint(0, len(other))
            buf[position:position] = other[cut:cut + rng.randint(1, 64)]
    return bytes(buf[:MAX_MESSAGE])


class Stats:
    runs = 0
    crashes = 0


def _checked(data: bytes) -> None:
    Stats.runs += 1
    try:
        one_input(data)
    except Exception as exc:
        Stats.crashes += 1
        print(f"fuzz: CRASH {type(exc).__name__}: {exc}\nfuzz: input (base64) {base64.b64encode(data).decode()}",
              file=sys.stderr)
        raise


def run_random(seconds: float, seed: int) -> None:
    rng = random.Random(seed)  # noqa: S311 - reproducible mutations, not secrets
    deadline = time.monotonic() + seconds
    corpus = list(SEEDS)
    while time.monotonic() < deadline:
        candidate = _mutate(rng, rng.choice(corpus))
        try:
            _checked(candidate)
        except Exception:  # noqa: S112 - recorded and reported; keep fuzzing
            continue
        if len(corpus) < 256 and rng.random() < 0.05:
            corpus.append(candidate)


def run_atheris(seconds: float, seed: int) -> None:
    """Coverage-guided: instrument the bridge's Python code, seed a corpus, stop ourselves at the deadline.

    libFuzzer leaves through C ``exit()``, which skips Python's atexit, so the
    summary line is printed from inside the target when time is up.
    """
    import os
    import tempfile

    import atheris

    atheris.instrument_all()
    corpus = tempfile.mkdtemp(prefix="fuzz-corpus-")
    for number, seed_input in enumerate(SEEDS):
        with open(os.path.join(corpus, f"seed{number}"), "wb") as handle:
            handle.write(seed_input)
    started = time.monotonic()
    deadline = started + seconds

    def target(data: bytes) -> None:
        if time.monotonic() >= deadline:
            _report(time.monotonic() - started, "atheris")
            os._exit(1 if Stats.crashes else 0)
        _checked(data)

    argv = [sys.argv[0], f"-max_total_time={int(seconds) + 30}", f"-seed={seed}", "-max_len=8192",
            "-print_final_stats=0", "-print_pcs=0", corpus]
    atheris.Setup(argv, target)
    atheris.Fuzz()


def _report(elapsed: float, engine: str) -> None:
    print(f"fuzz: {Stats.runs} runs in {elapsed:.1f} s, {Stats.crashes} crashes ({engine})", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=25.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--engine", choices=["auto", "atheris", "random"], default="auto")
    args = parser.parse_args()
    engine = args.engine
    if engine == "auto":
        try:
            import atheris  # noqa: F401
            engine = "atheris"
        except ImportError:
            engine = "random"
    if engine == "atheris":
        run_atheris(args.seconds, args.seed)  # exits the process when done
        return 0
    started = time.monotonic()
    run_random(args.seconds, args.seed)
    _report(time.monotonic() - started, "random")
    return 1 if Stats.crashes else 0


if __name__ == "__main__":
    sys.exit(main())
