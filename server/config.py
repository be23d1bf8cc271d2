"""The ``.tchatator`` file: TOML, every key optional (Pactocole section 6).

``load_settings`` reads and validates the whole file into an immutable
``Settings``; anything wrong raises ``ConfigError`` naming the key, and
nothing changes (``/sync`` relies on that: the running settings stay).
Relative paths are resolved against the folder of the file.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from protocol.codec import STANDARD_LABELS, max_line_for

__all__ = [
    "CONFIG_ENV",
    "DEFAULT_CONFIG_NAME",
    "LIVE_KEYS",
    "ConfigError",
    "Settings",
    "changed_keys",
    "find_config",
    "load_settings",
]

CONFIG_ENV = "TCHATATOR_CONFIG"
DEFAULT_CONFIG_NAME = ".tchatator"


class ConfigError(Exception):
    """The configuration file is missing or invalid."""


class ConfigMissing(ConfigError):
    pass


@dataclass(frozen=True)
class Settings:
    # --- the contract's keys (section 6) ---
    port: int = 4242
    max_messages: int = 20
    max_message_size: int = 1000
    max_requests_per_minute: int = 60
    max_requests_per_hour: int = 1000
    admin_api_key: str = field(default="", repr=False)
    backlog: int = 128
    block_duration: int = 86400
    session_ttl: int = 86400
    host: str = "127.0.0.1"
    server_names: tuple[str, ...] = ()
    tls_min_version: str = "1.3"
    codes: Mapping[int, str] = field(default_factory=lambda: MappingProxyType({}))
    # --- what the server needs besides ---
    database_url: str = "sqlite:///data/tchatator.db"
    certs_dir: Path = Path("certs")
    data_dir: Path = Path("data")
    log_file: Path = Path("data/requests.log")
    log_max_bytes: int = 10 * 1024 * 1024
    log_backups: int = 5
    max_connections: int = 10_000
    max_connections_per_address: int = 200
    max_failed_logins_per_minute: int = 10
    idle_timeout: int = 300
    idle_timeout_authenticated: int = 3600
    handshake_timeout: int = 10
    shutdown_grace: int = 10
    directory_page_size: int = 50
    # Several instances on one PostgreSQL database (docs/scaling.md): what
    # they tell each other (push, /sync, /logs, limits) goes through Redis.
    # Empty: one instance, nothing shared but the database.
    redis_url: str = field(default="", repr=False)  # may hold a password
    # This instance's name in /logs and /sync replies (empty: host:port).
    instance_name: str = ""
    # Where the file was read from (None: embedded defaults).
    source: Path | None = None

    @property
    def max_line(self) -> int:
        return max_line_for(self.max_message_size)

    def label(self, code: int) -> str:
        return self.codes.get(code) or STANDARD_LABELS.get(code, "UNKNOWN")


# Keys whose new value takes effect at once on /sync; the others need a restart.
LIVE_KEYS = frozenset(
    {
        "max_messages",
        "max_message_size",
        "max_requests_per_minute",
        "max_requests_per_hour",
        "admin_api_key",
        "block_duration",
        "session_ttl",
        "codes",
        "max_connections",
        "max_connections_per_address",
        "max_failed_logins_per_minute",
        "idle_timeout",
        "idle_timeout_authenticated",
        "shutdown_grace",
        "directory_page_size",
    }
)

_FIELDS = {f.name: f for f in dataclasses.fields(Settings) if f.name != "source"}

# (minimum, maximum) of each integer key.
_INT_RANGES: dict[str, tuple[int, int]] = {
    "port": (0, 65535),
    "max_messages": (1, 1000),
    "max_message_size": (1, 1_000_000),
    "max_requests_per_minute": (1, 10_000_000),
    "max_requests_per_hour": (1, 100_000_000),
    "backlog": (1, 65535),
    "block_duration": (1, 10 * 365 * 86400),
    "session_ttl": (1, 365 * 86400),
    "log_max_bytes": (1024, 1 << 40),
    "log_backups": (0, 1000),
    "max_connections": (1, 1_000_000),
    "max_connections_per_address": (1, 1_000_000),
    "max_failed_logins_per_minute": (1, 1_000_000),
    "idle_timeout": (1, 7 * 86400),
    "idle_timeout_authenticated": (1, 7 * 86400),
    "handshake_timeout": (1, 600),
    "shutdown_grace": (0, 3600),
    "directory_page_size": (1, 1000),
}
_PATH_KEYS = {"certs_dir", "data_dir", "log_file"}
_REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


def find_config(explicit: str | os.PathLike[str] | None) -> Path:
    """``--config FILE``, else ``$TCHATATOR_CONFIG``, else ``./.tchatator``."""
    if explicit:
        return Path(explicit).expanduser().resolve()
    from_env = os.environ.get(CONFIG_ENV)
    if from_env:
        return Path(from_env).expanduser().resolve()
    return (Path.cwd() / DEFAULT_CONFIG_NAME).resolve()


def load_settings(path: Path, *, missing_ok: bool = False) -> tuple[Settings, list[str]]:
    """Read and validate ``path``; returns the settings and warnings.

    Raises:
        ConfigMissing: the file does not exist (unless ``missing_ok``: defaults).
        ConfigError: the file is not valid TOML or a value is wrong.
    """
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        if not missing_ok:
            raise ConfigMissing(f"configuration file {path} not found") from None
        return _resolve(Settings(), path.parent, None), []
    except OSError as error:
        raise ConfigError(f"cannot read {path}: {error.strerror}") from error
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{path} is not valid UTF-8") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path} is not valid TOML: {error}") from None
    values: dict[str, Any] = {}
    warnings: list[str] = []
    for key, value in data.items():
        if key not in _FIELDS:
            # Unknown keys are reported, not fatal: a newer file may hold keys
            # an older server does not know.
            warnings.append(f"unknown key {key!r} ignored")
            continue
        values[key] = _validate(key, value)
    _check_coherence(values)
    return _resolve(Settings(**values), path.parent, path), warnings


def _validate(key: str, value: Any) -> Any:
    if key in _INT_RANGES:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key} must be an integer, not {type(value).__name__}")
        low, high = _INT_RANGES[key]
        if not low <= value <= high:
            raise ConfigError(f"{key} must be between {low} and {high}, not {value}")
        return value
    if key == "codes":
        return _validate_codes(value)
    if key == "server_names":
        if not isinstance(value, list) or not all(
            isinstance(name, str) and name.strip() for name in value
        ):
            raise ConfigError("server_names must be a list of non-empty strings")
        from .tls import normalize_names

        try:
            normalize_names(value)  # the same check the certificate will make
        except ValueError as error:
            raise ConfigError(f"server_names: {error}") from None
        return tuple(name.strip() for name in value)
    if key == "tls_min_version":
        if value not in ("1.2", "1.3"):
            raise ConfigError('tls_min_version must be "1.2" or "1.3"')
        return value
    if not isinstance(value, str):
        raise ConfigError(f"{key} must be a string, not {type(value).__name__}")
    if key == "host" and not value.strip():
        raise ConfigError("host must not be empty")
    if key == "redis_url" and value and not value.startswith(_REDIS_SCHEMES):
        raise ConfigError("redis_url must be empty or a URL such as redis://127.0.0.1:6379/0")
    if key == "instance_name" and (len(value) > 100 or not value.isprintable()):
        raise ConfigError("instance_name must be printable text of at most 100 characters")
    if key == "database_url" and "://" not in value:
        raise ConfigError("database_url must be a URL such as sqlite:///data/tchatator.db")
    if key in _PATH_KEYS:
        if not value.strip():
            raise ConfigError(f"{key} must not be empty")
        return Path(value).expanduser()
    return value


def _validate_codes(value: Any) -> Mapping[int, str]:
    if not isinstance(value, dict):
        raise ConfigError('[codes] must be a table of code = "LABEL"')
    codes: dict[int, str] = {}
    for code, label in value.items():
        if not (isinstance(code, str) and code.isascii() and code.isdigit() and len(code) == 3):
            raise ConfigError(f"[codes] key {code!r} is not a three-digit status code")
        if not isinstance(label, str) or not label.strip():
            raise ConfigError(f"[codes] {code} must be a non-empty string")
        if any(char in label for char in "\r\n") or not label.isprintable():
            raise ConfigError(f"[codes] {code} must be one printable line")
        codes[int(code)] = label.strip()
    return MappingProxyType(codes)


def _check_coherence(values: dict[str, Any]) -> None:
    minute = values.get("max_requests_per_minute", Settings.max_requests_per_minute)
    hour = values.get("max_requests_per_hour", Settings.max_requests_per_hour)
    if hour < minute:
        raise ConfigError(
            f"max_requests_per_hour ({hour}) is lower than max_requests_per_minute ({minute})"
        )
    database = values.get("database_url", Settings.database_url)
    if values.get("redis_url") and database.startswith("sqlite"):
        # Instances sharing Redis must share their data too: SQLite is one file
        # for one instance (docs/scaling.md).
        raise ConfigError("redis_url needs database_url on PostgreSQL, not SQLite")


def _resolve(settings: Settings, base: Path, source: Path | None) -> Settings:
    def absolute(path: Path) -> Path:
        return path if path.is_absolute() else (base / path).resolve()

    url = settings.database_url
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/") and ":memory:" not in url:
        url = prefix + str(absolute(Path(url[len(prefix) :])))
    return dataclasses.replace(
        settings,
        database_url=url,
        certs_dir=absolute(settings.certs_dir),
        data_dir=absolute(settings.data_dir),
        log_file=absolute(settings.log_file),
        source=source,
    )


def changed_keys(old: Settings, new: Settings) -> tuple[list[str], list[str]]:
    """Keys whose value differs: (taking effect live, needing a restart)."""
    live: list[str] = []
    restart: list[str] = []
    for name in _FIELDS:
        if getattr(old, name) != getattr(new, name):
            (live if name in LIVE_KEYS else restart).append(name)
    return live, restart
