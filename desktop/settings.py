"""What the desktop apps remember between runs, and where.

Strategy: one JSON file in the user's config directory (platformdirs) holds the
remembered server per app, the CA trusted for each server (Pactocole section 1:
"a client trusts certs/ca.pem or pins the fingerprint") and the language.
Drafts live in a file of their own because they hold message text. API keys go
to the system keyring when one exists; on a machine without one (headless
Linux: ``NoKeyringError``) they go to ``keys.json`` in the same directory, mode
0600, and ``KeyStore.description`` says so, so the login dialog can tell the
user. Every file holding a secret or text is created 0600 before anything is
written into it, then atomically renamed into place.

``TCHATATOR_DESKTOP_DIR`` overrides the directory (tests, portable installs).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "CONFIG_DIR_ENV",
    "DraftStore",
    "KeyStore",
    "Settings",
    "TrustedServer",
    "config_dir",
]

CONFIG_DIR_ENV = "TCHATATOR_DESKTOP_DIR"
APP_NAME = "tchatator"
SETTINGS_FILE = "desktop.json"
DRAFTS_FILE = "drafts.json"
KEYS_FILE = "keys.json"
KEYRING_SERVICE = "tchatator"
# A draft longer than this is cut: a draft file must not grow without end.
MAX_DRAFT_CHARS = 20_000
DEFAULT_LANGUAGE = "fr"
LANGUAGES = ("fr", "en")


def config_dir() -> Path:
    override = os.environ.get(CONFIG_DIR_ENV)
    if override:
        return Path(override)
    from platformdirs import user_config_dir

    return Path(user_config_dir(APP_NAME, appauthor=False))


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_private_json(path: Path, data: dict[str, Any]) -> None:
    """Write ``data`` to ``path`` (mode 0600) atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # mkstemp creates the file 0600 before a byte is written into it.
    descriptor, temporary = tempfile.mkstemp(prefix=path.name, dir=path.parent)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            json.dump(data, handle, ensure_ascii=False, indent=1)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


@dataclass(frozen=True, slots=True)
class TrustedServer:
    """A CA the user chose to trust for one server address."""

    pem: str
    fingerprint: str


class Settings:
    """The remembered choices (``desktop.json``)."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory or config_dir()
        self.path = self.directory / SETTINGS_FILE
        self._data = _read_json(self.path)

    def save(self) -> None:
        _write_private_json(self.path, self._data)

    # --- server per app ("pro" or "client") ----------------------------------------

    def last_server(self, app: str) -> str:
        return str(self._data.get("last_server", {}).get(app, ""))

    def set_last_server(self, app: str, server: str) -> None:
        self._data.setdefault("last_server", {})[app] = server

    def remember_key(self, app: str) -> bool:
        return bool(self._data.get("remember_key", {}).get(app, True))

    def set_remember_key(self, app: str, remember: bool) -> None:
        self._data.setdefault("remember_key", {})[app] = remember

    # --- trust ----------------------------------------------------------------------

    def trusted(self, server: str) -> TrustedServer | None:
        entry = self._data.get("trusted", {}).get(server)
        if not isinstance(entry, dict) or "pem" not in entry:
            return None
        return TrustedServer(str(entry["pem"]), str(entry.get("fingerprint", "")))

    def set_trusted(self, server: str, trust: TrustedServer) -> None:
        self._data.setdefault("trusted", {})[server] = {
            "pem": trust.pem,
            "fingerprint": trust.fingerprint,
        }

    def forget_trusted(self, server: str) -> None:
        self._data.get("trusted", {}).pop(server, None)

    # --- language -------------------------------------------------------------------

    @property
    def language(self) -> str:
        value = self._data.get("language", DEFAULT_LANGUAGE)
        return value if value in LANGUAGES else DEFAULT_LANGUAGE

    @language.setter
    def language(self, value: str) -> None:
        if value not in LANGUAGES:
            raise ValueError(f"unknown language {value!r}")
        self._data["language"] = value


class DraftStore:
    """Unsent text per conversation, kept across restarts (``drafts.json``, 0600).

    Keys are ``server|user id|partner id`` so two accounts never mix drafts.
    """

    def __init__(self, directory: Path | None = None) -> None:
        self.path = (directory or config_dir()) / DRAFTS_FILE
        self._drafts: dict[str, str] = {
            key: value for key, value in _read_json(self.path).items() if isinstance(value, str)
        }
        self._dirty = False

    @staticmethod
    def key(server: str, user_id: int, partner_id: int) -> str:
        return f"{server}|{user_id}|{partner_id}"

    def get(self, key: str) -> str:
        return self._drafts.get(key, "")

    def set(self, key: str, text: str) -> None:
        text = text[:MAX_DRAFT_CHARS]
        if text.strip():
            if self._drafts.get(key) != text:
                self._drafts[key] = text
                self._dirty = True
        elif key in self._drafts:
            del self._drafts[key]
            self._dirty = True

    def save(self) -> None:
        if self._dirty:
            _write_private_json(self.path, dict(self._drafts))
            self._dirty = False


class KeyStore:
    """API keys: the system keyring, or a 0600 file when there is none."""

    def __init__(self, directory: Path | None = None) -> None:
        self.file = (directory or config_dir()) / KEYS_FILE
        self._keyring = self._find_keyring()

    @staticmethod
    def _find_keyring() -> Any | None:
        try:
            import keyring
            from keyring.backends import fail
        except ImportError:
            return None
        try:
            backend = keyring.get_keyring()
        except Exception:
            return None
        if isinstance(backend, fail.Keyring) or getattr(backend, "priority", 1) <= 0:
            return None
        return backend

    @property
    def uses_keyring(self) -> bool:
        return self._keyring is not None

    @property
    def description(self) -> str:
        """Where keys are kept, for the user (not translated: a path or a backend name)."""
        if self._keyring is not None:
            return type(self._keyring).__name__
        return str(self.file)

    @staticmethod
    def _account(app: str, server: str) -> str:
        return f"{app}@{server}"

    def get(self, app: str, server: str) -> str | None:
        account = self._account(app, server)
        if self._keyring is not None:
            try:
                return self._keyring.get_password(KEYRING_SERVICE, account)
            except Exception:
                self._keyring = None  # locked or broken: fall back for this run
        value = _read_json(self.file).get(account)
        return value if isinstance(value, str) else None

    def set(self, app: str, server: str, key: str) -> None:
        account = self._account(app, server)
        if self._keyring is not None:
            try:
                self._keyring.set_password(KEYRING_SERVICE, account, key)
                return
            except Exception:
                self._keyring = None
        data = _read_json(self.file)
        data[account] = key
        _write_private_json(self.file, data)

    def delete(self, app: str, server: str) -> None:
        account = self._account(app, server)
        if self._keyring is not None:
            with contextlib.suppress(Exception):
                self._keyring.delete_password(KEYRING_SERVICE, account)
        data = _read_json(self.file)
        if account in data:
            del data[account]
            _write_private_json(self.file, data)
