"""The bare-Starlette floor: what one login would cost with nothing of the bridge but its HTTP stack and RSA.

``python -m bench.floor --port N --key PEM --page-bytes B`` serves, under uvicorn with the options
``icbridge serve`` uses (1 worker, no access log, no server header), a Starlette app whose
``GET /saml/sso`` reads the query string, signs it once with RSA-2048 PKCS#1 v1.5/SHA-256 (inline, the
key loaded once) and answers an auto-POST page of the bridge's size carrying that signature. No
parsing, no verification, no session, no store, no logging. ``bench.run`` measures its CPU per request
like a login's; the bridge's figure minus this one is what the bridge adds on top of its floor.
"""

from __future__ import annotations

import argparse
import base64
import os
import sys

import uvicorn
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Route


def app(key: rsa.RSAPrivateKey, page_bytes: int) -> Starlette:
    head = '<!DOCTYPE html><html><body onload="document.forms[0].submit()"><form method="post" action="x">' \
           '<input type="hidden" name="SAMLResponse" value="'
    tail = '"/></form></body></html>'

    async def sso(request: Request) -> Response:
        signature = key.sign(request.url.query.encode(), padding.PKCS1v15(), hashes.SHA256())
        value = base64.b64encode(signature).decode()
        filler = max(page_bytes - len(head) - len(tail) - len(value), 0)
        return HTMLResponse(head + value + "A" * filler + tail, headers={"Cache-Control": "no-store"})

    async def healthz(request: Request) -> Response:
        return PlainTextResponse("ok")

    return Starlette(routes=[Route("/saml/sso", sso), Route("/healthz", healthz)])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.floor", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--key", required=True, help="PEM private key (RSA-2048)")
    parser.add_argument("--page-bytes", type=int, default=6000)
    args = parser.parse_args(argv)
    with open(args.key, "rb") as handle:
        key = serialization.load_pem_private_key(handle.read(), None)
    assert isinstance(key, rsa.RSAPrivateKey)
    os.environ.pop("BRIDGE_BENCH_STEPS", None)
    uvicorn.run(app(key, args.page_bytes), host="127.0.0.1", port=args.port, workers=1, log_config=None,
                access_log=False, proxy_headers=False, server_header=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
