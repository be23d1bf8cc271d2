"""Operating a server: ``backup``, ``restore`` and ``check`` (docs/operations.md).

``backup`` copies a live SQLite database with SQLite's online backup API: one
step, so the copy is the database as it was at one instant, while the server
keeps writing (WAL readers do not block the writer). PostgreSQL has its own
tool for that: ``pg_dump``.

``check`` is for monitoring: it reads, creates nothing, and says what is wrong
with an exit code per kind of problem (``CHECK_EXIT_CODES``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import socket
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

from . import tls
from .config import Settings

__all__ = [
    "CHECK_CERTIFICATE",
    "CHECK_CONFIG",
    "CHECK_DATABASE",
    "CHECK_EXIT_CODES",
    "CHECK_OK",
    "BackupError",
    "CheckReport",
    "backup",
    "check",
    "restore",
]

CHECK_OK = 0
CHECK_CONFIG = 2  # the configuration file is missing or invalid (as for every command)
CHECK_DATABASE = 3  # the database is unreachable, missing or not migrated
CHECK_CERTIFICATE = 4  # the certificate is refused or expires within --days
CHECK_EXIT_CODES = {
    CHECK_OK: "everything checked is fine",
    CHECK_CONFIG: "configuration missing or invalid",
    CHECK_DATABASE: "database unreachable, missing or not migrated",
    CHECK_CERTIFICATE: "certificate refused or expiring within --days",
}
SQLITE_PREFIX = "sqlite:///"
BUSY_TIMEOUT_MS = 30_000


class BackupError(Exception):
    """A backup or restore that cannot be done; the message says why."""


def _sqlite_path(settings: Settings, what: str) -> Path:
    url = settings.database_url
    if not url.startswith(SQLITE_PREFIX) or ":memory:" in url:
        raise BackupError(
            f"{what} copies SQLite databases; this server uses {url.split(':', 1)[0]}: "
            "use pg_dump / pg_restore (docs/operations.md, Backups)"
        )
    return Path(sa.engine.make_url(url).database or "")


def _copy(source: sqlite3.Connection, target_path: Path) -> None:
    """Copy ``source`` into a new file at ``target_path`` (0600), never partially."""
    temporary = target_path.with_name(f".{target_path.name}.partial")
    with contextlib.suppress(FileNotFoundError):
        temporary.unlink()
    os.close(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    try:
        target = sqlite3.connect(temporary)
        try:
            # pages=-1 (the default): the whole database in one step, under one
            # read transaction, so the copy is one instant of the database.
            source.backup(target)
            target.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
            (verdict,) = target.execute("PRAGMA integrity_check").fetchone()
            if verdict != "ok":
                raise BackupError(f"the copy failed its integrity check: {verdict}")
        finally:
            target.close()
        fd = os.open(temporary, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temporary, target_path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()


def _messages(connection: sqlite3.Connection) -> int:
    try:
        return int(connection.execute("SELECT count(*) FROM messages").fetchone()[0])
    except sqlite3.Error:
        return -1


def backup(settings: Settings, target: Path) -> dict[str, object]:
    """Copy the live SQLite database to ``target`` (which must not exist)."""
    source_path = _sqlite_path(settings, "backup")
    if not source_path.exists():
        raise BackupError(f"no database at {source_path} (the server creates it at first start)")
    target = target.expanduser().resolve()
    if target.exists():
        raise BackupError(f"{target} exists: choose a new file name (a backup never overwrites)")
    if not target.parent.is_dir():
        raise BackupError(f"{target.parent} is not a folder")
    source = sqlite3.connect(source_path, timeout=BUSY_TIMEOUT_MS / 1000)
    try:
        _copy(source, target)
    finally:
        source.close()
    with contextlib.closing(sqlite3.connect(target)) as copy:
        messages = _messages(copy)
    return {
        "backup": str(target),
        "bytes": target.stat().st_size,
        "messages": messages,
        "keep_also": str(settings.data_dir / "secret.key"),
    }


def restore(settings: Settings, source: Path) -> dict[str, object]:
    """Put a backup in place of the database; the current one is kept aside.

    The server must be stopped (its caches would not know the restored data).
    """
    target = _sqlite_path(settings, "restore")
    source = source.expanduser().resolve()
    if not source.is_file():
        raise BackupError(f"no backup file {source}")
    if _listening(settings.host, settings.port):
        raise BackupError(
            f"a server answers on {settings.host}:{settings.port}: stop it first "
            "(systemctl stop tchatator), then restore"
        )
    backup_db = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    try:
        try:
            (verdict,) = backup_db.execute("PRAGMA integrity_check").fetchone()
            tables = {row[0] for row in backup_db.execute("SELECT name FROM sqlite_master")}
        except sqlite3.DatabaseError as error:
            raise BackupError(f"{source} is not a SQLite database ({error})") from None
        if verdict != "ok":
            raise BackupError(f"{source} fails its integrity check: {verdict}")
        if not {"alembic_version", "messages", "users"} <= tables:
            raise BackupError(f"{source} is not a Tchatator database (tables: {sorted(tables)})")
        kept_aside = None
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        if target.exists():
            stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
            kept_aside = target.with_name(f"{target.name}.before-restore-{stamp}")
            # The database and its WAL move together: nothing committed is lost.
            with contextlib.closing(sqlite3.connect(target)) as current:
                current.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            os.replace(target, kept_aside)
            for suffix in ("-wal", "-shm"):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(f"{target}{suffix}")
        _copy(backup_db, target)
        messages = _messages(backup_db)
    finally:
        backup_db.close()
    return {
        "restored": str(target),
        "from": str(source),
        "messages": messages,
        "previous_database": str(kept_aside) if kept_aside else None,
    }


def _listening(host: str, port: int) -> bool:
    if not port:
        return False
    address = "127.0.0.1" if host in ("0.0.0.0", "", "::") else host
    try:
        with socket.create_connection((address, port), timeout=1):
            return True
    except OSError:
        return False


# --- check -----------------------------------------------------------------------------


@dataclass
class CheckReport:
    lines: list[str] = field(default_factory=list)
    status: int = CHECK_OK

    def ok(self, text: str) -> None:
        self.lines.append(f"ok: {text}")

    def fail(self, status: int, text: str) -> None:
        self.lines.append(f"FAILED: {text}")
        if self.status == CHECK_OK:
            self.status = status


def check(settings: Settings, days: int) -> CheckReport:
    """Configuration (already loaded by the caller), database, certificate."""
    report = CheckReport()
    report.ok(f"configuration {settings.source or '(embedded defaults)'}")
    _check_database(settings, report)
    _check_certificate(settings, days, report)
    return report


def _check_database(settings: Settings, report: CheckReport) -> None:
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    from .storage.db import MIGRATIONS, make_engine

    url = settings.database_url
    shown = sa.engine.make_url(url).render_as_string(hide_password=True)
    if url.startswith(SQLITE_PREFIX) and ":memory:" not in url:
        path = Path(sa.engine.make_url(url).database or "")
        if not path.exists():
            report.fail(
                CHECK_DATABASE, f"database {path} does not exist (the server creates it at start)"
            )
            return
    try:
        engine = make_engine(url, pool_size=1)
    except Exception as error:  # a URL SQLAlchemy cannot use
        report.fail(CHECK_DATABASE, f"database {shown}: {error}")
        return
    try:
        with engine.connect() as connection:
            current = MigrationContext.configure(connection).get_current_revision()
    except sa.exc.SQLAlchemyError as error:
        reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
        report.fail(CHECK_DATABASE, f"database {shown} unreachable: {reason}")
        return
    finally:
        engine.dispose()
    head = ScriptDirectory(str(MIGRATIONS)).get_current_head()
    if current != head:
        report.fail(
            CHECK_DATABASE,
            f"database {shown} is at schema {current or 'none'}, this version needs {head} "
            "(the server migrates it at start)",
        )
        return
    report.ok(f"database {shown} reachable, schema {head}")


def _check_certificate(settings: Settings, days: int, report: CheckReport) -> None:
    from cryptography import x509

    now = dt.datetime.now(dt.UTC)
    if settings.tls_cert_file is not None and settings.tls_key_file is not None:
        try:
            external = tls.load_external_certificate(settings.tls_cert_file, settings.tls_key_file)
        except tls.CertificateError as error:
            report.fail(CHECK_CERTIFICATE, f"certificate: {error}")
            return
        what, not_after = f"certificate {external.cert_file}", external.not_after
        advice = "renew it, then systemctl reload tchatator (or /sync)"
    else:
        pem = settings.certs_dir / tls.SERVER_CERT_NAME
        ca = settings.certs_dir / tls.CA_CERT_NAME
        try:
            leaf = x509.load_pem_x509_certificate(pem.read_bytes())
            authority = x509.load_pem_x509_certificate(ca.read_bytes())
        except (OSError, ValueError) as error:
            report.fail(CHECK_CERTIFICATE, f"certificate {pem}: {error}")
            return
        # The generated certificate is renewed at start within 30 days of its
        # end; the CA is not (clients pinned it), so it counts too.
        what = f"certificate {pem} (generated)"
        not_after = min(leaf.not_valid_after_utc, authority.not_valid_after_utc)
        advice = (
            "restart the server to re-issue it"
            if leaf.not_valid_after_utc < authority.not_valid_after_utc
            else "the local CA itself ends: see docs/operations.md, Certificates"
        )
    left = not_after - now
    if left < dt.timedelta(days=days):
        report.fail(
            CHECK_CERTIFICATE,
            f"{what} expires on {not_after:%Y-%m-%d %H:%M} UTC, in {left.days} day(s) "
            f"(< {days}): {advice}",
        )
        return
    report.ok(f"{what} valid until {not_after:%Y-%m-%d} ({left.days} days)")
