"""TLS material for the Tchatator server: a private local CA and its server certificate.

Strategy
--------
* On first start :func:`ensure_certificates` creates ``certs_dir`` (mode 0700) and a
  small private PKI in it:

  - ``ca.key`` / ``ca.pem``: a local CA (ECDSA P-256, self-signed, 10 years). Clients
    trust *only* this CA (:func:`client_ssl_context`) or pin its SHA-256 fingerprint.
  - ``server.key`` / ``server.pem``: a leaf certificate (ECDSA P-256, 397 days, the
    browser maximum) issued by that CA for ``localhost``, ``127.0.0.1``, ``::1`` and any
    extra ``server_names``.

  Both certificates follow the strict RFC 5280 profile checked by OpenSSL's
  ``X509_V_FLAG_X509_STRICT`` (on by default from Python 3.13) and by browsers:
  critical BasicConstraints and KeyUsage, SubjectKeyIdentifier and
  AuthorityKeyIdentifier everywhere, serverAuth EKU and SANs on the leaf.

* Later starts reuse the CA, which is **never** regenerated: clients have pinned it.
  The server certificate is re-issued (with a fresh key) by the existing CA when it is
  missing, unreadable, not issued by this CA, not matching ``server.key``, expiring
  within 30 days, or when its SANs do not cover the requested names. ``ca.key`` is only
  needed when a (re-)issue happens, so it may be kept offline otherwise.

* Private keys are PEM/PKCS#8 without encryption, written through
  ``os.open(..., 0o600)`` so they are never readable by others, not even briefly.
  Every file is first written to a temporary file in the same directory, fsynced and
  then moved into place, so a crash never leaves a truncated file. CA files are
  published without overwriting (``os.link``), so two servers starting concurrently
  can never end up with a mismatched or replaced CA.

* An existing key file whose mode grants any access to group or others is refused
  with :class:`InsecureKeyError`: the server will not start with a leaked key.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import hashlib
import ipaddress
import os
import secrets
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = [
    "CA_COMMON_NAME",
    "CA_ORGANIZATION",
    "CertificateError",
    "CertificatePaths",
    "ExternalCertificate",
    "InsecureKeyError",
    "ca_pem_text",
    "client_ssl_context",
    "ensure_certificates",
    "fingerprint",
    "load_external_certificate",
    "server_ssl_context",
]

CA_COMMON_NAME = "Tchatator local CA"
CA_ORGANIZATION = "Tchatator"

CA_CERT_NAME = "ca.pem"
CA_KEY_NAME = "ca.key"
SERVER_CERT_NAME = "server.pem"
SERVER_KEY_NAME = "server.key"

CA_VALIDITY = dt.timedelta(days=3650)
SERVER_VALIDITY = dt.timedelta(days=397)
RENEW_BEFORE = dt.timedelta(days=30)
BACKDATE = dt.timedelta(minutes=5)

DEFAULT_DNS_NAMES: tuple[str, ...] = ("localhost",)
DEFAULT_IP_ADDRESSES: tuple[str, ...] = ("127.0.0.1", "::1")

_KEY_MODE = 0o600
_CERT_MODE = 0o644
_DIR_MODE = 0o700

_IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class CertificateError(Exception):
    """The TLS material in the certificates directory cannot be used."""


class InsecureKeyError(CertificateError):
    """A private key file is readable (or writable) by group or others."""


@dataclass(frozen=True)
class CertificatePaths:
    """Locations of the TLS files plus the CA fingerprint clients should pin."""

    ca_cert: Path
    ca_key: Path
    server_cert: Path
    server_key: Path
    ca_fingerprint: str


def fingerprint(cert_der: bytes) -> str:
    """SHA-256 of a DER certificate as ``AB:CD:...`` (like ``openssl x509 -fingerprint``)."""
    digest = hashlib.sha256(cert_der).hexdigest().upper()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


def ca_pem_text(paths: CertificatePaths) -> str:
    """The CA certificate in PEM form, e.g. to hand out to clients."""
    return paths.ca_cert.read_text(encoding="ascii")


# --------------------------------------------------------------------------- names


def normalize_names(server_names: Sequence[str]) -> tuple[list[str], list[_IPAddress]]:
    """Split the wanted names into DNS names and IP addresses, defaults first."""
    dns_names: list[str] = list(DEFAULT_DNS_NAMES)
    ips: list[_IPAddress] = [ipaddress.ip_address(ip) for ip in DEFAULT_IP_ADDRESSES]
    if isinstance(server_names, str):  # a lone string is a Sequence[str] too
        server_names = (server_names,)
    for raw in server_names:
        name = raw.strip()
        if name.startswith("[") and name.endswith("]"):  # "[::1]" URL-style literal
            name = name[1:-1]
        if not name:
            raise ValueError(f"invalid server name: {raw!r}")
        try:
            ip = ipaddress.ip_address(name)
        except ValueError:
            dns = _dns_name(name, raw)
            if dns not in dns_names:
                dns_names.append(dns)
        else:
            if ip not in ips:
                ips.append(ip)
    return dns_names, ips


def _dns_name(name: str, raw: str) -> str:
    name = name.rstrip(".").lower()
    try:
        # IDNA-encode non-ASCII host names: SANs must hold A-labels.
        ascii_name = name if name.isascii() else name.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise ValueError(f"invalid server name: {raw!r}") from exc
    if not ascii_name or any(c.isspace() or c in "/:@" for c in ascii_name):
        raise ValueError(f"invalid server name: {raw!r}")
    return ascii_name


# --------------------------------------------------------------------------- files


def _check_key_mode(path: Path, mode: int) -> None:
    if os.name == "posix" and mode & 0o077:
        raise InsecureKeyError(
            f"private key {path} is accessible by group/others "
            f"(mode {mode & 0o777:03o}); run `chmod 600 {path}`"
        )


def _read_key(path: Path) -> ec.EllipticCurvePrivateKey | None:
    """Load an existing private key after checking its permissions; None if absent."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    with os.fdopen(fd, "rb") as fh:
        _check_key_mode(path, os.fstat(fh.fileno()).st_mode)
        data = fh.read()
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise CertificateError(f"cannot load private key {path}: {exc}") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise CertificateError(f"private key {path} is not an ECDSA key")
    return key


def _read_cert(path: Path) -> x509.Certificate | None:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    try:
        return x509.load_pem_x509_certificate(data)
    except ValueError as exc:
        raise CertificateError(f"cannot load certificate {path}: {exc}") from exc


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _write_file(path: Path, data: bytes, mode: int, *, overwrite: bool) -> None:
    """Write ``data`` to ``path`` via a same-directory temp file, never partially.

    The temp file is created with ``mode`` (0600 for keys) so its content is never
    exposed. With ``overwrite=False`` the file is published with ``os.link`` which
    fails with :class:`FileExistsError` if ``path`` appeared meanwhile.
    """
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        try:
            if hasattr(os, "fchmod"):  # the umask may have removed bits we want (0644 certs)
                os.fchmod(fd, mode)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        if overwrite:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)
            except FileExistsError:
                raise
            except OSError as exc:
                if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
                    raise
                # Filesystem without hard links: best-effort no-clobber.
                if path.exists():
                    raise FileExistsError(errno.EEXIST, "file exists", str(path)) from exc
                os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    _fsync_dir(path.parent)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


# --------------------------------------------------------------------------- issuing


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _make_ca_cert(key: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    now = _now()
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, CA_COMMON_NAME),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, CA_ORGANIZATION),
        ]
    )
    public_key = key.public_key()
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + CA_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(public_key), critical=False
        )
        .sign(key, hashes.SHA256())
    )


def _make_server_cert(
    key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    dns_names: Sequence[str],
    ips: Sequence[_IPAddress],
) -> x509.Certificate:
    now = _now()
    not_after = min(now + SERVER_VALIDITY, ca_cert.not_valid_after_utc)
    ca_ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    sans: list[x509.GeneralName] = [x509.DNSName(n) for n in dns_names]
    sans += [x509.IPAddress(ip) for ip in ips]
    public_key = key.public_key()
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, dns_names[0])]))
        .issuer_name(ca_cert.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(not_after)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )


def _same_public_key(a: x509.Certificate, key: PrivateKeyTypes) -> bool:
    fmt = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return a.public_key().public_bytes(*fmt) == key.public_key().public_bytes(*fmt)


def _server_cert_ok(
    cert: x509.Certificate | None,
    key: ec.EllipticCurvePrivateKey | None,
    ca_cert: x509.Certificate,
    dns_names: Sequence[str],
    ips: Sequence[_IPAddress],
) -> bool:
    """Whether the existing server certificate can be kept as is."""
    if cert is None or key is None or not _same_public_key(cert, key):
        return False
    try:
        cert.verify_directly_issued_by(ca_cert)
    except (ValueError, TypeError, InvalidSignature):
        return False
    now = _now()
    if cert.not_valid_before_utc > now or cert.not_valid_after_utc - now < RENEW_BEFORE:
        return False
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False
    have_dns = {n.lower().rstrip(".") for n in san.get_values_for_type(x509.DNSName)}
    have_ips = set(san.get_values_for_type(x509.IPAddress))
    return set(dns_names) <= have_dns and set(ips) <= have_ips


def _ensure_ca(
    ca_cert_path: Path, ca_key_path: Path
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey | None]:
    """Load the CA, creating it only when no CA certificate exists yet."""
    for _attempt in range(3):
        ca_key = _read_key(ca_key_path)
        ca_cert = _read_cert(ca_cert_path)
        if ca_cert is not None:
            if ca_key is not None and not _same_public_key(ca_cert, ca_key):
                raise CertificateError(
                    f"{ca_key_path} does not match {ca_cert_path}; restore the matching "
                    "CA key (the CA is never regenerated: clients have pinned it)"
                )
            return ca_cert, ca_key
        try:
            if ca_key is None:
                ca_key = _new_key()
                _write_file(ca_key_path, _key_pem(ca_key), _KEY_MODE, overwrite=False)
            # A key without certificate only happens after a crash on first start
            # (no client can have pinned a certificate that was never written).
            ca_cert = _make_ca_cert(ca_key)
            _write_file(ca_cert_path, _cert_pem(ca_cert), _CERT_MODE, overwrite=False)
        except FileExistsError:
            continue  # another process created the CA concurrently: load theirs
        return ca_cert, ca_key
    raise CertificateError(f"could not create or load the CA in {ca_cert_path.parent}")


def ensure_certificates(certs_dir: Path, server_names: Sequence[str] = ()) -> CertificatePaths:
    """Create or refresh the TLS material in ``certs_dir`` and return its paths.

    ``server_names`` are extra host names or IP literals (besides ``localhost``,
    ``127.0.0.1`` and ``::1``) the server certificate must be valid for.

    Raises :class:`InsecureKeyError` if an existing key file is accessible by
    group/others, :class:`CertificateError` if the existing CA is unusable, and
    :class:`ValueError` for an invalid server name.
    """
    certs_dir = Path(certs_dir)
    dns_names, ips = normalize_names(server_names)
    try:
        certs_dir.mkdir(parents=True, mode=_DIR_MODE)
    except FileExistsError:
        if not certs_dir.is_dir():
            raise CertificateError(f"{certs_dir} exists and is not a directory") from None
    else:
        os.chmod(certs_dir, _DIR_MODE)  # mkdir's mode is filtered by the umask

    paths_kw = {
        "ca_cert": certs_dir / CA_CERT_NAME,
        "ca_key": certs_dir / CA_KEY_NAME,
        "server_cert": certs_dir / SERVER_CERT_NAME,
        "server_key": certs_dir / SERVER_KEY_NAME,
    }
    ca_cert, ca_key = _ensure_ca(paths_kw["ca_cert"], paths_kw["ca_key"])

    server_key = _read_key(paths_kw["server_key"])
    try:
        server_cert = _read_cert(paths_kw["server_cert"])
    except CertificateError:
        server_cert = None  # corrupt leaf certificate: simply re-issue it

    if not _server_cert_ok(server_cert, server_key, ca_cert, dns_names, ips):
        if ca_key is None:
            raise CertificateError(
                f"the server certificate must be (re-)issued but the CA key "
                f"{paths_kw['ca_key']} is missing: put it back for one start, then "
                "move it offline again (docs/security.md)"
            )
        now = _now()
        if ca_cert.not_valid_after_utc - now < RENEW_BEFORE:
            raise CertificateError(
                f"the local CA {paths_kw['ca_cert']} expires on "
                f"{ca_cert.not_valid_after_utc:%Y-%m-%d}; remove ca.pem and ca.key to "
                "create a new one (clients will have to trust the new CA)"
            )
        server_key = _new_key()
        server_cert = _make_server_cert(server_key, ca_cert, ca_key, dns_names, ips)
        # Key first: a crash in between leaves a key/cert mismatch, fixed next start.
        _write_file(paths_kw["server_key"], _key_pem(server_key), _KEY_MODE, overwrite=True)
        _write_file(paths_kw["server_cert"], _cert_pem(server_cert), _CERT_MODE, overwrite=True)

    ca_der = ca_cert.public_bytes(serialization.Encoding.DER)
    return CertificatePaths(**paths_kw, ca_fingerprint=fingerprint(ca_der))


# --------------------------------------------------------------------------- contexts

_MIN_VERSIONS = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}


def server_ssl_context(
    paths: CertificatePaths | ExternalCertificate, min_version: str = "1.3"
) -> ssl.SSLContext:
    """Server-side context: TLS >= ``min_version`` ("1.3" or "1.2"), no client certs."""
    try:
        minimum = _MIN_VERSIONS[min_version]
    except KeyError:
        raise ValueError(
            f"unsupported TLS min_version {min_version!r}; use '1.3' or '1.2'"
        ) from None
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = minimum
    ctx.options |= ssl.OP_NO_COMPRESSION | ssl.OP_CIPHER_SERVER_PREFERENCE
    ctx.options |= getattr(ssl, "OP_NO_RENEGOTIATION", 0)
    if minimum is ssl.TLSVersion.TLSv1_2:
        ctx.set_ciphers("ECDHE+AESGCM:ECDHE+CHACHA20")  # TLS 1.2 only: forward secrecy + AEAD
    ctx.verify_mode = ssl.CERT_NONE  # clients authenticate inside the chat protocol
    if isinstance(paths, ExternalCertificate):
        ctx.load_cert_chain(certfile=paths.cert_file, keyfile=paths.key_file)
    else:
        ctx.load_cert_chain(certfile=paths.server_cert, keyfile=paths.server_key)
    return ctx


def client_ssl_context(ca_file: Path | None = None, *, cadata: str | None = None) -> ssl.SSLContext:
    """Verifying client context (hostname checked, TLS >= 1.2) trusting only the given CA.

    The CA comes from ``ca_file`` (a PEM file) and/or ``cadata`` (PEM text); system
    trust anchors are deliberately not loaded.
    """
    if ca_file is None and cadata is None:
        raise ValueError("client_ssl_context needs ca_file or cadata")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.check_hostname = True
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.options |= ssl.OP_NO_COMPRESSION
    ctx.load_verify_locations(cafile=ca_file, cadata=cadata)
    return ctx


# --------------------------------------------------------------------------- from elsewhere


@dataclass(frozen=True)
class ExternalCertificate:
    """A certificate chain and key the operator got elsewhere (``tls_cert_file``).

    ``top_pem`` is the last certificate of the chain the server sends (the
    intermediate, for Let's Encrypt's ``fullchain.pem``): what ``/ca`` hands out
    to a client that trusts on first use.
    """

    cert_file: Path
    key_file: Path
    subject: str
    names: tuple[str, ...]
    not_after: dt.datetime
    fingerprint: str
    top_pem: str
    top_fingerprint: str


def load_external_certificate(cert_file: Path, key_file: Path) -> ExternalCertificate:
    """Check a PEM chain and its key before the server uses them; the reason if not.

    Refused (:class:`CertificateError`): an unreadable or non-PEM file, a key
    that is not the first certificate's, a certificate of the chain expired or
    not yet valid; (:class:`InsecureKeyError`) a key file group/world readable.
    Symlinks are followed (Let's Encrypt's ``live/`` folder).
    """
    try:
        fd = os.open(key_file, os.O_RDONLY)
    except OSError as exc:
        raise CertificateError(f"cannot read tls_key_file {key_file}: {exc.strerror}") from exc
    with os.fdopen(fd, "rb") as fh:
        _check_key_mode(Path(key_file), os.fstat(fh.fileno()).st_mode)
        key_data = fh.read()
    try:
        key = serialization.load_pem_private_key(key_data, password=None)
    except (ValueError, TypeError) as exc:
        raise CertificateError(
            f"tls_key_file {key_file} is not an unencrypted PEM private key ({exc})"
        ) from exc
    try:
        chain_data = Path(cert_file).read_bytes()
    except OSError as exc:
        raise CertificateError(f"cannot read tls_cert_file {cert_file}: {exc.strerror}") from exc
    try:
        chain = x509.load_pem_x509_certificates(chain_data)
    except ValueError as exc:
        raise CertificateError(f"tls_cert_file {cert_file} holds no PEM certificate") from exc
    leaf = chain[0]
    if not _same_public_key(leaf, key):
        raise CertificateError(
            f"tls_key_file {key_file} does not match the certificate in {cert_file} "
            "(a key from another certificate, or an older one?)"
        )
    now = _now()
    for cert in chain:
        subject = cert.subject.rfc4514_string()
        if cert.not_valid_after_utc <= now:
            raise CertificateError(
                f"the certificate {subject!r} in {cert_file} expired on "
                f"{cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC: renew it"
            )
        if cert.not_valid_before_utc > now:
            raise CertificateError(
                f"the certificate {subject!r} in {cert_file} is not valid before "
                f"{cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC (check the clock)"
            )
    # What OpenSSL itself will say, before the live context is touched.
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(cert_file, key_file)
    except ssl.SSLError as exc:
        raise CertificateError(f"OpenSSL refuses {cert_file} with {key_file}: {exc}") from exc
    try:
        san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = tuple(san.get_values_for_type(x509.DNSName)) + tuple(
            str(ip) for ip in san.get_values_for_type(x509.IPAddress)
        )
    except x509.ExtensionNotFound:
        names = ()
    top = chain[-1]
    return ExternalCertificate(
        cert_file=Path(cert_file),
        key_file=Path(key_file),
        subject=leaf.subject.rfc4514_string(),
        names=names,
        not_after=min(cert.not_valid_after_utc for cert in chain),
        fingerprint=fingerprint(leaf.public_bytes(serialization.Encoding.DER)),
        top_pem=_cert_pem(top).decode("ascii"),
        top_fingerprint=fingerprint(top.public_bytes(serialization.Encoding.DER)),
    )


def reload_external_certificate(
    context: ssl.SSLContext, cert_file: Path, key_file: Path
) -> ExternalCertificate:
    """Check a renewed chain, then load it into the live context.

    Handshakes from now on get the new certificate; connections already open
    keep their session. Nothing changes when the new files are refused.
    """
    certificate = load_external_certificate(cert_file, key_file)
    context.load_cert_chain(certfile=cert_file, keyfile=key_file)
    return certificate
