"""``HOST:PORT`` as users type it, for the apps and the ``tchatator`` CLI alike."""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["DEFAULT_PORT", "ServerAddress"]

DEFAULT_PORT = 4242
_BRACKETED = re.compile(r"\[(?P<host>[^\]]+)\](?::(?P<port>\d+))?")


@dataclass(frozen=True, slots=True)
class ServerAddress:
    host: str
    port: int = DEFAULT_PORT

    @classmethod
    def parse(cls, text: str) -> ServerAddress:
        """``host``, ``host:port``, ``[::1]:port``; raises ``ValueError``."""
        text = text.strip()
        if not text:
            raise ValueError("empty server address")
        match = _BRACKETED.fullmatch(text)
        if match:
            host, port = match.group("host"), match.group("port")
        elif text.count(":") == 1:
            host, port = text.split(":")
        else:  # a bare host name, or a bare IPv6 address
            host, port = text, None
        if not host or any(char.isspace() for char in host):
            raise ValueError(f"invalid host {host!r}")
        if port is None:
            return cls(host)
        if not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"invalid port {port!r}")
        return cls(host, int(port))

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"
