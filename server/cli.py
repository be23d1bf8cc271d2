"""``tchatator-server``: run the server and manage its users (Pactocole section 6).

    tchatator-server [--config FILE] serve
    tchatator-server [--config FILE] user add --role client|pro --name NAME
    tchatator-server [--config FILE] user list | rename ID NAME | rotate-key ID | remove ID
    tchatator-server [--config FILE] demo
    tchatator-server [--config FILE] admin-key --rotate
    tchatator-server [--config FILE] backup FILE | restore FILE
    tchatator-server [--config FILE] check [--days N]

User commands work before the first ``serve`` (they create the database) and
while the server runs (SQLite WAL, or PostgreSQL).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

from . import operations, security, tls
from .cluster import server_secret
from .config import CONFIG_ENV, ConfigError, Settings, find_config, load_settings
from .storage import queries
from .storage.commit import locks_users
from .storage.db import Database
from .storage.models import utc_now

__all__ = ["main"]

MAX_NAME_LENGTH = 100
ROLES = ("client", "pro")


class CliError(Exception):
    pass


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if getattr(args, "verbose", False) else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # Everything the server writes (database, logs, secrets) is for its owner
    # only; the tls module gives the public certificates their 0644 itself.
    os.umask(0o077)
    config_path = find_config(args.config)
    try:
        # A file named by --config or $TCHATATOR_CONFIG must exist; without
        # either, a missing ./.tchatator means the embedded defaults.
        explicit = bool(args.config or os.environ.get(CONFIG_ENV))
        settings, warnings = load_settings(config_path, missing_ok=not explicit)
        for warning in warnings:
            print(f"warning: {config_path}: {warning}", file=sys.stderr)
        return int(args.run(config_path, settings, args) or 0)
    except (
        ConfigError,
        CliError,
        operations.BackupError,
        security.InsecureFileError,
        tls.CertificateError,
    ) as error:
        print(f"tchatator-server: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"tchatator-server: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tchatator-server", description=__doc__.split("\n")[0], allow_abbrev=False
    )
    parser.add_argument(
        "--config", help="the .tchatator file (default: $TCHATATOR_CONFIG, ./.tchatator)"
    )
    actions = parser.add_subparsers(dest="action", required=True)

    serve = actions.add_parser("serve", help="run the server until SIGTERM/SIGINT")
    serve.add_argument("--uvloop", action="store_true", help="use uvloop's event loop")
    serve.add_argument("-v", "--verbose", action="store_true", help="log more to stderr")
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="N processes sharing the port (SO_REUSEPORT); needs PostgreSQL and redis_url",
    )
    serve.add_argument("--worker", help=argparse.SUPPRESS)  # INDEX:PORT, from the supervisor
    serve.set_defaults(run=_serve)

    user = actions.add_parser("user", help="manage clients and pros")
    user_actions = user.add_subparsers(dest="user_action", required=True)
    add = user_actions.add_parser("add", help="create a user; prints its key once, as JSON")
    add.add_argument("--role", choices=ROLES, required=True)
    add.add_argument("--name", required=True)
    add.set_defaults(run=_user_add)
    listing = user_actions.add_parser("list", help="list users as JSON lines")
    listing.add_argument("--all", action="store_true", help="include removed users")
    listing.set_defaults(run=_user_list)
    rename = user_actions.add_parser("rename", help="change a user's name")
    rename.add_argument("id", type=int)
    rename.add_argument("name")
    rename.set_defaults(run=_user_rename)
    rotate = user_actions.add_parser("rotate-key", help="give a user a new key (the old one dies)")
    rotate.add_argument("id", type=int)
    rotate.set_defaults(run=_user_rotate)
    remove = user_actions.add_parser("remove", help="remove a user (their messages stay)")
    remove.add_argument("id", type=int)
    remove.set_defaults(run=_user_remove)

    demo = actions.add_parser("demo", help="fill an empty database with demo users and messages")
    demo.add_argument("--force", action="store_true", help="add demo data even if users exist")
    demo.set_defaults(run=_demo)

    admin = actions.add_parser("admin-key", help="replace the generated admin key")
    admin.add_argument("--rotate", action="store_true", required=True)
    admin.set_defaults(run=_admin_rotate)

    backup = actions.add_parser(
        "backup", help="copy the SQLite database while the server runs (PostgreSQL: pg_dump)"
    )
    backup.add_argument("file", type=Path, help="the new backup file (never overwritten)")
    backup.set_defaults(run=_backup)
    restore = actions.add_parser(
        "restore", help="put a backup in place (server stopped; the current database is kept)"
    )
    restore.add_argument("file", type=Path, help="a file made by backup")
    restore.set_defaults(run=_restore)
    codes = "; ".join(f"{code}: {meaning}" for code, meaning in operations.CHECK_EXIT_CODES.items())
    check = actions.add_parser(
        "check",
        help="check configuration, database and certificate, for monitoring",
        description=f"Exit codes: {codes}.",
    )
    check.add_argument(
        "--days", type=int, default=14, help="fail when the certificate ends within N days (14)"
    )
    check.set_defaults(run=_check)
    return parser


# --- operations ---------------------------------------------------------------------------


def _backup(config_path: Path, settings: Settings, args: argparse.Namespace) -> int:
    _print_json(operations.backup(settings, args.file))
    print(
        "Keep the server secret with it (the same file for every backup): without it, "
        f"no API key works after a restore: {settings.data_dir / 'secret.key'}",
        file=sys.stderr,
    )
    return 0


def _restore(config_path: Path, settings: Settings, args: argparse.Namespace) -> int:
    _print_json(operations.restore(settings, args.file))
    return 0


def _check(config_path: Path, settings: Settings, args: argparse.Namespace) -> int:
    report = operations.check(settings, args.days)
    for line in report.lines:
        print(line, file=sys.stdout if line.startswith("ok") else sys.stderr, flush=True)
    return report.status


# --- serve ------------------------------------------------------------------------------


def _serve(config_path: Path, settings: Settings, args: argparse.Namespace) -> int:
    from . import workers
    from .app import run_server

    if args.workers != 1:
        try:
            return workers.supervise(config_path, settings, args.workers, uvloop=args.uvloop)
        except workers.WorkersError as error:
            raise CliError(str(error)) from None
    worker = workers.parse_worker(args.worker) if args.worker else None
    if args.uvloop:
        import uvloop

        return uvloop.run(run_server(config_path, settings, worker=worker))
    return asyncio.run(run_server(config_path, settings, worker=worker))


# --- users --------------------------------------------------------------------------------


@contextlib.contextmanager
def _database(settings: Settings) -> Iterator[tuple[Database, bytes]]:
    """The database, migrated, and the server secret; closed however the command ends."""
    database = Database(settings.database_url, readers=1)
    try:
        database.migrate()
        yield database, server_secret(settings, database)
    finally:
        database.close()


def _check_name(name: str) -> str:
    name = name.strip()
    if not name:
        raise CliError("the name must not be empty")
    if len(name) > MAX_NAME_LENGTH:
        raise CliError(f"the name must be at most {MAX_NAME_LENGTH} characters")
    if not name.isprintable():
        raise CliError("the name must be printable text on one line")
    return name


def _print_json(data: dict[str, Any]) -> None:
    print(json.dumps(data, ensure_ascii=False), flush=True)


def _create_user(database: Database, secret: bytes, role: str, name: str) -> dict[str, Any]:
    key = security.new_api_key()
    user_id = database.run_sync(
        queries.create_user, role=role, name=name, key_digest=security.digest_key(secret, key)
    )
    return {"id": user_id, "role": role, "name": name, "api_key": key}


def _user_add(config_path: Path, settings: Settings, args: argparse.Namespace) -> int:
    with _database(settings) as (database, secret):
        _print_json(_create_user(database, secret, args.role, _check_name(args.name)))
    return 0


def _user_list(config_path: Path, settings: Settings, args: argparse.Namespace) -> int:
    with _database(settings) as (database, _):
        for row in database.read_sync(queries.list_users, include_removed=args.all):
            _print_json(
                {
                    "id": row.id,
                    "role": row.role,
                    "name": row.name,
                    "created_at": queries.iso(row.created_at),
                }
            )
    return 0


def _user_rename(config_path: Path, settings: Settings, args: argparse.Namespace) -> int:
    with _database(settings) as (database, _):
        name = _check_name(args.name)
        if not database.run_sync(queries.rename_user, args.id, name):
            raise CliError(f"no user {args.id}")
        _print_json({"id": args.id, "name": name})
    return 0


def _user_rotate(config_path: Path, settings: Settings, args: argparse.Namespace) -> int:
    with _database(settings) as (database, secret):
        key = security.new_api_key()
        if not database.run_sync(queries.set_key_digest, args.id, security.digest_key(secret, key)):
            raise CliError(f"no user {args.id}")
        _print_json({"id": args.id, "api_key": key})
    return 0


def _user_remove(config_path: Path, settings: Settings, args: argparse.Namespace) -> int:
    with _database(settings) as (database, secret):
        # A digest of a key nobody knows: the unique column stays unique.
        unusable = security.digest_key(secret, security.new_api_key())
        if not database.run_sync(queries.remove_user, args.id, unusable):
            raise CliError(f"no user {args.id}")
        _print_json({"id": args.id, "removed": True})
    return 0


def _admin_rotate(config_path: Path, settings: Settings, args: argparse.Namespace) -> int:
    if settings.admin_api_key:
        raise CliError(f"admin_api_key is set in {config_path}: change it there, then /sync")
    with _database(settings) as (_, secret):
        pass  # the secret may live in the database (PostgreSQL, several instances)
    key = security.new_api_key()
    security.write_private_file(
        security.admin_digest_path(settings), security.digest_key(secret, key).encode()
    )
    _print_json({"id": 0, "role": "admin", "api_key": key})
    print("A running server takes the new key at its next /sync or restart.", file=sys.stderr)
    return 0


# --- demo data --------------------------------------------------------------------------------

DEMO_PROS = ("Boulangerie Dupont", "Garage Martin", "Cabinet Leroy")
DEMO_CLIENTS = ("Alice Bernard", "Bruno Petit", "Chloé Moreau")
# (client index, pro index, [(from the client?, text), ...])
DEMO_CONVERSATIONS = (
    (
        0,
        0,
        [
            (True, "Bonjour ! Avez-vous encore des croissants aux amandes ce matin ?"),
            (False, "Bonjour Alice, oui, il nous en reste une dizaine."),
            (True, "Parfait, pouvez-vous m'en garder quatre ? Je passe vers 11 h."),
            (False, "C'est noté, ils vous attendent au comptoir."),
            (True, "Merci beaucoup, à tout à l'heure !"),
        ],
    ),
    (
        1,
        1,
        [
            (True, "Bonjour, ma voiture fait un bruit étrange au freinage."),
            (False, "Bonjour Bruno. Pouvez-vous passer au garage jeudi à 9 h ?"),
            (True, "Jeudi 9 h, c'est parfait.\nJe laisse la voiture pour la journée ?"),
            (False, "Oui, comptez la journée. Nous vous appelons dès qu'elle est prête."),
        ],
    ),
    (
        2,
        2,
        [
            (True, "Bonjour Maître, je souhaiterais un rendez-vous pour un conseil."),
            (False, "Bonjour Madame Moreau, je peux vous recevoir mardi à 14 h 30."),
            (True, "Très bien, merci. Dois-je apporter des documents ?"),
        ],
    ),
    (
        0,
        1,
        [
            (True, "Bonjour, faites-vous la vidange sans rendez-vous ?"),
        ],
    ),
)


def _demo(config_path: Path, settings: Settings, args: argparse.Namespace) -> int:
    with _database(settings) as (database, secret):
        if database.read_sync(queries.list_users) and not args.force:
            raise CliError("the database already has users (use --force to add demo data anyway)")
        pros = [_create_user(database, secret, "pro", name) for name in DEMO_PROS]
        clients = [_create_user(database, secret, "client", name) for name in DEMO_CLIENTS]
        start = utc_now() - timedelta(hours=6)

        users = [user["id"] for user in pros + clients]

        @locks_users(lambda *_: users)
        def fill(connection: Any) -> None:
            moment = start
            for client_index, pro_index, lines in DEMO_CONVERSATIONS:
                client, pro = clients[client_index]["id"], pros[pro_index]["id"]
                for from_client, text in lines:
                    moment += timedelta(minutes=7)
                    queries.insert_message(
                        connection,
                        sender=client if from_client else pro,
                        recipient=pro if from_client else client,
                        client_id=client,
                        pro_id=pro,
                        text=text,
                        sent_at=moment,
                    )

        database.run_sync(fill)
        for user in pros + clients:
            _print_json(user)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
