"""The Tchatator desktop apps (PySide6 + qasync), for pros and customers.

``service`` (ChatService: the one owner of the client library's connection),
``models`` (conversation list, messages, tables), ``delegates`` (painting),
``widgets`` (windows and dialogs), ``settings`` (what is remembered, keys),
``trust`` (TLS trust, fingerprints), ``errors`` (status codes as sentences),
``i18n`` (French and English), ``app`` (entry points and self-test).

Importing the package first protects ``None``, ``True`` and ``False`` from a PySide6 6.12 refcount
bug on Python 3.11 (``_compat``), before any other Qt call is made.
"""

from ._compat import protect_singletons

protect_singletons()

__all__ = ["main_client", "main_pro"]


def main_pro(argv: list[str] | None = None) -> int:
    from .app import main_pro as run

    return run(argv)


def main_client(argv: list[str] | None = None) -> int:
    from .app import main_client as run

    return run(argv)
