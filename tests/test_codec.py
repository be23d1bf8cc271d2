"""The sans-IO codec (``protocol/codec.py``): examples and hypothesis properties.

The oracles below are written from the Pactocole (sections 2 and 3), not from
the codec: a line ends at LF, one CR before it is dropped, a line longer than
``max_line`` bytes is one 413, invalid UTF-8 is a 400, an empty line is no
request; ``\\n`` and ``\\\\`` are the only escapes; a reply is a status line, an
optional JSON line and an empty line.
"""

from __future__ import annotations

import itertools
import json
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocol.codec import (
    MAX_NUMBER,
    NEED_DATA,
    LineError,
    Push,
    Reply,
    ReplyReader,
    Request,
    RequestReader,
    decode_text,
    encode_push,
    encode_reply,
    encode_text,
    max_line_for,
    parse_number,
    split_arguments,
)
from protocol.errors import StatusError

FAST = settings(deadline=None, max_examples=150, suppress_health_check=[HealthCheck.too_slow])


# --------------------------------------------------------------------------- helpers


def _chunked(data: bytes, cuts: list[int]) -> list[bytes]:
    """``data`` cut at the given positions (any order, duplicates allowed)."""
    points = sorted({0, len(data), *(cut % (len(data) + 1) for cut in cuts)})
    return [data[a:b] for a, b in itertools.pairwise(points)]


def _request_events(max_line: int, chunks: list[bytes]) -> list[object]:
    reader = RequestReader(max_line)
    events: list[object] = []
    for chunk in chunks:
        reader.feed(chunk)
        while True:
            event = reader.next_event()
            if event is NEED_DATA:
                # Bounded memory: never more than one line's worth is kept.
                assert reader.buffered <= max_line + 1
                break
            assert isinstance(event, Request | LineError), event
            events.append(event)
    return events


def _oracle(max_line: int, data: bytes) -> list[tuple]:
    """What the contract says a stream holds, as comparable tuples."""
    *lines, tail = data.split(b"\n")
    expected: list[tuple] = []
    for raw in lines:
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        if len(raw) > max_line:
            expected.append((413, max_line))
            continue
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            expected.append((400,))
            continue
        stripped = text.lstrip(" ")
        if not stripped.strip(" "):
            continue
        command, space, rest = stripped.partition(" ")
        # The arguments keep every space after the command word (the rest of the line).
        expected.append(("request", command, " " + rest if space else ""))
    # An unfinished line is no request yet; but once it is too long, it is one 413.
    if len(tail) > max_line + 1:
        expected.append((413, max_line))
    return expected


def _comparable(event: object) -> tuple:
    if isinstance(event, Request):
        return ("request", event.command, event.arguments)
    assert isinstance(event, LineError)
    assert isinstance(event.error, str) and event.error
    if event.code == 413:
        return (413, event.extra.get("max_line"))
    assert event.code == 400
    return (400,)


# --------------------------------------------------------------------------- escapes


def _decode_oracle(escaped: str) -> str:
    return re.sub(r"\\(n|\\)", lambda m: "\n" if m.group(1) == "n" else "\\", escaped)


@pytest.mark.parametrize(
    ("escaped", "text"),
    [
        ("bonjour", "bonjour"),
        ("ligne 1\\nligne 2", "ligne 1\nligne 2"),
        ("C:\\\\temp", "C:\\temp"),
        ("\\\\n", "\\n"),
        ("\\\\\\n", "\\\n"),
        ("tab \\t kept", "tab \\t kept"),
        ("fin \\", "fin \\"),
        ("\\", "\\"),
        ("\\N", "\\N"),
        ("", ""),
    ],
)
def test_decode_text_examples(escaped: str, text: str) -> None:
    assert decode_text(escaped) == text


def test_encode_text_examples() -> None:
    assert encode_text("a\nb") == "a\\nb"
    assert encode_text("a\\nb") == "a\\\\nb"
    assert encode_text("a\r\nb\rc") == "a\\nb\\nc"
    assert encode_text("l'été à Noël") == "l'été à Noël"


@FAST
@given(st.text())
def test_encode_then_decode_round_trip(text: str) -> None:
    encoded = encode_text(text)
    assert "\n" not in encoded and "\r" not in encoded
    assert decode_text(encoded) == text.replace("\r\n", "\n").replace("\r", "\n")


@FAST
@given(st.text(alphabet=st.sampled_from("\\nab \n\t")))
def test_decode_text_matches_the_contract(escaped: str) -> None:
    assert decode_text(escaped) == _decode_oracle(escaped)


@FAST
@given(st.text())
def test_decode_text_never_raises_and_never_grows(escaped: str) -> None:
    assert len(decode_text(escaped)) <= len(escaped)


# --------------------------------------------------------------------------- numbers


@pytest.mark.parametrize(
    "token", ["-1", "+1", "1.5", "0x10", "1e3", "1_000", " 1", "1 ", "", "١٢", "²", "\uff15"]
)
def test_parse_number_refuses(token: str) -> None:
    assert parse_number(token) is None


@FAST
@given(st.text(max_size=12))
def test_parse_number_is_ascii_digits_only(token: str) -> None:
    is_number = bool(token) and all(char in "0123456789" for char in token)
    assert parse_number(token) == (int(token) if is_number else None)


@FAST
@given(st.text(alphabet="0123456789", min_size=1, max_size=6000))
def test_parse_number_never_raises_and_clamps(token: str) -> None:
    # Past 4,300 digits int() raises ValueError (a 500 at the server once).
    significant = token.lstrip("0") or "0"
    expected = MAX_NUMBER if len(significant) > 17 else min(int(significant), MAX_NUMBER)
    assert parse_number(token) == expected


def test_parse_number_past_pythons_digit_limit() -> None:
    assert parse_number("9" * 5000) == MAX_NUMBER
    assert parse_number("0" * 5000 + "7") == 7
    assert parse_number(str(MAX_NUMBER + 1)) == MAX_NUMBER


def test_max_line_for() -> None:
    assert max_line_for(1000) == 5024
    assert max_line_for(200) == 1824
    assert max_line_for(1) == 1028


# --------------------------------------------------------------------------- arguments

_TOKEN = st.text(
    alphabet=st.characters(blacklist_characters=" \n", blacklist_categories=("Cs",)), min_size=1
)
_SPACES = st.integers(min_value=1, max_value=4).map(lambda n: " " * n)


@FAST
@given(
    st.lists(st.tuples(_SPACES, _TOKEN), max_size=5),
    st.integers(min_value=0, max_value=3).map(lambda n: " " * n),
)
def test_split_arguments_by_runs_of_spaces(pieces: list[tuple[str, str]], trailing: str) -> None:
    arguments = "".join(spaces + token for spaces, token in pieces) + trailing
    assert split_arguments(arguments, 0) == [token for _, token in pieces]


@FAST
@given(
    st.lists(st.tuples(_SPACES, _TOKEN), min_size=1, max_size=3),
    _SPACES,
    st.text(alphabet=st.characters(blacklist_characters="\n", blacklist_categories=("Cs",))),
)
def test_split_arguments_rest_of_line(
    fixed: list[tuple[str, str]], separator: str, rest: str
) -> None:
    """The rest is everything after the run of spaces that follows the last fixed argument."""
    rest = rest.lstrip(" ")
    arguments = "".join(spaces + token for spaces, token in fixed) + separator + rest
    result = split_arguments(arguments, len(fixed), rest=True)
    assert result[: len(fixed)] == [token for _, token in fixed]
    if rest:
        assert result[len(fixed) :] == [rest]
    else:  # present but empty, or missing: either way the command answers 400
        assert result[len(fixed) :] in ([""], [])


@pytest.mark.parametrize(
    ("arguments", "parts"),
    [
        (" 12 Bonjour", ["12", "Bonjour"]),
        (" 12    Bonjour  à   tous  ", ["12", "Bonjour  à   tous  "]),
        ("   12 a", ["12", "a"]),
        (" 12", ["12"]),
        ("", []),
        (" 12\tx", ["12\tx"]),
    ],
)
def test_split_arguments_rest_examples(arguments: str, parts: list[str]) -> None:
    assert split_arguments(arguments, 1, rest=True) == parts


def test_split_arguments_tab_is_not_a_separator() -> None:
    assert split_arguments(" 5\t6", 0) == ["5\t6"]
    assert split_arguments(" 5\u00a06", 0) == ["5\u00a06"]


# --------------------------------------------------------------------------- request reader


def test_request_reader_examples() -> None:
    reader = RequestReader(40)
    reader.feed(b"/message 12   Bonjour  \r\n\n   \n  /liste\n/x \xff\n")
    first = reader.next_event()
    assert first == Request("/message", " 12   Bonjour  ")
    assert split_arguments(first.arguments, 1, rest=True) == ["12", "Bonjour  "]
    assert reader.next_event() == Request("/liste", "")
    error = reader.next_event()
    assert isinstance(error, LineError) and error.code == 400
    assert reader.next_event() is NEED_DATA
    reader.feed(b"a" * 41 + b"\n/ok\n")
    error = reader.next_event()
    assert isinstance(error, LineError)
    assert (error.code, error.extra) == (413, {"max_line": 40})
    assert reader.next_event() == Request("/ok", "")
    reader.feed(b"b" * 40 + b"\r\n")
    assert reader.next_event() == Request("b" * 40, "")


_STREAM = st.lists(
    st.one_of(
        st.binary(max_size=30),
        st.sampled_from([b"\n", b"\r\n", b"\r", b" ", b"/liste 1", b"\xff", b"\xc3", b"\xa9"]),
        st.integers(min_value=20, max_value=120).map(lambda n: b"x" * n),
    ),
    max_size=25,
).map(b"".join)


@FAST
@given(st.integers(min_value=1, max_value=48), _STREAM, st.lists(st.integers(0, 10_000)))
def test_request_reader_never_raises_and_follows_the_contract(
    max_line: int, data: bytes, cuts: list[int]
) -> None:
    events = _request_events(max_line, _chunked(data, cuts))
    assert [_comparable(event) for event in events] == _oracle(max_line, data)


@FAST
@given(
    st.integers(min_value=1, max_value=48),
    _STREAM,
    st.lists(st.integers(0, 10_000)),
    st.lists(st.integers(0, 10_000)),
)
def test_request_reader_chunking_does_not_matter(
    max_line: int, data: bytes, cuts: list[int], other_cuts: list[int]
) -> None:
    one_piece = _request_events(max_line, [data])
    assert _request_events(max_line, _chunked(data, cuts)) == one_piece
    assert _request_events(max_line, _chunked(data, other_cuts)) == one_piece
    assert _request_events(max_line, [bytes([b]) for b in data]) == one_piece


@FAST
@given(
    st.integers(min_value=4, max_value=64),
    st.lists(st.tuples(st.floats(0, 3), st.booleans()), max_size=12),
    st.lists(st.integers(0, 100_000)),
)
def test_one_413_per_long_line(max_line: int, shapes: list, cuts: list[int]) -> None:
    lines = []
    for ratio, crlf in shapes:
        length = int(ratio * max_line)
        lines.append(b"/" + b"z" * length + (b"\r\n" if crlf else b"\n"))
    data = b"".join(lines)
    events = _request_events(max_line, _chunked(data, cuts))
    long_lines = sum(1 for line in lines if len(line.rstrip(b"\n").removesuffix(b"\r")) > max_line)
    assert sum(isinstance(e, LineError) and e.code == 413 for e in events) == long_lines
    assert len(events) == len(lines)  # and every short line is a request, in order
    for line, event in zip(lines, events, strict=True):
        short = len(line.rstrip(b"\n").removesuffix(b"\r")) <= max_line
        assert isinstance(event, Request) == short


def test_megabyte_line_is_one_413_in_bounded_memory() -> None:
    reader = RequestReader(1824)
    errors = 0
    for _ in range(64):
        reader.feed(b"m" * 16384)
        while (event := reader.next_event()) is not NEED_DATA:
            assert isinstance(event, LineError) and event.code == 413
            errors += 1
        assert reader.buffered <= 1825
    reader.feed(b"tail\n/liste\n")
    assert reader.next_event() == Request("/liste", "")
    assert errors == 1


# --------------------------------------------------------------------------- replies

_JSON = st.recursive(
    # RFC 8259 interoperable integers: the server clamps every number to 2**53.
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=8,
)
_BODY = st.dictionaries(st.text(max_size=10), _JSON, max_size=5)
_LABEL = st.text(
    alphabet=st.characters(blacklist_characters="\r\n", blacklist_categories=("Cs",)), max_size=25
)
_REPLY = st.builds(
    lambda code, body, label: Reply(code, None if code == 204 else body, label),
    st.sampled_from([200, 204, 400, 401, 403, 404, 409, 413, 416, 429, 500, 503]),
    _BODY,
    _LABEL,
)
_PUSH = st.builds(
    Push,
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=10),
    _BODY,
)


def _encode(event: Reply | Push) -> bytes:
    if isinstance(event, Push):
        return encode_push(event.event, event.data)
    return encode_reply(event.code, event.body, event.label)


def test_encode_reply_format() -> None:
    assert encode_reply(204, None) == b"204/NO CONTENT\n\n"
    data = encode_reply(200, {"text": "a\nb", "é": 1})
    status, body, end, nothing = data.split(b"\n")
    assert status == b"200/OK"
    assert json.loads(body) == {"text": "a\nb", "é": 1}
    assert (end, nothing) == (b"", b"")
    assert encode_reply(404, {"error": "x"}, "INTROUVABLE").startswith(b"404/INTROUVABLE\n")


@settings(deadline=None, max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(_REPLY, _PUSH), max_size=6), st.lists(st.integers(0, 100_000)))
def test_reply_reader_round_trip(events: list[Reply | Push], cuts: list[int]) -> None:
    data = b"".join(_encode(event) for event in events)
    # Every reply is a status line, at most one body line, and an empty line.
    for event in events:
        if isinstance(event, Reply):
            assert _encode(event).count(b"\n") == (2 if event.code == 204 else 3)
        else:
            assert _encode(event).count(b"\n") == 1
    reader = ReplyReader()
    seen: list[Reply | Push] = []
    for chunk in _chunked(data, cuts):
        reader.feed(chunk)
        while (event := reader.next_event()) is not NEED_DATA:
            seen.append(event)
    assert seen == events


@pytest.mark.parametrize(
    ("value", "expected"),
    [(3, 3), (2.5, 2), (None, None), ("9" * 5000, None), (True, None), (10**30, 86400), (-4, 0)],
)
def test_status_error_retry_after_never_raises(value, expected) -> None:
    # Any number a server sends: the apps show it, they must not crash on it.
    assert StatusError(429, "TOO MANY REQUESTS", {"retry_after": value}).retry_after == expected
