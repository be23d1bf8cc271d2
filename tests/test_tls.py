"""Tests for server.tls: real files in tmp_path, real TLS handshakes over loopback."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
import shutil
import socket
import ssl
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from server import tls
from server.tls import (
    CertificateError,
    CertificatePaths,
    InsecureKeyError,
    ca_pem_text,
    client_ssl_context,
    ensure_certificates,
    fingerprint,
    server_ssl_context,
)

# --------------------------------------------------------------------------- helpers


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def _file_id(path: Path) -> tuple[int, int, bytes]:
    st = path.stat()
    return st.st_ino, st.st_mtime_ns, path.read_bytes()


def _sans(
    cert: x509.Certificate,
) -> tuple[set[str], set[ipaddress.IPv4Address | ipaddress.IPv6Address]]:
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return set(san.get_values_for_type(x509.DNSName)), set(san.get_values_for_type(x509.IPAddress))


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        writer.write(await reader.readline())
        await writer.drain()
    except (ConnectionError, ssl.SSLError):
        pass
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError, ssl.SSLError):
            await writer.wait_closed()


async def _handshake_async(
    server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext, host: str, server_hostname: str
) -> str:
    server = await asyncio.start_server(_echo, host, 0, ssl=server_ctx)
    async with server:
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port, ssl=client_ctx, server_hostname=server_hostname),
            timeout=5,
        )
        try:
            version = writer.get_extra_info("ssl_object").version()
            writer.write(b"ping\n")
            await writer.drain()
            assert await asyncio.wait_for(reader.readline(), timeout=5) == b"ping\n"
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError, ssl.SSLError):
                await writer.wait_closed()
    return version


def handshake(
    server_ctx: ssl.SSLContext,
    client_ctx: ssl.SSLContext,
    host: str = "127.0.0.1",
    server_hostname: str = "localhost",
) -> str:
    """Connect a real TLS client to a real asyncio TLS server; return the TLS version."""
    return asyncio.run(_handshake_async(server_ctx, client_ctx, host, server_hostname))


def _ipv6_loopback_available() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> CertificatePaths:
    """One read-only PKI shared by the tests that do not modify files."""
    return ensure_certificates(tmp_path_factory.mktemp("shared") / "certs")


@pytest.fixture
def restore_umask() -> Iterator[None]:
    old = os.umask(0o022)
    os.umask(old)
    try:
        yield
    finally:
        os.umask(old)


# --------------------------------------------------------------------------- creation


def test_first_call_creates_files_with_safe_modes(tmp_path: Path) -> None:
    certs_dir = tmp_path / "nested" / "certs"
    paths = ensure_certificates(certs_dir)

    assert paths.ca_cert == certs_dir / "ca.pem"
    assert paths.ca_key == certs_dir / "ca.key"
    assert paths.server_cert == certs_dir / "server.pem"
    assert paths.server_key == certs_dir / "server.key"
    assert _mode(certs_dir) == 0o700
    assert _mode(paths.ca_key) == 0o600
    assert _mode(paths.server_key) == 0o600
    assert _mode(paths.ca_cert) == 0o644
    assert _mode(paths.server_cert) == 0o644
    for key in (paths.ca_key, paths.server_key):
        text = key.read_text()
        assert text.startswith("-----BEGIN PRIVATE KEY-----")  # PKCS#8, unencrypted
    assert sorted(p.name for p in certs_dir.iterdir()) == [
        "ca.key",
        "ca.pem",
        "server.key",
        "server.pem",
    ]  # no temp files left behind


@pytest.mark.parametrize("umask", [0o000, 0o077])
def test_modes_do_not_depend_on_umask(tmp_path: Path, umask: int, restore_umask: None) -> None:
    os.umask(umask)
    paths = ensure_certificates(tmp_path / "certs")
    assert _mode(tmp_path / "certs") == 0o700
    assert _mode(paths.ca_key) == _mode(paths.server_key) == 0o600
    assert _mode(paths.ca_cert) == _mode(paths.server_cert) == 0o644


def test_existing_directory_is_used(tmp_path: Path) -> None:
    paths = ensure_certificates(tmp_path)
    assert paths.ca_cert.parent == tmp_path
    assert paths.server_key.exists()


def test_fingerprint_format_and_value(certs: CertificatePaths) -> None:
    der = _load(certs.ca_cert).public_bytes(Encoding.DER)
    assert certs.ca_fingerprint == fingerprint(der)
    parts = certs.ca_fingerprint.split(":")
    assert len(parts) == 32
    assert all(len(p) == 2 and p == p.upper() and int(p, 16) >= 0 for p in parts)
    assert fingerprint(b"") == (
        "E3:B0:C4:42:98:FC:1C:14:9A:FB:F4:C8:99:6F:B9:24:"
        "27:AE:41:E4:64:9B:93:4C:A4:95:99:1B:78:52:B8:55"
    )


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl CLI not installed")
def test_fingerprint_matches_openssl(certs: CertificatePaths) -> None:
    out = subprocess.run(
        ["openssl", "x509", "-in", str(certs.ca_cert), "-noout", "-fingerprint", "-sha256"],
        check=True,
        capture_output=True,
        text=True,
        timeout=10,
    ).stdout
    assert out.split("=", 1)[1].strip() == certs.ca_fingerprint


def test_ca_pem_text(certs: CertificatePaths) -> None:
    text = ca_pem_text(certs)
    assert text.startswith("-----BEGIN CERTIFICATE-----")
    assert text == certs.ca_cert.read_text()


# --------------------------------------------------------------------------- profile


def test_certificate_profile(certs: CertificatePaths) -> None:
    ca = _load(certs.ca_cert)
    leaf = _load(certs.server_cert)

    # CA: self-signed, strict RFC 5280 profile.
    assert ca.subject == ca.issuer
    assert ca.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "Tchatator local CA"
    assert ca.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "Tchatator"
    ca.verify_directly_issued_by(ca)
    bc = ca.extensions.get_extension_for_class(x509.BasicConstraints)
    assert bc.critical and bc.value.ca and bc.value.path_length == 0
    ku = ca.extensions.get_extension_for_class(x509.KeyUsage)
    assert ku.critical
    assert ku.value.key_cert_sign and ku.value.crl_sign and ku.value.digital_signature
    ca_ski = ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    ca_aki = ca.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier)
    assert not ca_ski.critical and not ca_aki.critical
    assert ca_aki.value.key_identifier == ca_ski.value.digest
    ca_life = ca.not_valid_after_utc - ca.not_valid_before_utc
    assert 3650 <= ca_life.days <= 3651
    assert ca.public_key().curve.name == "secp256r1"

    # Leaf: issued by the CA, serverAuth, SANs.
    leaf.verify_directly_issued_by(ca)
    assert leaf.issuer == ca.subject
    assert leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "localhost"
    bc = leaf.extensions.get_extension_for_class(x509.BasicConstraints)
    assert bc.critical and not bc.value.ca
    ku = leaf.extensions.get_extension_for_class(x509.KeyUsage)
    assert ku.critical and ku.value.digital_signature
    assert not ku.value.key_cert_sign and not ku.value.crl_sign
    eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert list(eku.value) == [ExtendedKeyUsageOID.SERVER_AUTH]
    leaf_ski = leaf.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    assert leaf_ski.value == x509.SubjectKeyIdentifier.from_public_key(leaf.public_key())
    leaf_aki = leaf.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier)
    assert leaf_aki.value.key_identifier == ca_ski.value.digest
    dns, ips = _sans(leaf)
    assert dns == {"localhost"}
    assert ips == {ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1")}
    assert (leaf.not_valid_after_utc - leaf.not_valid_before_utc).days == 397
    assert leaf.public_key().curve.name == "secp256r1"


# --------------------------------------------------------------------------- handshakes


def test_tls13_handshake_localhost(certs: CertificatePaths) -> None:
    client = client_ssl_context(certs.ca_cert)
    assert client.check_hostname and client.verify_mode == ssl.CERT_REQUIRED
    assert client.minimum_version == ssl.TLSVersion.TLSv1_2
    version = handshake(server_ssl_context(certs), client, "127.0.0.1", "localhost")
    assert version == "TLSv1.3"


def test_tls13_handshake_ip_literal(certs: CertificatePaths) -> None:
    client = client_ssl_context(certs.ca_cert)
    assert handshake(server_ssl_context(certs), client, "127.0.0.1", "127.0.0.1") == "TLSv1.3"


@pytest.mark.skipif(not _ipv6_loopback_available(), reason="no IPv6 loopback")
def test_tls13_handshake_ipv6(certs: CertificatePaths) -> None:
    client = client_ssl_context(certs.ca_cert)
    assert handshake(server_ssl_context(certs), client, "::1", "::1") == "TLSv1.3"


def test_handshake_with_cadata(certs: CertificatePaths) -> None:
    client = client_ssl_context(cadata=ca_pem_text(certs))
    assert handshake(server_ssl_context(certs), client) == "TLSv1.3"


@pytest.mark.skipif(not hasattr(ssl, "VERIFY_X509_STRICT"), reason="no VERIFY_X509_STRICT")
def test_strict_x509_verification_accepts_chain(certs: CertificatePaths) -> None:
    client = client_ssl_context(certs.ca_cert)
    client.verify_flags |= ssl.VERIFY_X509_STRICT
    assert handshake(server_ssl_context(certs), client) == "TLSv1.3"
    # Python 3.13's default client context has X509_STRICT on: must work as well.
    default = ssl.create_default_context(cafile=str(certs.ca_cert))
    default.verify_flags |= ssl.VERIFY_X509_STRICT
    assert handshake(server_ssl_context(certs), default) == "TLSv1.3"


def test_wrong_hostname_is_rejected(certs: CertificatePaths) -> None:
    client = client_ssl_context(certs.ca_cert)
    with pytest.raises(ssl.SSLCertVerificationError):
        handshake(server_ssl_context(certs), client, "127.0.0.1", "chat.example.org")


def test_other_ca_is_not_trusted(certs: CertificatePaths, tmp_path: Path) -> None:
    other = ensure_certificates(tmp_path / "other")
    assert other.ca_fingerprint != certs.ca_fingerprint
    client = client_ssl_context(other.ca_cert)
    with pytest.raises(ssl.SSLCertVerificationError):
        handshake(server_ssl_context(certs), client)


def test_client_context_needs_a_ca() -> None:
    with pytest.raises(ValueError):
        client_ssl_context()


def test_min_version_12(certs: CertificatePaths) -> None:
    server = server_ssl_context(certs, min_version="1.2")
    assert server.minimum_version == ssl.TLSVersion.TLSv1_2
    assert server.options & ssl.OP_NO_COMPRESSION
    assert server.verify_mode == ssl.CERT_NONE
    client = client_ssl_context(certs.ca_cert)
    client.maximum_version = ssl.TLSVersion.TLSv1_2
    assert handshake(server, client) == "TLSv1.2"


def test_min_version_13_refuses_tls12_client(certs: CertificatePaths) -> None:
    server = server_ssl_context(certs)
    assert server.minimum_version == ssl.TLSVersion.TLSv1_3
    client = client_ssl_context(certs.ca_cert)
    client.maximum_version = ssl.TLSVersion.TLSv1_2
    with pytest.raises((ssl.SSLError, ConnectionError)):
        handshake(server, client)


@pytest.mark.parametrize("bad", ["1.0", "1.1", "tls1.3", ""])
def test_min_version_invalid(certs: CertificatePaths, bad: str) -> None:
    with pytest.raises(ValueError):
        server_ssl_context(certs, min_version=bad)


# --------------------------------------------------------------------------- renewal


def test_second_call_reuses_everything(tmp_path: Path) -> None:
    first = ensure_certificates(tmp_path / "certs")
    before = {
        p: _file_id(p) for p in (first.ca_cert, first.ca_key, first.server_cert, first.server_key)
    }

    second = ensure_certificates(tmp_path / "certs")

    assert second == first
    assert {p: _file_id(p) for p in before} == before


def test_new_server_names_reissue_server_cert_only(tmp_path: Path) -> None:
    first = ensure_certificates(tmp_path / "certs")
    ca_before = _file_id(first.ca_cert), _file_id(first.ca_key)
    leaf_before = first.server_cert.read_bytes()

    names = ("chat.example.org", "10.1.2.3")
    second = ensure_certificates(tmp_path / "certs", names)

    assert second.ca_fingerprint == first.ca_fingerprint
    assert (_file_id(first.ca_cert), _file_id(first.ca_key)) == ca_before
    assert second.server_cert.read_bytes() != leaf_before
    assert _mode(second.server_key) == 0o600
    leaf = _load(second.server_cert)
    leaf.verify_directly_issued_by(_load(second.ca_cert))
    dns, ips = _sans(leaf)
    assert dns == {"localhost", "chat.example.org"}
    assert ips == {ipaddress.ip_address(a) for a in ("127.0.0.1", "::1", "10.1.2.3")}
    assert leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "localhost"

    # The new name really verifies, and the re-issued pair is usable.
    client = client_ssl_context(second.ca_cert)
    assert (
        handshake(server_ssl_context(second), client, "127.0.0.1", "chat.example.org") == "TLSv1.3"
    )

    # Same names again, or a subset of them: nothing is rewritten.
    leaf_id = _file_id(second.server_cert)
    ensure_certificates(tmp_path / "certs", ["CHAT.example.org"])
    ensure_certificates(tmp_path / "certs")
    assert _file_id(second.server_cert) == leaf_id


def test_missing_server_cert_is_reissued(tmp_path: Path) -> None:
    first = ensure_certificates(tmp_path)
    first.server_cert.unlink()
    second = ensure_certificates(tmp_path)
    assert second.ca_fingerprint == first.ca_fingerprint
    _load(second.server_cert).verify_directly_issued_by(_load(second.ca_cert))


def test_expiring_server_cert_is_reissued(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import datetime as dt

    monkeypatch.setattr(tls, "SERVER_VALIDITY", dt.timedelta(days=10))
    first = ensure_certificates(tmp_path)
    short = _load(first.server_cert)
    monkeypatch.undo()

    second = ensure_certificates(tmp_path)
    renewed = _load(second.server_cert)
    assert renewed.serial_number != short.serial_number
    assert (renewed.not_valid_after_utc - renewed.not_valid_before_utc).days == 397
    assert second.ca_fingerprint == first.ca_fingerprint


def test_mismatched_server_key_is_reissued(tmp_path: Path) -> None:
    first = ensure_certificates(tmp_path / "a")
    other = ensure_certificates(tmp_path / "b")
    shutil.copyfile(other.server_key, first.server_key)  # keeps the 0600 mode
    second = ensure_certificates(tmp_path / "a")
    assert second.ca_fingerprint == first.ca_fingerprint
    assert handshake(server_ssl_context(second), client_ssl_context(second.ca_cert)) == "TLSv1.3"


def test_ca_is_never_regenerated(tmp_path: Path) -> None:
    first = ensure_certificates(tmp_path)
    ca_bytes = first.ca_cert.read_bytes()

    # Without the CA key the existing leaf is still served (CA key may live offline) ...
    first.ca_key.unlink()
    assert ensure_certificates(tmp_path).ca_fingerprint == first.ca_fingerprint
    # ... but a re-issue is impossible and must not silently create a new CA.
    with pytest.raises(CertificateError, match="CA key"):
        ensure_certificates(tmp_path, ["chat.example.org"])
    assert first.ca_cert.read_bytes() == ca_bytes
    assert not first.ca_key.exists()

    # A corrupt CA certificate is an error, never a reason to regenerate.
    first.ca_cert.write_text("garbage")
    with pytest.raises(CertificateError):
        ensure_certificates(tmp_path)
    assert first.ca_cert.read_text() == "garbage"


def test_ca_key_without_cert_after_crash(tmp_path: Path) -> None:
    first = ensure_certificates(tmp_path)
    key_bytes = first.ca_key.read_bytes()
    old_ca = _load(first.ca_cert)
    first.ca_cert.unlink()
    second = ensure_certificates(tmp_path)
    assert second.ca_key.read_bytes() == key_bytes
    new_ca = _load(second.ca_cert)
    assert new_ca.public_key() == old_ca.public_key()  # same key, new self-signed cert
    assert _mode(second.ca_cert) == 0o644
    _load(second.server_cert).verify_directly_issued_by(_load(second.ca_cert))


# --------------------------------------------------------------------------- permissions


@pytest.mark.parametrize("key_name", ["server.key", "ca.key"])
def test_readable_key_is_refused(tmp_path: Path, key_name: str) -> None:
    ensure_certificates(tmp_path)
    key = tmp_path / key_name
    key.chmod(0o644)
    with pytest.raises(InsecureKeyError) as excinfo:
        ensure_certificates(tmp_path)
    message = str(excinfo.value)
    assert str(key) in message
    assert "chmod 600" in message
    assert isinstance(excinfo.value, CertificateError)
    assert _mode(key) == 0o644  # reported, not silently "fixed" or replaced


def test_group_writable_key_is_refused(tmp_path: Path) -> None:
    paths = ensure_certificates(tmp_path)
    paths.server_key.chmod(0o620)
    with pytest.raises(InsecureKeyError):
        ensure_certificates(tmp_path)


# --------------------------------------------------------------------------- names


def test_server_names_normalisation(tmp_path: Path) -> None:
    paths = ensure_certificates(
        tmp_path, ["Chat.Example.ORG.", " [2001:db8::1] ", "localhost", "127.0.0.1", "café.example"]
    )
    dns, ips = _sans(_load(paths.server_cert))
    assert dns == {"localhost", "chat.example.org", "xn--caf-dma.example"}
    assert ips == {ipaddress.ip_address(a) for a in ("127.0.0.1", "::1", "2001:db8::1")}


@pytest.mark.parametrize("bad", ["", "  ", "a b", "host/x", "user@host"])
def test_invalid_server_name(tmp_path: Path, bad: str) -> None:
    with pytest.raises(ValueError):
        ensure_certificates(tmp_path, [bad])
