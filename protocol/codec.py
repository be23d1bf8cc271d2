"""The Pactocole codec: bytes in, events out; replies in, bytes out.

Strategy (as in h11's ``_readers.py``): nothing here does I/O. A reader is fed
bytes with ``feed()``; ``next_event()`` consumes one line and returns an event,
or ``NEED_DATA`` when no whole line is buffered yet. Errors that belong to a
single line (too long, invalid UTF-8) are returned as ``LineError`` events, not
raised: the Pactocole keeps the connection usable after them (section 2), so
the caller answers the error and asks for the next event.

The same module formats replies for the server and parses them for the client,
so both sides share one definition of the framing (section 3):

    <code>/<LABEL>\\n
    <one line of JSON>\\n     (absent for 204)
    \\n

Unsolicited push lines (our extension, see docs/protocol.md) start with ``*``,
which no status line, JSON body or terminator can start with.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Final

import orjson

__all__ = [
    "MAX_NUMBER",
    "NEED_DATA",
    "PUSH_PREFIX",
    "STANDARD_LABELS",
    "LineError",
    "Push",
    "Reply",
    "ReplyReader",
    "Request",
    "RequestReader",
    "decode_text",
    "encode_push",
    "encode_reply",
    "encode_request",
    "encode_text",
    "is_blank_text",
    "max_line_for",
    "parse_number",
    "split_arguments",
]


class _NeedData:
    __slots__ = ()

    def __repr__(self) -> str:
        return "NEED_DATA"


NEED_DATA: Final = _NeedData()

PUSH_PREFIX: Final = "*"

# Section 3: "a code missing there falls back to its standard label".
STANDARD_LABELS: Final[dict[int, str]] = {
    200: "OK",
    204: "NO CONTENT",
    400: "BAD REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT FOUND",
    409: "CONFLICT",
    413: "PAYLOAD TOO LARGE",
    416: "RANGE NOT SATISFIABLE",
    429: "TOO MANY REQUESTS",
    500: "INTERNAL SERVER ERROR",
    503: "SERVICE UNAVAILABLE",
}

_DIGITS = re.compile(r"[0-9]+")
# Ids, pages and counts are clamped to this (JSON's interoperable integers):
# a larger number is valid syntax but names nothing that exists, so it
# reaches the handlers as "no such id" / "no such page", not as an overflow.
MAX_NUMBER: Final = 2**53
_MAX_NUMBER_DIGITS: Final = len(str(MAX_NUMBER))
_STATUS_LINE = re.compile(r"([0-9]{3})/(.*)")


def max_line_for(max_message_size: int) -> int:
    """The hard limit on one request line, in bytes (Pactocole section 2)."""
    return 4 * max_message_size + 1024


# --- events -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Request:
    """One request line: its command word and the raw text after it.

    ``arguments`` keeps every space after the command word, because the last
    argument of ``/message`` and ``/modifie`` is "the rest of the line" with
    its inner and trailing spaces (section 2); ``split_arguments`` cuts it.
    """

    command: str
    arguments: str


@dataclass(frozen=True, slots=True)
class LineError:
    """A line that cannot be a request: answered, then skipped."""

    code: int
    error: str
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Reply:
    """One response: a status code and its JSON body (``None`` for 204)."""

    code: int
    body: dict[str, Any] | None = None
    label: str = ""

    @property
    def ok(self) -> bool:
        return 200 <= self.code < 300


@dataclass(frozen=True, slots=True)
class Push:
    """An unsolicited line of the push extension: ``* <event> <json>``."""

    event: str
    data: dict[str, Any]


# --- requests: server side ----------------------------------------------------


class RequestReader:
    """Cuts a byte stream into request lines.

    The buffer never holds more than one partial line of at most ``max_line``
    bytes (plus what one ``feed`` brought): a longer line yields one
    ``LineError(413)`` and the reader skips to its end (section 2).
    """

    def __init__(self, max_line: int) -> None:
        self.max_line = max_line
        self._buffer = bytearray()
        self._scanned = 0  # bytes of _buffer known to hold no LF
        self._discarding = False

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    def feed(self, data: bytes) -> None:
        self._buffer += data

    def next_event(self) -> Request | LineError | _NeedData:
        while True:
            newline = self._buffer.find(b"\n", self._scanned)
            if newline < 0:
                if self._discarding:
                    self._buffer.clear()
                    self._scanned = 0
                    return NEED_DATA
                self._scanned = len(self._buffer)
                # +1: the line may still end in a CR that is not counted.
                if len(self._buffer) > self.max_line + 1:
                    self._buffer.clear()
                    self._scanned = 0
                    self._discarding = True
                    return self._too_long()
                return NEED_DATA
            raw = bytes(self._buffer[:newline])
            del self._buffer[: newline + 1]
            self._scanned = 0
            if self._discarding:
                self._discarding = False
                continue
            if raw.endswith(b"\r"):
                raw = raw[:-1]
            if len(raw) > self.max_line:
                return self._too_long()
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                return LineError(400, "request is not valid UTF-8")
            stripped = line.lstrip(" ")
            if not stripped.rstrip(" "):
                continue  # an empty line is not a request (section 2)
            command, _, arguments = stripped.partition(" ")
            return Request(command, " " + arguments if _ else "")

    def _too_long(self) -> LineError:
        return LineError(
            413, f"line longer than {self.max_line} bytes", {"max_line": self.max_line}
        )


def split_arguments(arguments: str, fixed: int, rest: bool = False) -> list[str]:
    """Split the text after a command word into its arguments.

    Arguments are separated by runs of spaces. With ``rest``, ``fixed`` plain
    arguments come first and everything after the run of spaces that follows
    the last of them is one more argument, inner and trailing spaces included
    (section 2). Returns whatever was found; the caller checks the count.
    A rest that is present but empty (``"/message 5   "``) is returned as ``""``.
    """
    if not rest:
        # Spaces only (section 2): a tab or a no-break space is part of an argument.
        return [token for token in arguments.split(" ") if token]
    parts: list[str] = []
    position = 0
    length = len(arguments)
    while len(parts) < fixed:
        while position < length and arguments[position] == " ":
            position += 1
        if position >= length:
            return parts
        end = arguments.find(" ", position)
        if end < 0:
            parts.append(arguments[position:])
            return parts
        parts.append(arguments[position:end])
        position = end
    if position >= length:
        return parts  # no separator after the last fixed argument: rest missing
    while position < length and arguments[position] == " ":
        position += 1
    parts.append(arguments[position:])
    return parts


def parse_number(token: str) -> int | None:
    """An id or page number: ASCII digits only (``-1``, ``+1``, ``1.5``, ``0x10`` are not).

    Clamped to ``MAX_NUMBER``, and a long run of digits is not converted at
    all: ``int()`` refuses more than 4,300 digits (and is quadratic below).
    """
    if _DIGITS.fullmatch(token) is None:
        return None
    digits = token.lstrip("0")
    if len(digits) > _MAX_NUMBER_DIGITS:
        return MAX_NUMBER
    return min(int(digits or "0"), MAX_NUMBER)


def decode_text(escaped: str) -> str:
    """Undo the message escapes: ``\\n`` is a newline, ``\\\\`` a backslash.

    Any other backslash is kept as it is (section 2).
    """
    if "\\" not in escaped:
        return escaped
    out: list[str] = []
    index = 0
    length = len(escaped)
    while index < length:
        char = escaped[index]
        if char == "\\" and index + 1 < length:
            following = escaped[index + 1]
            if following == "n":
                out.append("\n")
                index += 2
                continue
            if following == "\\":
                out.append("\\")
                index += 2
                continue
        out.append(char)
        index += 1
    return "".join(out)


def encode_text(text: str) -> str:
    """Escape a message for one request line; inverse of ``decode_text``.

    Line breaks of any convention become ``\\n``: a raw CR could not survive
    the line framing (a CR before LF is dropped).
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def is_blank_text(text: str) -> bool:
    """An empty or whitespace-only message is refused with 400 (section 2)."""
    return not text.strip()


def encode_request(command: str, *arguments: object) -> bytes:
    """Format one request line (the caller escapes message text)."""
    parts = [command, *(str(argument) for argument in arguments)]
    line = " ".join(parts)
    if "\n" in line or "\r" in line:
        raise ValueError("a request is one line: escape newlines with encode_text")
    return line.encode("utf-8") + b"\n"


# --- replies: both sides -----------------------------------------------------


# Characters that are line breaks to some readers (Python's str.splitlines,
# JavaScript) but that JSON may leave raw: U+0085, U+2028, U+2029 in UTF-8.
# A lead byte never appears inside another character, so a byte search is exact.
_UNICODE_BREAKS = (
    (b"\xc2\x85", b"\\u0085"),
    (b"\xe2\x80\xa8", b"\\u2028"),
    (b"\xe2\x80\xa9", b"\\u2029"),
)


def _dumps(body: dict[str, Any]) -> bytes:
    # orjson: compact UTF-8 (French stays readable in s_client), every C0
    # control escaped, and ~10x cheaper than json.dumps for a page of messages
    # (docs/benchmarks.md). We escape the Unicode line breaks, so the body is
    # one line for any line splitter.
    try:
        data = orjson.dumps(body, option=orjson.OPT_NON_STR_KEYS)
    except TypeError:  # integers past 64 bits, which the server never sends
        data = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    # A one-byte search is a memchr; a two-byte one scans ~50 times slower.
    if not data.isascii() and (
        (b"\xc2" in data and b"\xc2\x85" in data) or (b"\xe2" in data and b"\xe2\x80" in data)
    ):
        for raw, escaped in _UNICODE_BREAKS:
            data = data.replace(raw, escaped)
    return data


def encode_reply(code: int, body: dict[str, Any] | None, label: str | None = None) -> bytes:
    """Format a response; ``label`` defaults to the standard one for ``code``."""
    if label is None:
        label = STANDARD_LABELS.get(code, "UNKNOWN")
    head = f"{code}/{label}\n".encode()
    if code == 204:
        return head + b"\n"
    return head + _dumps(body if body is not None else {}) + b"\n\n"


def encode_push(event: str, data: dict[str, Any]) -> bytes:
    return f"{PUSH_PREFIX} {event} ".encode() + _dumps(data) + b"\n"


class ReplyReader:
    """Client side: cuts a byte stream into ``Reply`` and ``Push`` events.

    Raises ``ValueError`` on anything that is not the Pactocole framing: a
    client cannot resynchronise with a server it does not understand.
    """

    def __init__(self, max_line: int = 16 * 1024 * 1024) -> None:
        self.max_line = max_line
        self._buffer = bytearray()
        self._scanned = 0
        self._lines: list[str] = []

    def feed(self, data: bytes) -> None:
        self._buffer += data

    def _next_line(self) -> str | None:
        newline = self._buffer.find(b"\n", self._scanned)
        if newline < 0:
            self._scanned = len(self._buffer)
            if len(self._buffer) > self.max_line:
                raise ValueError("reply line too long")
            return None
        raw = bytes(self._buffer[:newline])
        del self._buffer[: newline + 1]
        self._scanned = 0
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        return raw.decode("utf-8")

    def next_event(self) -> Reply | Push | _NeedData:
        while True:
            line = self._next_line()
            if line is None:
                return NEED_DATA
            if not self._lines:
                if line.startswith(PUSH_PREFIX):
                    return _parse_push(line)
                if _STATUS_LINE.fullmatch(line) is None:
                    raise ValueError(f"expected a status line, got {line[:80]!r}")
                self._lines.append(line)
                continue
            if line == "":
                status, *body_lines = self._lines
                self._lines = []
                match = _STATUS_LINE.fullmatch(status)
                assert match is not None
                code = int(match.group(1))
                body = orjson.loads(body_lines[0]) if body_lines else None
                if len(body_lines) > 1:
                    raise ValueError("a reply body is exactly one line")
                return Reply(code, body, match.group(2))
            self._lines.append(line)


def _parse_push(line: str) -> Push:
    _, _, remainder = line.partition(" ")
    event, _, payload = remainder.partition(" ")
    data = orjson.loads(payload) if payload else {}
    if not isinstance(data, dict):
        raise ValueError("a push payload is a JSON object")
    return Push(event, data)
