"""TLS trust for the desktop apps (Pactocole section 1).

Two ways to trust a server: the CA file it generated (``certs/ca.pem``), or
trust on first use. For the latter the CA is fetched over an unverified
connection on which no key is ever sent (``protocol.client.fetch_ca``); we do
not believe the fingerprint the server announces, we compute it from the PEM
ourselves, check that the certificate the server presented was issued by that
CA, and show it to the user, who compares it with the one the server printed
at start-up. Only after the user confirms is the key sent, on a connection
that verifies the certificate chain and the host name against that CA alone.
"""

from __future__ import annotations

import hashlib
import ssl
from dataclasses import dataclass

from protocol.address import DEFAULT_PORT, ServerAddress

__all__ = [
    "DEFAULT_PORT",
    "CertificateOffer",
    "ServerAddress",
    "TrustError",
    "check_offer",
    "fingerprint_of_pem",
    "ssl_context_for",
]


class TrustError(Exception):
    """A certificate that cannot be trusted (bad PEM, wrong issuer, mismatch)."""


def _der(pem: str) -> bytes:
    try:
        return ssl.PEM_cert_to_DER_cert(pem.strip() + "\n")
    except (ValueError, TypeError) as error:
        raise TrustError("not a PEM certificate") from error


def _format(digest: bytes) -> str:
    hexa = digest.hex().upper()
    return ":".join(hexa[index : index + 2] for index in range(0, len(hexa), 2))


def fingerprint_of_pem(pem: str) -> str:
    """SHA-256 of the certificate (DER) as ``AB:CD:...``, as the server prints it."""
    return _format(hashlib.sha256(_der(_first_certificate(pem))).digest())


def _first_certificate(pem: str) -> str:
    start = pem.find("-----BEGIN CERTIFICATE-----")
    end = pem.find("-----END CERTIFICATE-----")
    if start < 0 or end < 0:
        raise TrustError("not a PEM certificate")
    return pem[start : end + len("-----END CERTIFICATE-----")]


def ssl_context_for(pem: str) -> ssl.SSLContext:
    """A verifying context (chain and host name) that trusts this CA and nothing else.

    An empty ``pem`` (no CA pinned for this server) trusts the system's
    authorities instead: a server with a public certificate (Let's Encrypt).
    """
    if not pem:
        context = ssl.create_default_context()  # honours SSL_CERT_FILE / SSL_CERT_DIR
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        return context
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.check_hostname = True
    context.verify_mode = ssl.CERT_REQUIRED
    try:
        context.load_verify_locations(cadata=_first_certificate(pem))
    except ssl.SSLError as error:
        raise TrustError(f"unusable CA certificate: {error}") from error
    return context


@dataclass(frozen=True, slots=True)
class CertificateOffer:
    """What trust on first use found: the CA to confirm, by its own fingerprint."""

    address: ServerAddress
    pem: str
    fingerprint: str


def check_offer(
    address: ServerAddress, pem: str, announced: str, leaf_der: bytes
) -> CertificateOffer:
    """Check what an unverified connection brought before showing it to the user.

    Raises ``TrustError`` when the announced fingerprint is not the PEM's, or
    when the certificate the server presented was not issued by that CA.
    """
    pem = _first_certificate(pem)
    fingerprint = fingerprint_of_pem(pem)
    if announced.replace(":", "").upper() != fingerprint.replace(":", ""):
        raise TrustError("the server announced a fingerprint that is not its CA's")
    if leaf_der:
        try:
            from cryptography import x509
        except ImportError:  # the verified connection still checks the chain
            return CertificateOffer(address, pem, fingerprint)
        try:
            authority = x509.load_pem_x509_certificate(pem.encode("ascii"))
            leaf = x509.load_der_x509_certificate(leaf_der)
            leaf.verify_directly_issued_by(authority)
        except Exception as error:
            raise TrustError("the server certificate was not issued by this CA") from error
    return CertificateOffer(address, pem, fingerprint)
