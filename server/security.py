"""Keys, digests and session tokens.

API keys are random (256 bits), so a keyed fast hash is the right storage:
``HMAC-SHA256(server_secret, key)``. A slow password hash would turn every
``/connexion`` into a denial-of-service lever (dependency-notes). On SQLite
the server secret lives in a 0600 file outside the database, so a stolen
database alone does not let anyone test keys. On PostgreSQL it lives in the
database (``server.cluster.server_secret``) so that N instances share it
without copying files: there the database's own access control guards it.

Session tokens (Pactocole section 4) are stateless: the user id, the issue
time and 128 random bits, signed with an HMAC that also covers the user's
current key digest. Rotating a key therefore kills its tokens, and logging in
costs no database write; ``/deconnexion`` records the token's nonce as revoked.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import struct
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .config import Settings

__all__ = [
    "SECRET_BYTES",
    "InsecureFileError",
    "TokenClaims",
    "admin_digest_path",
    "digest_key",
    "load_or_create_secret",
    "new_api_key",
    "read_private_file",
    "resolve_admin_digest",
    "sign_token",
    "verify_token",
    "write_private_file",
]

SECRET_BYTES = 32
API_KEY_BYTES = 32
NONCE_BYTES = 16  # the token's random part: 128 bits (section 4)
MAC_BYTES = 16
TOKEN_PREFIX = "s."
MAX_USER_ID = 2**53
_TOKEN_LAYOUT = struct.Struct(">QQ")  # user id, issued at (milliseconds: a ttl of 1 s works)


class InsecureFileError(Exception):
    """A secret file can be read by others than its owner."""


def new_api_key() -> str:
    return secrets.token_urlsafe(API_KEY_BYTES)


def digest_key(secret: bytes, key: str) -> str:
    return hmac.new(secret, key.encode("utf-8"), hashlib.sha256).hexdigest()


def write_private_file(path: Path, data: bytes) -> None:
    """Create ``path`` with mode 0600 from the start, then move it in place."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(descriptor, data)
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
    os.replace(temporary, path)


def read_private_file(path: Path) -> bytes:
    """Read a secret file, refusing one that others can read."""
    mode = path.stat().st_mode
    if mode & 0o077:
        raise InsecureFileError(
            f"{path} is readable by others (mode {mode & 0o777:o}); run: chmod 600 {path}"
        )
    return path.read_bytes()


def load_or_create_secret(path: Path) -> bytes:
    """The server secret that keys every digest; created on first use."""
    try:
        data = read_private_file(path)
    except FileNotFoundError:
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return load_or_create_secret(path)  # another process won the race
        try:
            os.write(descriptor, secrets.token_bytes(SECRET_BYTES).hex().encode())
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        data = read_private_file(path)
    secret = bytes.fromhex(data.decode().strip())
    if len(secret) < SECRET_BYTES:
        raise InsecureFileError(f"{path} holds a secret shorter than {SECRET_BYTES} bytes")
    return secret


@dataclass(frozen=True, slots=True)
class TokenClaims:
    user_id: int
    issued_at: float  # seconds since the epoch
    nonce: bytes

    @property
    def nonce_hex(self) -> str:
        return self.nonce.hex()


def _mac(secret: bytes, payload: bytes, key_digest: str) -> bytes:
    message = payload + key_digest.encode("ascii")
    return hmac.new(secret, message, hashlib.sha256).digest()[:MAC_BYTES]


def sign_token(secret: bytes, user_id: int, key_digest: str, now: float | None = None) -> str:
    issued = int((time.time() if now is None else now) * 1000)
    payload = _TOKEN_LAYOUT.pack(user_id, issued) + secrets.token_bytes(NONCE_BYTES)
    raw = payload + _mac(secret, payload, key_digest)
    return TOKEN_PREFIX + base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def parse_token(token: str) -> tuple[TokenClaims, bytes, bytes] | None:
    """Split a token into claims, signed payload and MAC; None if malformed."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    encoded = token[len(TOKEN_PREFIX) :]
    try:
        raw = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
    except (ValueError, TypeError):
        return None
    expected = _TOKEN_LAYOUT.size + NONCE_BYTES + MAC_BYTES
    if len(raw) != expected:
        return None
    payload, mac = raw[:-MAC_BYTES], raw[-MAC_BYTES:]
    user_id, issued = _TOKEN_LAYOUT.unpack_from(payload)
    if user_id > MAX_USER_ID:
        return None  # cannot be ours, and would overflow the database's integers
    return TokenClaims(user_id, issued / 1000, payload[_TOKEN_LAYOUT.size :]), payload, mac


def verify_token(
    secret: bytes, payload: bytes, mac: bytes, key_digest: str, *, issued_at: float, ttl: int
) -> bool:
    """True when the MAC matches the user's current key and the token is fresh."""
    if not hmac.compare_digest(mac, _mac(secret, payload, key_digest)):
        return False
    return issued_at + ttl > time.time()


# --- the admin key ------------------------------------------------------------------


def admin_digest_path(settings: Settings) -> Path:
    return settings.data_dir / "admin_key.digest"


def resolve_admin_digest(settings: Settings, secret: bytes) -> tuple[str, str | None]:
    """The admin key's digest, and the key itself when it was just generated.

    ``admin_api_key`` from the file wins; when it is empty, a key generated at
    the first start is used: only its digest is kept (0600), the key is shown
    once. The digest is kept only while that key is the one in force: set
    ``admin_api_key`` and it is deleted, so emptying the key again later
    generates a fresh one instead of reviving the old.
    """
    path = admin_digest_path(settings)
    if settings.admin_api_key:
        path.unlink(missing_ok=True)
        return digest_key(secret, settings.admin_api_key), None
    try:
        return read_private_file(path).decode().strip(), None
    except FileNotFoundError:
        key = new_api_key()
        digest = digest_key(secret, key)
        write_private_file(path, digest.encode())
        return digest, key
