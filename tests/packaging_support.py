"""Shared by the packaging tests: build the wheel once per session, time the slow steps,
a bare Debian bookworm (podman) to install into."""

from __future__ import annotations

import contextlib
import fcntl
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from .support import ROOT

PACKAGING = ROOT / "packaging"


def run(
    command: list[str], *, timeout: float = 600, **kwargs: object
) -> subprocess.CompletedProcess[str]:
    """Run ``command``; fail the test with its output when it fails."""
    started = time.monotonic()
    completed = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=timeout,
        **kwargs,  # type: ignore[arg-type]
    )
    took = time.monotonic() - started
    print(f"[{took:5.1f} s] {' '.join(map(str, command))[:160]}")
    if completed.returncode != 0:
        raise AssertionError(
            f"{command} exited {completed.returncode}\n"
            f"--- stdout\n{completed.stdout[-4000:]}\n--- stderr\n{completed.stderr[-4000:]}"
        )
    return completed


def build_wheel(out: Path) -> Path:
    """``python -m build --wheel``, as packaging/README.md says; returns the wheel."""
    run([sys.executable, "-m", "build", "--wheel", "--outdir", str(out), str(ROOT)], cwd=out)
    (wheel,) = out.glob("tchatator-*.whl")
    return wheel


# --- a bare Debian bookworm ----------------------------------------------------------------

BOOKWORM = "localhost/debian:bookworm-slim"
# Per machine: what outlives a test run (a lock, apt's lists and downloads).
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "tchatator-tests"


@contextlib.contextmanager
def machine_lock(name: str) -> Iterator[None]:
    """One holder at a time on this machine (two suites, or two xdist workers)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def bookworm_base() -> str:
    """The podman image of a minimal bookworm, made once per machine with debootstrap
    (minutes, from Debian's mirror): packaging/debootstrap-base.sh."""
    with machine_lock("bookworm-base"):
        if subprocess.run(["podman", "image", "exists", BOOKWORM]).returncode != 0:
            started = time.monotonic()
            run([str(PACKAGING / "debootstrap-base.sh"), BOOKWORM], timeout=1200)
            print(f"debootstrap base: {time.monotonic() - started:.0f} s")
    return BOOKWORM


@contextlib.contextmanager
def mounted_container(image: str, binds: dict[str, Path]) -> Iterator[Path]:
    """A container's files (the image plus a writable layer of its own, as
    ``podman run`` gives), with volumes bind-mounted, /dev and /proc.

    A container, not the image itself: two test runs at once (two checkouts)
    mount the same image at the same place, and bound their volumes over each
    other's; each container has a root of its own. Removed on leaving."""
    container = f"tchatator-test-{os.getpid()}-{time.monotonic_ns()}"
    run(["podman", "create", "--name", container, image, "/bin/true"], timeout=300)
    mount = Path(run(["podman", "mount", container], timeout=300).stdout.strip())
    done: list[Path] = []
    try:
        for inside, outside in binds.items():
            target = mount / inside.lstrip("/")
            run(["mount", "--bind", str(outside), str(target)])
            done.append(target)
        for inside in ("dev", "dev/shm"):
            run(["mount", "--bind", f"/{inside}", str(mount / inside)])
            done.append(mount / inside)
        run(["mount", "-t", "proc", "proc", str(mount / "proc")])
        done.append(mount / "proc")
        yield mount
    finally:
        for target in reversed(done):
            subprocess.run(["umount", "-l", str(target)], capture_output=True)
        subprocess.run(["podman", "unmount", container], capture_output=True)
        subprocess.run(["podman", "rm", "-f", container], capture_output=True)


def clean_environment(**extra: str) -> dict[str, str]:
    """What a user's shell has: no venv on PATH, no PYTHONPATH into this checkout."""
    keep = (
        "HOME",
        "LANG",
        "LC_ALL",
        "TMPDIR",
        "PIP_INDEX_URL",
        "PIP_EXTRA_INDEX_URL",
        "PIP_CONFIG_FILE",
        "PIP_FIND_LINKS",
        "PIP_TRUSTED_HOST",
        "SSL_CERT_FILE",
    )
    environment = {key: os.environ[key] for key in keep if key in os.environ}
    environment["PATH"] = "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"
    environment.update(extra)
    return environment


# --- a throwaway public-like CA (tls_cert_file tests) -----------------------------------


class ThrowawayCA:
    """A CA standing for a public one (Let's Encrypt): it signs server certificates."""

    def __init__(self, folder: Path) -> None:
        import datetime as dt

        from cryptography import x509
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Throwaway Root CA")])
        now = dt.datetime.now(dt.UTC)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
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
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(self.key.public_key()), critical=False
            )
            .sign(self.key, hashes.SHA256())
        )
        self.pem_file = folder / "throwaway-ca.pem"
        self.pem_file.write_bytes(self._pem(self.cert))

    @staticmethod
    def _pem(cert: object) -> bytes:
        from cryptography.hazmat.primitives import serialization

        return cert.public_bytes(serialization.Encoding.PEM)  # type: ignore[attr-defined]

    def issue(
        self, name: str, *, days: float = 90, past: float = 1, key_mode: int = 0o600
    ) -> tuple[Path, Path, str]:
        """fullchain.pem + privkey.pem for ``name`` (+ localhost, 127.0.0.1); its fingerprint."""
        import datetime as dt
        import hashlib
        import ipaddress

        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=past))
            .not_valid_after(now + dt.timedelta(days=days))
            .add_extension(
                x509.SubjectAlternativeName(
                    [
                        x509.DNSName(name),
                        x509.DNSName("localhost"),
                        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                    ]
                ),
                critical=False,
            )
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(self.key, hashes.SHA256())
        )
        chain = self.folder / "fullchain.pem"
        private = self.folder / "privkey.pem"
        chain.write_bytes(self._pem(cert))
        private.unlink(missing_ok=True)
        fd = os.open(private, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(
                key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
            )
        os.chmod(private, key_mode)
        digest = hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()
        return chain, private, digest
