"""Typed views of the JSON bodies the Pactocole sends (section 5).

Plain frozen dataclasses built from reply bodies, shared by the client
library, the tools and the desktop apps. No I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

__all__ = [
    "ConversationSummary",
    "LogEntry",
    "Message",
    "Page",
    "ReadMark",
    "Restriction",
    "Session",
    "User",
    "parse_time",
]


def parse_time(value: str | None) -> datetime | None:
    """ISO 8601 UTC strings (``...Z`` or ``+00:00``) to aware datetimes."""
    if value is None:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


@dataclass(frozen=True, slots=True)
class User:
    id: int
    role: str
    name: str

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> User:
        return cls(int(data["id"]), str(data["role"]), str(data["name"]))


@dataclass(frozen=True, slots=True)
class Session:
    token: str
    user: User


@dataclass(frozen=True, slots=True)
class Message:
    id: int
    sender: int
    recipient: int
    text: str | None
    sent_at: datetime
    modified_at: datetime | None
    read_at: datetime | None
    deleted_at: datetime | None

    @property
    def deleted(self) -> bool:
        return self.deleted_at is not None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Message:
        sent_at = parse_time(data["sent_at"])
        assert sent_at is not None
        return cls(
            id=int(data["id"]),
            sender=int(data["sender"]),
            recipient=int(data["recipient"]),
            text=data["text"],
            sent_at=sent_at,
            modified_at=parse_time(data.get("modified_at")),
            read_at=parse_time(data.get("read_at")),
            deleted_at=parse_time(data.get("deleted_at")),
        )


@dataclass(frozen=True, slots=True)
class Page:
    """One page of ``/liste`` or ``/conversation``; empty for a 204."""

    page: int
    pages: int
    total: int
    messages: tuple[Message, ...]
    # ``/apercu`` only: unread messages to me in the conversation, and my
    # oldest unread one there as (message id, page holding it).
    unread: int | None = None
    first_unread: tuple[int, int] | None = None

    @classmethod
    def empty(cls) -> Page:
        return cls(0, 0, 0, ())

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Page:
        first = data.get("first_unread")
        return cls(
            int(data["page"]),
            int(data["pages"]),
            int(data["total"]),
            tuple(Message.from_json(item) for item in data["messages"]),
            int(data["unread"]) if data.get("unread") is not None else None,
            (int(first["id"]), int(first["page"])) if first else None,
        )


@dataclass(frozen=True, slots=True)
class ReadMark:
    """The answer to ``/lu``: what it marked, and what stays unread."""

    ids: tuple[int, ...]
    read_at: datetime | None
    unread: int
    total_unread: int

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ReadMark:
        return cls(
            tuple(int(item) for item in data["ids"]),
            parse_time(data.get("read_at")),
            int(data["unread"]),
            int(data["total_unread"]),
        )


@dataclass(frozen=True, slots=True)
class ConversationSummary:
    """One row of ``/discussions``: who, the last message, how many unread."""

    partner: User
    last_message: Message | None
    unread: int

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ConversationSummary:
        last = data.get("last_message")
        return cls(
            User.from_json(data["partner"]),
            Message.from_json(last) if last else None,
            int(data["unread"]),
        )


@dataclass(frozen=True, slots=True)
class Restriction:
    """An active block or ban (``/sanctions``)."""

    client: User
    kind: str  # "block" or "ban"
    issuer: int
    since: datetime
    until: datetime | None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Restriction:
        since = parse_time(data["since"])
        assert since is not None
        return cls(
            User.from_json(data["client"]),
            str(data["kind"]),
            int(data["issuer"]),
            since,
            parse_time(data.get("until")),
        )


@dataclass(frozen=True, slots=True)
class LogEntry:
    time: datetime
    peer: str
    user: int | None
    command: str
    code: int
    duration_ms: float

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LogEntry:
        time = parse_time(data["time"])
        assert time is not None
        return cls(
            time,
            str(data["peer"]),
            data.get("user"),
            str(data["command"]),
            int(data["code"]),
            float(data["duration_ms"]),
        )
