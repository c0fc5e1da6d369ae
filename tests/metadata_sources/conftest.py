"""Fixtures for the metadata-source tests: a real HTTP server on 127.0.0.1 serving what each test says.

``metadata_server`` is uvicorn in a thread (one per session) with a tiny Starlette app; a test
sets, per path, the body, status, delay, redirect or slow drip it answers with. ``sources_settings``
builds bridge settings whose only URL source points at it, with short timeouts and a small size cap.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import uvicorn
import xmlsec
from lxml import etree
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from bridge.config import Settings, settings_from_dict
from bridge.keys.material import Certificate, SigningKey, generate_rsa_key, private_key_pem, self_signed_certificate
from bridge.saml.signing import sign

SP_ID = "https://sp.example.test/metadata"
OTHER_ID = "https://intruder.example.test/metadata"
FETCH_TIMEOUT = 2.0  # short, yet long enough that a loaded 2-core CI machine serves a good answer in time
MAX_SIZE = 16 * 1024


@dataclass
class Reply:
    body: bytes = b""
    status: int = 200
    delay: float = 0.0
    location: str | None = None
    drip: float = 0.0  # seconds between the pieces of a streamed body
    chunked: bool = False  # streamed, without Content-Length


class MetadataServer:
    """uvicorn on 127.0.0.1 (a free port), answering each path as the test configured."""

    def __init__(self) -> None:
        self.replies: dict[str, Reply] = {}
        self.hits: Counter[str] = Counter()
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind(("127.0.0.1", 0))
        self.port = self._socket.getsockname()[1]
        app = Starlette(routes=[Route("/{path:path}", self._answer)])
        config = uvicorn.Config(app, log_level="warning", lifespan="off", timeout_graceful_shutdown=1)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True)

    def start(self) -> MetadataServer:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            assert time.monotonic() < deadline, "the test HTTP server did not start"
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._socket.close()

    def url(self, path: str = "/sp.xml") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def serve(self, body: bytes = b"", path: str = "/sp.xml", **options: Any) -> None:
        self.replies[path] = Reply(body=body, **options)

    async def _answer(self, request: Request) -> Response:
        path = request.url.path
        self.hits[path] += 1
        reply = self.replies.get(path)
        if reply is None:
            return Response(status_code=404)
        if reply.delay:
            await asyncio.sleep(reply.delay)
        if reply.location is not None:
            return Response(status_code=302, headers={"location": reply.location})
        if reply.drip or reply.chunked:
            return StreamingResponse(_pieces(reply.body, reply.drip), status_code=reply.status,
                                     media_type="application/samlmetadata+xml")
        return Response(reply.body, status_code=reply.status, media_type="application/samlmetadata+xml")


async def _pieces(body: bytes, pause: float):  # type: ignore[no-untyped-def]
    step = max(1, len(body) // 10)
    for start in range(0, len(body), step):
        yield body[start:start + step]
        await asyncio.sleep(pause)


@pytest.fixture(scope="session")
def _server() -> Iterator[MetadataServer]:
    server = MetadataServer().start()
    yield server
    server.stop()


@pytest.fixture
def metadata_server(_server: MetadataServer) -> MetadataServer:
    _server.replies.clear()
    _server.hits.clear()
    return _server


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# -- metadata documents ------------------------------------------------------------------------------------


@dataclass
class Signer:
    """A key pair that signs metadata (the SP's federation operator, in real life)."""

    key: SigningKey

    @classmethod
    def fresh(cls, name: str = "metadata-signer") -> Signer:
        private = generate_rsa_key(2048)
        cert = self_signed_certificate(private, common_name=name, now=datetime.now(UTC), validity_days=30)
        xkey = xmlsec.Key.from_memory(private_key_pem(private), xmlsec.KeyFormat.PEM)
        xkey.load_cert_from_memory(cert.pem.encode(), xmlsec.KeyFormat.CERT_PEM)
        return cls(SigningKey(kid=cert.kid, certificate=cert, private_key=private, xmlsec_key=xkey))

    @classmethod
    @cache
    def shared(cls, name: str) -> Signer:
        """One key per name for the whole run: RSA key generation is the slow part of these tests."""
        return cls.fresh(name)

    @property
    def certificate(self) -> Certificate:
        return self.key.certificate

    def sign(self, document: bytes) -> bytes:
        root = etree.fromstring(document)
        sign(root, self.key, after=None)
        return etree.tostring(root)


_SP_CERT = Signer.shared("sp").certificate.der_base64


def entity(entity_id: str = SP_ID, acs: str = "https://sp.example.test/acs", *, cert_b64: str | None = None,
           valid_until: datetime | None = None, attrs: str = "", nested: bool = False) -> str:
    until = f' validUntil="{valid_until.strftime("%Y-%m-%dT%H:%M:%SZ")}"' if valid_until else ""
    ns = "" if nested else ' xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#"'
    return (
        f'<md:EntityDescriptor{ns} entityID="{entity_id}" ID="_{abs(hash(entity_id + acs)):x}"{until}{attrs}>'
        '<md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">'
        '<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data>'
        f"<ds:X509Certificate>{cert_b64 or _SP_CERT}</ds:X509Certificate>"
        "</ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"
        "<md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress</md:NameIDFormat>"
        '<md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" '
        f'Location="{acs}" index="0" isDefault="true"/>'
        "</md:SPSSODescriptor></md:EntityDescriptor>"
    )


def sp_metadata(entity_id: str = SP_ID, acs: str = "https://sp.example.test/acs", **options: Any) -> bytes:
    return entity(entity_id, acs, **options).encode()


def aggregate(*entities: str, attrs: str = "") -> bytes:
    return (
        '<md:EntitiesDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" '
        f'xmlns:ds="http://www.w3.org/2000/09/xmldsig#" ID="_aggregate"{attrs}>' + "".join(entities)
        + "</md:EntitiesDescriptor>"
    ).encode()


# -- settings ----------------------------------------------------------------------------------------------


def settings_for(base_dir: Path, *sources: dict[str, Any], **metadata: Any) -> Settings:
    raw = {
        "tickets": {"secrets": ["t" * 32]},
        "session": {"secrets": ["s" * 32]},
        "metadata": {"fetch_timeout": FETCH_TIMEOUT, "max_size": MAX_SIZE, "sources": list(sources), **metadata},
    }
    return settings_from_dict(raw, base_dir=base_dir)


def url_source(url: str, *entity_ids: str, **options: Any) -> dict[str, Any]:
    return {"type": "url", "url": url, "entity_ids": list(entity_ids or (SP_ID,)), "refresh_interval": "1h",
            **options}


def toml_source(url: str, *entity_ids: str, extra: str = "") -> str:
    """The same source as bridge.toml text (appended to an instance's file)."""
    ids = ", ".join(f'"{e}"' for e in entity_ids or (SP_ID,))
    return (f'\n[[metadata.sources]]\ntype = "url"\nurl = "{url}"\nentity_ids = [{ids}]\n'
            f'refresh_interval = "1m"\n{extra}')
