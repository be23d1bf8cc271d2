"""The ``.tchatator`` file: TOML, every key optional (Pactocole section 6).

One setting = one declaration: each field of ``Settings`` is declared once,
by ``setting()``, with its type (the annotation, and the parser that checks
a value read from the file, range included), its default, whether ``/sync``
applies it live or it needs a restart, and the comment the file shows.
Validation (``load_settings``), the live keys (``LIVE_KEYS``) and the
commented file (``template()``, which the committed ``.tchatator`` must
equal: ``python -m server.config > .tchatator``) are derived from them.

``load_settings`` reads and validates the whole file into an immutable
``Settings``; anything wrong raises ``ConfigError`` naming the key, and
nothing changes (``/sync`` relies on that: the running settings stay).
Relative paths are resolved against the folder of the file.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from protocol.codec import STANDARD_LABELS, max_line_for

from .proxyheader import trusted_networks
from .tls import normalize_names

__all__ = [
    "CONFIG_ENV",
    "DEFAULT_CONFIG_NAME",
    "LIVE_KEYS",
    "MAX_SESSION_TTL",
    "ConfigError",
    "Declaration",
    "Settings",
    "changed_keys",
    "declarations",
    "find_config",
    "load_settings",
    "template",
    "toml_document",
    "toml_value",
]

CONFIG_ENV = "TCHATATOR_CONFIG"
ADMIN_KEY_FILE_ENV = "TCHATATOR_ADMIN_KEY_FILE"
ADMIN_KEY_ENV = "TCHATATOR_ADMIN_KEY"
DEFAULT_CONFIG_NAME = ".tchatator"


class ConfigError(Exception):
    """The configuration file is missing or invalid."""


class ConfigMissing(ConfigError):
    pass


# --- declarations ---------------------------------------------------------------------

# A parser checks one value read from the file and returns the value to keep;
# it raises ConfigError naming the key.
Parser = Callable[[str, Any], Any]


@dataclass(frozen=True, slots=True)
class Declaration:
    name: str
    default: Any
    parse: Parser
    live: bool  # True: /sync applies it at once; False: it needs a restart
    comment: str  # shown after the key in the .tchatator file
    section: str  # the heading it is listed under in the .tchatator file


# The .tchatator's sections, in file order.
CONTRACT = "The contract's keys (Pactocole section 6):"
BESIDES = "What the server needs besides:"
HOLDINGS = "Limits on what a client can make the server hold:"
INSTANCES = "Several instances on one PostgreSQL database (docs/scaling.md):"

_DECLARED = "tchatator_setting"


def setting(
    default: Any, parse: Parser, *, live: bool, section: str, comment: str = "", repr: bool = True
) -> Any:
    """A field of ``Settings`` and its declaration (see the module docstring)."""
    metadata = {_DECLARED: (default, parse, live, comment, section)}
    if isinstance(default, Mapping):
        frozen = MappingProxyType(dict(default))
        return field(default_factory=lambda: frozen, metadata=metadata, repr=repr)
    return field(default=default, metadata=metadata, repr=repr)


# --- the parsers: one per kind of value -----------------------------------------------------


def integer(low: int, high: int) -> Parser:
    def parse(key: str, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key} must be an integer, not {type(value).__name__}")
        if not low <= value <= high:
            raise ConfigError(f"{key} must be between {low} and {high}, not {value}")
        return value

    return parse


def _string_value(key: str, value: Any) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"{key} must be a string, not {type(value).__name__}")
    return value


# The admin key opens everything: at least as long as a key of 192 random
# bits in base64 (a generated one has 43 characters).
MIN_ADMIN_KEY_LENGTH = 32
MIN_ADMIN_KEY_DISTINCT = 8


def admin_key(key: str, value: Any) -> str:
    """Empty (a key is generated), or a strong key usable as one argument."""
    text = _string_value(key, value)
    if not text:
        return text
    if len(text) < MIN_ADMIN_KEY_LENGTH:
        raise ConfigError(
            f"{key} must have at least {MIN_ADMIN_KEY_LENGTH} characters, not {len(text)}"
            " (or be empty: a strong key is then generated and shown once)"
        )
    if not text.isprintable() or any(char.isspace() for char in text):
        raise ConfigError(f"{key} must be printable and hold no spaces (it is one argument)")
    if len(set(text)) < MIN_ADMIN_KEY_DISTINCT:
        raise ConfigError(f"{key} is too repetitive: use a random key")
    return text


def non_empty(key: str, value: Any) -> str:
    if not _string_value(key, value).strip():
        raise ConfigError(f"{key} must not be empty")
    return value


def database_url(key: str, value: Any) -> str:
    if "://" not in _string_value(key, value):
        raise ConfigError(f"{key} must be a URL such as sqlite:///data/tchatator.db")
    return value


def path(key: str, value: Any) -> Path:
    return Path(non_empty(key, value)).expanduser()


def optional_path(key: str, value: Any) -> Path | None:
    """A path, or None for an empty string (the setting is unset)."""
    return Path(value).expanduser() if _string_value(key, value).strip() else None


def one_of(*choices: str) -> Parser:
    spelled = " or ".join(f'"{choice}"' for choice in choices)

    def parse(key: str, value: Any) -> str:
        if value not in choices:
            raise ConfigError(f"{key} must be {spelled}")
        return str(value)

    return parse


def server_names(key: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(
        isinstance(name, str) and name.strip() for name in value
    ):
        raise ConfigError(f"{key} must be a list of non-empty strings")
    try:
        normalize_names(value)  # the same check the certificate will make
    except ValueError as error:
        raise ConfigError(f"{key}: {error}") from None
    return tuple(name.strip() for name in value)


def networks(key: str, value: Any) -> tuple[str, ...]:
    """Addresses and networks ("10.0.0.7", "10.0.0.0/8", "fd00::/8"), normalized."""
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ConfigError(f'{key} must be a list of addresses or networks, such as ["10.0.0.0/8"]')
    try:
        return tuple(str(network) for network in trusted_networks(value))
    except ValueError as error:
        raise ConfigError(f"{key}: {error} (an address, or a network such as 10.0.0.0/8)") from None


_REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


def redis_url(key: str, value: Any) -> str:
    if _string_value(key, value) and not value.startswith(_REDIS_SCHEMES):
        raise ConfigError(f"{key} must be empty or a URL such as redis://127.0.0.1:6379/0")
    return value


def instance_name(key: str, value: Any) -> str:
    if len(_string_value(key, value)) > 100 or not value.isprintable():
        raise ConfigError(f"{key} must be printable text of at most 100 characters")
    return value


def status_labels(key: str, value: Any) -> Mapping[int, str]:
    if not isinstance(value, dict):
        raise ConfigError(f'[{key}] must be a table of code = "LABEL"')
    codes: dict[int, str] = {}
    for code, label in value.items():
        if not (isinstance(code, str) and code.isascii() and code.isdigit() and len(code) == 3):
            raise ConfigError(f"[{key}] key {code!r} is not a three-digit status code")
        if not isinstance(label, str) or not label.strip():
            raise ConfigError(f"[{key}] {code} must be a non-empty string")
        if any(char in label for char in "\r\n") or not label.isprintable():
            raise ConfigError(f"[{key}] {code} must be one printable line")
        codes[int(code)] = label.strip()
    return MappingProxyType(codes)


DAY = 86400
# The longest session_ttl any configuration may set: no token outlives its
# issue time by more, whatever the settings say later.
MAX_SESSION_TTL = 365 * DAY


@dataclass(frozen=True)
class Settings:
    """The running settings; every field is a ``setting()`` declaration.

    Field order is the order of the ``.tchatator`` file.
    """

    # fmt: off
    # --- the contract's keys (section 6) ---
    port: int = setting(
        4242, integer(0, 65535), live=False, section=CONTRACT, comment="listening port")
    host: str = setting(
        "127.0.0.1", non_empty, live=False, section=CONTRACT,
        comment='"0.0.0.0" or "::" to open it')
    backlog: int = setting(
        128, integer(1, 65535), live=False, section=CONTRACT, comment="listen queue")
    max_messages: int = setting(
        20, integer(1, 1000), live=True, section=CONTRACT,
        comment="messages per page of /liste and /conversation")
    max_message_size: int = setting(
        1000, integer(1, 1_000_000), live=True, section=CONTRACT,
        comment="characters (code points) of one message")
    max_requests_per_minute: int = setting(
        60, integer(1, 10_000_000), live=True, section=CONTRACT,
        comment="per user (per address before login)")
    max_requests_per_hour: int = setting(
        1000, integer(1, 100_000_000), live=True, section=CONTRACT)
    admin_api_key: str = setting(
        "", admin_key, live=True, section=CONTRACT, repr=False,
        comment="32+ characters; empty: one is generated, shown once (never commit one)")
    block_duration: int = setting(
        DAY, integer(1, 10 * 365 * DAY), live=True, section=CONTRACT,
        comment="seconds a /bloque lasts")
    session_ttl: int = setting(
        DAY, integer(1, MAX_SESSION_TTL), live=True, section=CONTRACT,
        comment="seconds a session token stays valid")
    server_names: tuple[str, ...] = setting(
        (), server_names, live=False, section=CONTRACT,
        comment="extra names/addresses in the certificate")
    tls_min_version: str = setting(
        "1.3", one_of("1.2", "1.3"), live=False, section=CONTRACT, comment='or "1.2"')
    # A certificate from a public CA (Let's Encrypt): the PEM chain and its key.
    # Unset: the server generates its own CA in certs_dir. Renewed files (same
    # paths) are taken by /sync and SIGHUP; other paths need a restart.
    tls_cert_file: Path | None = setting(
        None, optional_path, live=False, section=CONTRACT,
        comment="PEM chain from a public CA, e.g. fullchain.pem (empty: generated)")
    tls_key_file: Path | None = setting(
        None, optional_path, live=False, section=CONTRACT,
        comment="its private key, mode 0600 (with tls_cert_file)")
    directory_page_size: int = setting(
        50, integer(1, 1000), live=True, section=CONTRACT,
        comment="users per page of /annuaire and /discussions")
    # --- what the server needs besides ---
    database_url: str = setting(
        "sqlite:///data/tchatator.db", database_url, live=False, section=BESIDES,
        comment="or postgresql://user@host/db")
    certs_dir: Path = setting(Path("certs"), path, live=False, section=BESIDES)
    data_dir: Path = setting(
        Path("data"), path, live=False, section=BESIDES,
        comment="server secret, generated admin key digest")
    log_file: Path = setting(
        Path("data/requests.log"), path, live=False, section=BESIDES,
        comment="one JSON line per request, rotated")
    log_max_bytes: int = setting(
        10 * 1024 * 1024, integer(1024, 1 << 40), live=False, section=BESIDES,
        comment="size at which the request log is rotated")
    log_backups: int = setting(
        5, integer(0, 1000), live=False, section=BESIDES,
        comment="rotated request logs kept")
    shutdown_grace: int = setting(
        10, integer(0, 3600), live=True, section=BESIDES,
        comment="seconds requests in flight get to finish on stop")
    # --- limits on what a client can make the server hold ---
    max_connections: int = setting(
        10_000, integer(1, 1_000_000), live=True, section=HOLDINGS)
    max_connections_per_address: int = setting(
        200, integer(1, 1_000_000), live=True, section=HOLDINGS)
    max_failed_logins_per_minute: int = setting(
        10, integer(1, 1_000_000), live=True, section=HOLDINGS, comment="per address")
    idle_timeout: int = setting(
        300, integer(1, 7 * DAY), live=True, section=HOLDINGS, comment="seconds, before login")
    idle_timeout_authenticated: int = setting(
        3600, integer(1, 7 * DAY), live=True, section=HOLDINGS,
        comment="seconds, after login (listeners in /push on: none)")
    handshake_timeout: int = setting(
        10, integer(1, 600), live=False, section=HOLDINGS,
        comment="seconds from the accept to the end of the TLS handshake")
    # --- several instances: what they tell each other (push, /sync, /logs,
    # limits) goes through Redis; empty: one instance, nothing shared but the database ---
    redis_url: str = setting(
        "", redis_url, live=False, section=INSTANCES, repr=False,  # may hold a password
        comment="empty: one instance; redis://host:6379/0 (needs PostgreSQL)")
    instance_name: str = setting(
        "", instance_name, live=False, section=INSTANCES,
        comment="this instance's name in /logs and /sync (empty: host:port)")
    # Balancers sending the PROXY protocol header (HAProxy's send-proxy-v2):
    # connections from these must start with one, and are counted under the
    # client's address it names; from elsewhere a header is never believed.
    proxy_protocol_from: tuple[str, ...] = setting(
        (), networks, live=True, section=INSTANCES,
        comment='balancers sending the PROXY header, e.g. ["10.0.0.0/8"]; empty: none')
    # --- the [codes] table (a code left out keeps its standard label) ---
    codes: Mapping[int, str] = setting(
        {}, status_labels, live=True, section="", comment="status labels")
    # fmt: on
    # Where the file was read from (None: embedded defaults); not a setting.
    source: Path | None = None

    @property
    def max_line(self) -> int:
        return max_line_for(self.max_message_size)

    def label(self, code: int) -> str:
        return self.codes.get(code) or STANDARD_LABELS.get(code, "UNKNOWN")


def declarations() -> dict[str, Declaration]:
    """Every setting's declaration, in file order."""
    return dict(_DECLARATIONS)


def _collect() -> dict[str, Declaration]:
    found: dict[str, Declaration] = {}
    for item in dataclasses.fields(Settings):
        if item.name == "source":
            continue
        if _DECLARED not in item.metadata:
            raise TypeError(f"Settings.{item.name} is not declared with setting()")
        found[item.name] = Declaration(item.name, *item.metadata[_DECLARED])
    return found


_DECLARATIONS = _collect()

# Keys whose new value takes effect at once on /sync; the others need a restart.
LIVE_KEYS = frozenset(name for name, declared in _DECLARATIONS.items() if declared.live)


# --- reading ----------------------------------------------------------------------------


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
        return _resolve(Settings(**_admin_key_from_environment({})), path.parent, None), []
    except OSError as error:
        raise ConfigError(f"cannot read {path}: {error.strerror}") from error
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{path} is not valid UTF-8") from None
    except ValueError as error:  # TOMLDecodeError, or an integer of over 4,300 digits
        raise ConfigError(f"{path} is not valid TOML: {error}") from None
    values: dict[str, Any] = {}
    warnings: list[str] = []
    for key, value in data.items():
        declared = _DECLARATIONS.get(key)
        if declared is None:
            # Unknown keys are reported, not fatal: a newer file may hold keys
            # an older server does not know.
            warnings.append(f"unknown key {key!r} ignored")
            continue
        values[key] = declared.parse(key, value)
    _check_coherence(values)
    values = _admin_key_from_environment(values)
    return _resolve(Settings(**values), path.parent, path), warnings


def _admin_key_from_environment(values: dict[str, Any]) -> dict[str, Any]:
    """``admin_api_key`` from the file wins; else from a secret file or the environment.

    ``$TCHATATOR_ADMIN_KEY_FILE`` names a file holding the key (a container
    secret, a systemd credential); ``$TCHATATOR_ADMIN_KEY`` holds it. Read
    again on each /sync, like the file.
    """
    if values.get("admin_api_key"):
        return values
    key_file = os.environ.get(ADMIN_KEY_FILE_ENV)
    if key_file:
        try:
            key = Path(key_file).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as error:
            raise ConfigError(f"${ADMIN_KEY_FILE_ENV}: cannot read {key_file}: {error}") from None
        source = f"${ADMIN_KEY_FILE_ENV} ({key_file})"
    else:
        key = os.environ.get(ADMIN_KEY_ENV, "").strip()
        source = f"${ADMIN_KEY_ENV}"
    if not key:
        return values
    # The same strength as admin_api_key in the file (e.g. openssl rand -base64 32).
    return {**values, "admin_api_key": admin_key(f"the admin key from {source}", key)}


def _check_coherence(values: dict[str, Any]) -> None:
    if (values.get("tls_cert_file") is None) != (values.get("tls_key_file") is None):
        raise ConfigError("tls_cert_file and tls_key_file go together: set both or neither")
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

    def optional(path: Path | None) -> Path | None:
        # Not resolved: Let's Encrypt's live/ names are symlinks to the current
        # files, and a renewal moves them; each (re)load follows them anew.
        return None if path is None else path if path.is_absolute() else base / path

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
        tls_cert_file=optional(settings.tls_cert_file),
        tls_key_file=optional(settings.tls_key_file),
        source=source,
    )


def changed_keys(old: Settings, new: Settings) -> tuple[list[str], list[str]]:
    """Keys whose value differs: (taking effect live, needing a restart)."""
    live: list[str] = []
    restart: list[str] = []
    for name in _DECLARATIONS:
        if getattr(old, name) != getattr(new, name):
            (live if name in LIVE_KEYS else restart).append(name)
    return live, restart


# --- writing ----------------------------------------------------------------------------


def toml_value(value: Any) -> str:
    """One value as TOML (the types a setting can have)."""
    if value is None:
        return '""'  # an optional setting left unset
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | Path):
        return json.dumps(str(value))  # a JSON string is a TOML basic string
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    if isinstance(value, int):
        return str(value)
    raise TypeError(f"no TOML spelling for {type(value).__name__}")


def toml_document(values: Mapping[str, Any]) -> str:
    """A ``.tchatator`` holding ``values`` (tables, such as ``codes``, last)."""
    lines = []
    tables = {}
    for key, value in values.items():
        if isinstance(value, Mapping):
            tables[key] = value
        else:
            lines.append(f"{key} = {toml_value(value)}")
    for table, entries in tables.items():
        lines.append(f"[{table}]")
        lines.extend(f'"{key}" = {toml_value(value)}' for key, value in entries.items())
    return "\n".join(lines) + "\n"


def template() -> str:
    """The commented ``.tchatator``: every key at its default, in file order."""
    sections: dict[str, list[tuple[str, str]]] = {}
    for declared in _DECLARATIONS.values():
        if isinstance(declared.default, Mapping):
            continue  # tables come last
        notes = [declared.comment] if declared.comment else []
        if not declared.live:
            notes.append("(restart)")
        entry = f"{declared.name} = {toml_value(declared.default)}"
        sections.setdefault(declared.section, []).append((entry, " ".join(notes)))
    lines = [
        "# Tchatator configuration (TOML). Every key is optional; these are the defaults.",
        "# Relative paths are resolved against the folder of this file.",
        "# Reload the live keys with /sync (admin); the others need a restart.",
        f"# Generated from server/config.py: python -m server.config > {DEFAULT_CONFIG_NAME}",
    ]
    for heading, entries in sections.items():
        # Comments aligned within a section, two spaces after its longest entry.
        column = max(32, *(len(entry) + 2 for entry, note in entries if note))
        lines += ["", f"# {heading}"]
        lines += [f"{entry.ljust(column)}# {note}" if note else entry for entry, note in entries]
    codes = _DECLARATIONS["codes"]
    lines += ["", f"# [codes]: {codes.comment}; a code left out keeps its standard label."]
    lines.append("[codes]")
    lines += [f'{code} = "{label}"' for code, label in STANDARD_LABELS.items()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.stdout.write(template())
