"""``tchatator``: send Pactocole commands by hand, with TLS set up for you.

    tchatator --ca certs/ca.pem                           # interactive: type commands
    tchatator --ca certs/ca.pem --ask-key /liste          # type the key unseen, one command
    TCHATATOR_KEY=... tchatator --ca certs/ca.pem         # log in first, then interactive
    tchatator --server chat.example.org:4242              # a public certificate: no --ca

Without ``--ca`` the system's certificate authorities are trusted (and
``SSL_CERT_FILE`` / ``SSL_CERT_DIR``), for a server whose certificate comes
from a public CA such as Let's Encrypt.

Like ``openssl s_client`` but it verifies the server against the CA, logs in
for you, shows push lines as they come, and exits with 0 when the last reply
was 2xx, 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import os
import ssl
import sys

from .address import ServerAddress
from .client import TchatatorClient
from .codec import Push, Reply
from .errors import ClientError

__all__ = ["main"]


def _show(reply: Reply) -> None:
    print(f"{reply.code}/{reply.label}")
    if reply.body is not None:
        print(json.dumps(reply.body, ensure_ascii=False))
    print(flush=True)


def _show_push(push: Push) -> None:
    print(f"* {push.event} {json.dumps(push.data, ensure_ascii=False)}", flush=True)


async def _session(args: argparse.Namespace) -> int:
    context = (
        ssl.create_default_context(cafile=args.ca) if args.ca else ssl.create_default_context()
    )
    client = TchatatorClient(
        args.server.host,
        args.server.port,
        ssl=context,
        server_hostname=args.server_name or args.server.host,
        on_push=_show_push,
    )
    await client.connect()
    status = 0
    try:
        key = _key(args)
        if key:
            reply = await client.raw(f"/connexion {key}\n".encode())
            if not reply.ok:
                _show(reply)
                return 1
            user = (reply.body or {}).get("user", {})
            print(f"# logged in as {user.get('name')} (id {user.get('id')}, {user.get('role')})")
        if args.command:
            reply = await client.raw((" ".join(args.command) + "\n").encode())
            _show(reply)
            return 0 if reply.ok else 1
        loop = asyncio.get_running_loop()
        while True:
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if not line:
                return status
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            reply = await client.raw((line + "\n").encode())
            _show(reply)
            status = 0 if reply.ok else 1
    finally:
        await client.close()


KEY_ENV = "TCHATATOR_KEY"
_KEY_HELP = f"""the key: ${KEY_ENV} (preferred), or --ask-key to type it unseen. --key KEY
works too, but any user of this machine sees it in the process list (ps) while
tchatator runs, and your shell may keep it in its history."""


def _key(args: argparse.Namespace) -> str | None:
    if args.ask_key:
        return getpass.getpass("API key or session token: ").strip() or None
    if args.key:
        print(
            f"tchatator: --key shows the key in the process list; prefer ${KEY_ENV} or --ask-key",
            file=sys.stderr,
        )
        return str(args.key)
    return os.environ.get(KEY_ENV) or None


def _server_address(text: str) -> ServerAddress:
    try:
        return ServerAddress.parse(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def main(argv: list[str] | None = None) -> int:
    # allow_abbrev=False: "--serv" must not silently mean --server-name.
    parser = argparse.ArgumentParser(
        prog="tchatator",
        description=__doc__.split("\n")[0],
        epilog=_KEY_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )
    parser.add_argument(
        "--server",
        type=_server_address,
        default=ServerAddress("localhost"),
        help="HOST:PORT of the server, like the apps (default: localhost:4242)",
    )
    parser.add_argument(
        "--ca", help="the server's CA certificate (certs/ca.pem); default: the system's CAs"
    )
    parser.add_argument(
        "--server-name", help="name to check in the certificate (default: the --server host)"
    )
    keys = parser.add_mutually_exclusive_group()
    keys.add_argument(
        "--ask-key", action="store_true", help="prompt for the key (not echoed) and log in"
    )
    keys.add_argument(
        "--key",
        help=f"API key or session token; visible in the process list: prefer ${KEY_ENV}",
    )
    parser.add_argument("command", nargs=argparse.REMAINDER, help="one command to send, then exit")
    args = parser.parse_args(argv)
    try:
        return asyncio.run(_session(args))
    except ClientError as error:
        print(f"tchatator: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
