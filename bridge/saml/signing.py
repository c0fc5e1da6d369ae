"""XML signatures: signing our messages and verifying SPs' requests (XML-DSig via python-xmlsec).

Signing uses a key parsed once (bridge.keys.material.SigningKey) and RSA-SHA256 with
SHA-256 digests and exclusive c14n. Verification trusts only certificates
from the SP's metadata: KeyInfo in the message is never used to find a key,
the signature must be the root's own enveloped signature, and its single
Reference must point at the root's ID (defeats signature wrapping).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Sequence

import xmlsec
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from lxml import etree

from bridge.errors import SignatureError
from bridge.keys.material import Certificate, SigningKey
from bridge.saml.xml import DS, NS

RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
RSA_SHA384 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384"
RSA_SHA512 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512"
RSA_SHA1 = "http://www.w3.org/2000/09/xmldsig#rsa-sha1"
SHA1_DIGEST = "http://www.w3.org/2000/09/xmldsig#sha1"
SHA256_DIGEST = "http://www.w3.org/2001/04/xmlenc#sha256"

SHA384_DIGEST = "http://www.w3.org/2001/04/xmldsig-more#sha384"
SHA512_DIGEST = "http://www.w3.org/2001/04/xmlenc#sha512"

_REDIRECT_HASHES: dict[str, hashes.HashAlgorithm] = {
    RSA_SHA256: hashes.SHA256(),
    RSA_SHA384: hashes.SHA384(),
    RSA_SHA512: hashes.SHA512(),
}
# What the bridge accepts from SPs, most preferred first. The IdP metadata publishes these lists
# (SAML V2.0 Metadata Profile for Algorithm Support), so they and the verifier cannot disagree.
SIGNATURE_METHODS = (RSA_SHA256, RSA_SHA384, RSA_SHA512)
DIGEST_METHODS = (SHA256_DIGEST, SHA384_DIGEST, SHA512_DIGEST)


def accepted_signature_methods(*, allow_sha1: bool) -> tuple[str, ...]:
    return SIGNATURE_METHODS + ((RSA_SHA1,) if allow_sha1 else ())


def accepted_digest_methods(*, allow_sha1: bool) -> tuple[str, ...]:
    return DIGEST_METHODS + ((SHA1_DIGEST,) if allow_sha1 else ())


_ALLOWED_TRANSFORMS = frozenset(
    {
        "http://www.w3.org/2000/09/xmldsig#enveloped-signature",
        "http://www.w3.org/2001/10/xml-exc-c14n#",
        "http://www.w3.org/2001/10/xml-exc-c14n#WithComments",
    }
)


_DSIG = "http://www.w3.org/2000/09/xmldsig#"
_EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
# The exclusive-c14n form of our SignedInfo, which is also how it is written (so what is signed is what is sent).
# Exclusive c14n renders xmlns:ds on SignedInfo (its apex) whatever its ancestors declare.
_SIGNED_INFO = (
    f'<ds:SignedInfo xmlns:ds="{_DSIG}">'
    f'<ds:CanonicalizationMethod Algorithm="{_EXC_C14N}"></ds:CanonicalizationMethod>'
    f'<ds:SignatureMethod Algorithm="{RSA_SHA256}"></ds:SignatureMethod>'
    '<ds:Reference URI="#{id}"><ds:Transforms>'
    f'<ds:Transform Algorithm="{_DSIG}enveloped-signature"></ds:Transform>'
    f'<ds:Transform Algorithm="{_EXC_C14N}"></ds:Transform>'
    '</ds:Transforms>'
    f'<ds:DigestMethod Algorithm="{SHA256_DIGEST}"></ds:DigestMethod>'
    "<ds:DigestValue>{digest}</ds:DigestValue></ds:Reference></ds:SignedInfo>"
)
_SIGNATURE = (
    f'<ds:Signature xmlns:ds="{_DSIG}">{{signed_info}}<ds:SignatureValue>{{value}}</ds:SignatureValue>'
    "<ds:KeyInfo><ds:X509Data><ds:X509Certificate>{certificate}</ds:X509Certificate></ds:X509Data></ds:KeyInfo>"
    "</ds:Signature>"
)
_NCNAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*\Z")


def enveloped_signature(element_id: str, canonical: bytes, key: SigningKey) -> str:
    """The ``ds:Signature`` (as XML text) for the element with ``element_id`` whose exclusive c14n,
    without the signature, is ``canonical``.

    XML-DSig (Core 3.1) done directly: SHA-256 over that canonical form (which is
    exactly what the enveloped-signature transform gives a verifier), then one RSA
    signature over the canonical SignedInfo, which is written in its canonical form.
    ``cryptography`` signs with the key parsed once; python3-saml, pysaml2 and
    xmlsec1 verify the result in the tests.
    """
    if not _NCNAME.match(element_id):
        raise ValueError("a signed element needs an ID that is an NCName")
    digest = base64.b64encode(hashlib.sha256(canonical).digest()).decode()
    signed_info = _SIGNED_INFO.format(id=element_id, digest=digest)
    value = key.private_key.sign(signed_info.encode(), padding.PKCS1v15(), hashes.SHA256())
    # Inside ds:Signature the declaration on SignedInfo is redundant; its canonical form is unchanged without it.
    return _SIGNATURE.format(
        signed_info=signed_info.replace(f' xmlns:ds="{_DSIG}"', "", 1),
        value=base64.b64encode(value).decode(),
        certificate=key.x509_b64,
    )


def sign(element: etree._Element, key: SigningKey, *, after: etree._Element | None) -> None:
    """Add an enveloped RSA-SHA256 signature to ``element``, right after ``after`` (its Issuer, as the
    schema orders it) or, with ``after=None``, as its first child (metadata).

    lxml (libxml2) canonicalises the element. It must carry an ``ID``; nothing may
    re-serialise it with other whitespace afterwards (the caller writes it out once).
    """
    canonical = etree.tostring(element, method="c14n", exclusive=True, with_comments=False)
    signature = etree.fromstring(enveloped_signature(element.get("ID") or "", canonical, key))
    if after is None:
        element.insert(0, signature)
    else:
        after.addnext(signature)


def sign_redirect(octets: bytes, key: SigningKey) -> str:
    """RSA-SHA256 over the query octets of an HTTP-Redirect message (SAML Bindings 3.4.4.1), base64."""
    signature = key.private_key.sign(octets, padding.PKCS1v15(), hashes.SHA256())
    return base64.b64encode(signature).decode()


def _only_root_signature(root: etree._Element, what: str = "request") -> etree._Element:
    signatures = root.findall(f".//{DS}Signature")
    own = root.findall(f"{DS}Signature")
    if len(signatures) != 1 or len(own) != 1:
        raise SignatureError(f"the {what} must carry exactly one signature, enveloped in its root element")
    return own[0]


def _check_signed_info(signature: etree._Element, root_id: str, *, allow_sha1: bool, what: str = "request") -> None:
    method = signature.find(f"{DS}SignedInfo/{DS}SignatureMethod")
    references = signature.findall(f"{DS}SignedInfo/{DS}Reference")
    if method is None or len(references) != 1:
        raise SignatureError("the signature must have one SignatureMethod and exactly one Reference")
    algorithm = method.get("Algorithm")
    if algorithm == RSA_SHA1 and not allow_sha1:
        raise SignatureError("SHA-1 signatures are refused; sign with RSA-SHA256")
    if algorithm not in accepted_signature_methods(allow_sha1=allow_sha1):
        raise SignatureError(f"signature algorithm {algorithm} is not accepted")
    reference = references[0]
    if reference.get("URI") != "#" + root_id:
        raise SignatureError(f"the signature does not cover the {what} it is attached to")
    digest = reference.find(f"{DS}DigestMethod")
    digest_alg = digest.get("Algorithm") if digest is not None else None
    if digest_alg not in accepted_digest_methods(allow_sha1=allow_sha1):
        raise SignatureError(f"digest algorithm {digest_alg} is not accepted; use SHA-256")
    for transform in reference.iterfind(f"{DS}Transforms/{DS}Transform"):
        if transform.get("Algorithm") not in _ALLOWED_TRANSFORMS:
            raise SignatureError(f"signature transform {transform.get('Algorithm')} is not accepted")


def verify_enveloped(
    root: etree._Element, certificates: Sequence[Certificate], *, allow_sha1: bool = False, what: str = "request"
) -> None:
    """Verify the root's enveloped signature with one of the given certificates (the SP's metadata ones, or
    a metadata source's pinned one); ``what`` names the document in the error messages."""
    root_id = root.get("ID")
    if not root_id:
        raise SignatureError(f"the signed {what} has no ID")
    same_id = root.xpath("//*[@ID=$id]", id=root_id)
    if not isinstance(same_id, list) or len(same_id) != 1:
        raise SignatureError(f"the {what}'s ID is not unique in the document")
    signature = _only_root_signature(root, what)
    _check_signed_info(signature, root_id, allow_sha1=allow_sha1, what=what)
    if not certificates:
        raise SignatureError("the service provider's metadata lists no signing certificate")
    xmlsec.tree.add_ids(root, ["ID"])
    for certificate in certificates:
        ctx = xmlsec.SignatureContext()
        # A preset key makes xmlsec ignore KeyInfo entirely: only metadata certs count.
        ctx.key = xmlsec.Key.from_memory(certificate.pem.encode(), xmlsec.KeyFormat.CERT_PEM)
        ctx.set_enabled_key_data([xmlsec.KeyData.X509])
        try:
            ctx.verify(signature)
            return
        except xmlsec.Error:
            continue
    trusted = "the service provider's certificates" if what == "request" else "the trusted certificate"
    raise SignatureError(f"the {what}'s signature does not verify with {trusted}")


def verify_redirect(
    signed_query: bytes,
    sig_alg: str | None,
    signature_b64: str,
    certificates: Sequence[Certificate],
    *,
    allow_sha1: bool = False,
) -> None:
    """HTTP-Redirect binding (SAML Bindings 3.4.4.1): the signature is over the raw query octets."""
    if not sig_alg:
        # A missing SigAlg must never default to SHA-1.
        raise SignatureError("the signed request has no SigAlg")
    if sig_alg == RSA_SHA1 and allow_sha1:
        algorithm: hashes.HashAlgorithm = hashes.SHA1()  # noqa: S303 - explicit opt-in only
    elif sig_alg == RSA_SHA1:
        raise SignatureError("SHA-1 signatures are refused; sign with RSA-SHA256")
    elif sig_alg in _REDIRECT_HASHES:
        algorithm = _REDIRECT_HASHES[sig_alg]
    else:
        raise SignatureError(f"signature algorithm {sig_alg} is not accepted")
    try:
        signature = base64.b64decode("".join(signature_b64.split()), validate=True)
    except (binascii.Error, ValueError):
        raise SignatureError("the Signature parameter is not valid base64") from None
    if not certificates:
        raise SignatureError("the service provider's metadata lists no signing certificate")
    for certificate in certificates:
        public_key = certificate.cert.public_key()
        if not isinstance(public_key, rsa.RSAPublicKey):
            continue
        try:
            public_key.verify(signature, signed_query, padding.PKCS1v15(), algorithm)
            return
        except InvalidSignature:
            continue
    raise SignatureError("the request's signature does not verify with the service provider's certificates")


__all__ = [
    "NS", "RSA_SHA1", "RSA_SHA256", "accepted_digest_methods", "accepted_signature_methods", "enveloped_signature",
    "sign", "verify_enveloped", "verify_redirect",
]
