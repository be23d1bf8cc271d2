"""Entry points: ``tchatator-pro`` and ``tchatator-client``, one codebase.

``main_pro`` and ``main_client`` differ only in the door they open: the login
dialog's wording, the remembered server and key, and which role may enter
(the admin key opens the moderation view from either). The event loop is
qasync's, so asyncio streams run inside Qt's loop (dependency notes).

``--self-test --server HOST:PORT [--ca FILE] --key KEY`` opens the window
offscreen, connects, lists conversations (the admin: the log) and exits 0,
or prints a clear error and exits 1 (2 for bad arguments). The packaging
checks use it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

__all__ = ["main_client", "main_pro", "run"]

SELF_TEST_TIMEOUT = 20.0
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


def _parser(kind: str) -> argparse.ArgumentParser:
    program = "tchatator-pro" if kind == "pro" else "tchatator-client"
    who = "professionals" if kind == "pro" else "customers"
    parser = argparse.ArgumentParser(
        prog=program, description=f"Tchatator desktop app for {who}.", allow_abbrev=False
    )
    parser.add_argument("--server", default="", help="HOST:PORT of the server (prefills login)")
    parser.add_argument(
        "--ca",
        default="",
        help="the server's CA file, e.g. certs/ca.pem (default: the system's CAs)",
    )
    parser.add_argument("--key", default="", help="API key (prefer typing it in the window)")
    parser.add_argument("--lang", choices=("fr", "en"), help="language (default: French)")
    parser.add_argument(
        "--self-test",
        action="store_true",
        help="open the window offscreen, connect, list conversations, exit 0 or 1",
    )
    parser.add_argument(
        "--timeout", type=float, default=SELF_TEST_TIMEOUT, help="self-test timeout (seconds)"
    )
    return parser


def main_pro(argv: list[str] | None = None) -> int:
    return run("pro", argv)


def main_client(argv: list[str] | None = None) -> int:
    return run("client", argv)


def run(kind: str, argv: list[str] | None = None) -> int:
    args = _parser(kind).parse_args(sys.argv[1:] if argv is None else argv)
    if args.self_test:
        # Without --ca the system's authorities are trusted (a public certificate).
        missing = [flag for flag in ("server", "key") if not getattr(args, flag)]
        if missing:
            print(
                "self-test FAILED: missing " + ", ".join(f"--{flag}" for flag in missing),
                file=sys.stderr,
            )
            return EXIT_USAGE
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

    import qasync
    from PySide6.QtCore import qInstallMessageHandler
    from PySide6.QtWidgets import QApplication

    from .i18n import install_translations
    from .settings import Settings

    if args.self_test:
        qInstallMessageHandler(_quiet_offscreen)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    app.setApplicationName("tchatator-pro" if kind == "pro" else "tchatator-client")
    app.setApplicationDisplayName("Tchatator Pro" if kind == "pro" else "Tchatator")
    app.setOrganizationName("Tchatator")
    app.setQuitOnLastWindowClosed(False)  # the coroutine below decides when to stop
    settings = Settings()
    install_translations(app, args.lang or settings.language)
    try:
        if args.self_test:
            return qasync.run(self_test(kind, args, settings))
        return qasync.run(interactive(kind, args, settings))
    except KeyboardInterrupt:
        return 130


# What the offscreen platform says about features it lacks: noise in a report.
_OFFSCREEN_NOISE = ("propagateSizeHints",)


def _quiet_offscreen(mode: object, context: object, message: str) -> None:
    if not any(noise in message for noise in _OFFSCREEN_NOISE):
        print(message, file=sys.stderr)


def make_window(kind: str, service: object, settings: object, drafts: object) -> object:
    """The window for whoever logged in: moderation for the admin."""
    from .widgets import AdminWindow, ChatWindow

    if service.user.role == "admin":  # type: ignore[attr-defined]
        return AdminWindow(service, settings)  # type: ignore[arg-type]
    return ChatWindow(service, settings, drafts, kind)  # type: ignore[arg-type]


async def interactive(kind: str, args: argparse.Namespace, settings: object) -> int:
    from .service import ChatService
    from .settings import DraftStore, KeyStore
    from .widgets import LoginDialog
    from .widgets.dialogs import await_dialog

    keys = KeyStore()
    drafts = DraftStore()
    service = ChatService()
    key = args.key
    try:
        while True:
            dialog = LoginDialog(
                kind,
                service,
                settings,
                keys,  # type: ignore[arg-type]
                server=args.server,
                ca_file=args.ca,
                key=key,
            )
            accepted = await await_dialog(dialog)
            user = dialog.user
            dialog.deleteLater()
            if not accepted or user is None:
                return EXIT_OK
            window = make_window(kind, service, settings, drafts)
            while True:
                closed = window.wait_closed()  # type: ignore[attr-defined]
                window.show()  # type: ignore[attr-defined]
                await closed
                if not window.rebuild_requested:  # type: ignore[attr-defined]
                    break
                # The language changed: the same session in a window built anew.
                window.deleteLater()  # type: ignore[attr-defined]
                window = make_window(kind, service, settings, drafts)
            if not window.logout_requested:  # type: ignore[attr-defined]
                return EXIT_OK
            # Changing account is logging out: the session token dies, and
            # the remembered key is not offered again.
            server = str(service.address)
            await service.logout()
            keys.delete(kind, server)
            window.deleteLater()  # type: ignore[attr-defined]
            key = ""
    finally:
        drafts.save()
        await service.close()


def _read_ca(path: str) -> str:
    return Path(path).read_text(encoding="ascii")


async def self_test(kind: str, args: argparse.Namespace, settings: object) -> int:
    from protocol.errors import ConnectionLost, StatusError

    from .errors import Action, describe_status, offline_message
    from .service import ChatService
    from .settings import DraftStore
    from .trust import ServerAddress, TrustError
    from .widgets import role_allowed

    def fail(text: str) -> int:
        print(f"self-test FAILED: {text}", file=sys.stderr, flush=True)
        return EXIT_FAILED

    try:
        address = ServerAddress.parse(args.server)
    except ValueError as error:
        return fail(f"invalid --server: {error}")
    try:
        pem = _read_ca(args.ca) if args.ca else ""
    except (OSError, UnicodeDecodeError) as error:
        return fail(f"cannot read --ca {args.ca}: {error}")
    trusted = args.ca or "the system's certificate authorities"
    service = ChatService(timeout=args.timeout)
    window = None
    try:
        try:
            user = await asyncio.wait_for(
                service.open_session(address, pem, args.key), args.timeout
            )
        except TrustError as error:
            return fail(f"the server's certificate is not trusted by {trusted}: {error}")
        except ConnectionLost as error:
            return fail(f"{offline_message(Action.LOGIN)} ({address}: {error})")
        except StatusError as error:
            return fail(f"{describe_status(error.code, Action.LOGIN, error.body)} ({error})")
        except TimeoutError:
            return fail(f"no answer from {address} within {args.timeout:g} s")
        if not role_allowed(kind, user.role):
            return fail(f"this key belongs to a {user.role}, not to this app ({kind})")
        window = make_window(kind, service, settings, DraftStore())
        done = asyncio.Event()
        outcome: dict[str, object] = {}

        def loaded(items: object, *_: object) -> None:
            outcome.setdefault("items", items)
            done.set()

        def failed(report: object) -> None:
            outcome.setdefault("error", report)
            done.set()

        if user.role == "admin":
            service.logs_loaded.connect(loaded)
        else:
            service.conversations_loaded.connect(loaded)
        service.error.connect(failed)
        window.show()  # type: ignore[attr-defined]
        try:
            await asyncio.wait_for(done.wait(), args.timeout)
        except TimeoutError:
            return fail(f"the conversation list did not arrive within {args.timeout:g} s")
        if "error" in outcome:
            report = outcome["error"]
            return fail(f"{report.message} ({report.detail})")  # type: ignore[attr-defined]
        count = len(outcome["items"])  # type: ignore[arg-type]
        what = "log entries" if user.role == "admin" else "conversation(s)"
        print(
            f"self-test OK: {kind} app, logged in as {user.name} ({user.role} #{user.id}) "
            f"on {address}; {count} {what}",
            flush=True,
        )
        return EXIT_OK
    finally:
        if window is not None:
            window.close()  # type: ignore[attr-defined]
        await service.close()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main_client())
