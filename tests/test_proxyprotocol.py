"""The PROXY protocol (``server/proxyheader.py``, ``proxy_protocol_from``).

The parser, sans-IO: examples from the specification
(https://www.haproxy.org/download/2.6/doc/proxy-protocol.txt), and hypothesis
properties (every header this file encodes parses back, from any split; any
bytes give a header, "need more" or ``ProxyHeaderError``, within the size
bounds). Then a real server trusting 127.0.0.1 as its balancer, driven with
headers written by hand before real TLS: each client is counted under the
address its header names (failed logins, connections, ``/logs``); a header
from anywhere else is never believed; a trusted source without a valid
header is closed, and says so. The same through a real HAProxy is in
``tests/test_scale.py``.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
import struct
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from protocol.codec import ReplyReader
from server.config import ConfigError, load_settings
from server.proxyheader import (
    MAX_V1_LENGTH,
    MAX_V2_PAYLOAD,
    V2_SIGNATURE,
    ProxyHeader,
    ProxyHeaderError,
    is_trusted,
    parse_proxy_header,
    trusted_networks,
)

from .support import ADMIN_KEY, Line, ServerProcess, SourceLine, closed_by_peer, fresh_address

FAST = settings(deadline=None, max_examples=300, suppress_health_check=[HealthCheck.too_slow])
V2_LIMIT = 16 + MAX_V2_PAYLOAD


# --------------------------------------------------------------------------- encoders (the spec's)


def v1(source: str, destination: str, ports: tuple[int, int] = (56324, 4242)) -> bytes:
    family = "TCP4" if ipaddress.ip_address(source).version == 4 else "TCP6"
    return f"PROXY {family} {source} {destination} {ports[0]} {ports[1]}\r\n".encode()


def v2(
    source: str | None,
    destination: str | None = None,
    ports: tuple[int, int] = (56324, 4242),
    *,
    command: int = 0x1,
    tlvs: bytes = b"",
    family: int | None = None,
) -> bytes:
    """A binary header: PROXY (0x1) or LOCAL (0x0), TCP4/TCP6 from the addresses."""
    block = b""
    fam = 0x00
    if source is not None:
        src = ipaddress.ip_address(source)
        dst = ipaddress.ip_address(destination or ("10.0.0.1" if src.version == 4 else "::1"))
        fam = 0x11 if src.version == 4 else 0x21
        block = src.packed + dst.packed + struct.pack("!HH", *ports)
    if family is not None:
        fam = family
    payload = block + tlvs
    return V2_SIGNATURE + bytes([0x20 | command, fam]) + struct.pack("!H", len(payload)) + payload


def tlv(kind: int, value: bytes) -> bytes:
    return bytes([kind]) + struct.pack("!H", len(value)) + value


# --------------------------------------------------------------------------- examples

CLIENT_HELLO = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"  # what TLS sends first


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\nGET / HTTP/1.1\r\n",  # spec 2.1
            ProxyHeader(1, 47, ("192.168.0.1", 56324), ("192.168.0.11", 443)),
        ),
        (
            b"PROXY TCP6 2001:db8::7 2001:db8::1 1 65535\r\n" + CLIENT_HELLO,
            ProxyHeader(1, 44, ("2001:db8::7", 1), ("2001:db8::1", 65535)),
        ),
        (
            b"PROXY TCP6 ::ffff:198.51.100.4 ::ffff:10.0.0.1 9 4242\r\n",  # mapped: as IPv4
            ProxyHeader(1, 55, ("198.51.100.4", 9), ("10.0.0.1", 4242)),
        ),
        (b"PROXY UNKNOWN\r\n", ProxyHeader(1, 15)),
        (b"PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n", ProxyHeader(1, 59)),
        (
            v2("203.0.113.7", "10.0.0.1", (40000, 4242)) + CLIENT_HELLO,
            ProxyHeader(2, 28, ("203.0.113.7", 40000), ("10.0.0.1", 4242)),
        ),
        (
            v2("2001:db8::7", "2001:db8::1", tlvs=tlv(0x05, b"x" * 128) + tlv(0x04, b"")),
            ProxyHeader(2, 16 + 36 + 131 + 3, ("2001:db8::7", 56324), ("2001:db8::1", 4242)),
        ),
        (v2(None, command=0x0), ProxyHeader(2, 16)),  # LOCAL: a health check
        (v2("203.0.113.7", command=0x0), ProxyHeader(2, 28)),  # LOCAL: addresses ignored
        (v2(None), ProxyHeader(2, 16)),  # PROXY, UNSPEC: the real endpoints
        (v2(None, tlvs=b"\0" * 216, family=0x31), ProxyHeader(2, 232)),  # a UNIX socket
    ],
)
def test_headers_parse(data: bytes, expected: ProxyHeader) -> None:
    assert parse_proxy_header(data) == expected
    for cut in range(expected.length):
        assert parse_proxy_header(data[:cut]) is None, cut


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (CLIENT_HELLO, "no PROXY header"),
        (b"GET / HTTP/1.1\r\n", "no PROXY header"),
        (b"\r\n\r\n\x00\r\nQUIX", "signature"),
        (b"PROXI", "not a PROXY line"),
        (V2_SIGNATURE + b"\x11\x11\x00\x0c", "version 1 after"),
        (V2_SIGNATURE + b"\x22\x11\x00\x0c", "unknown command"),
        (V2_SIGNATURE + b"\x21\x12\x00\x0c", "datagram"),
        (V2_SIGNATURE + b"\x21\x41\x00\x0c", "unknown family"),
        (V2_SIGNATURE + b"\x21\x21\x00\x0c", "too short"),  # TCP6 in 12 bytes
        (V2_SIGNATURE + b"\x21\x11" + struct.pack("!H", MAX_V2_PAYLOAD + 1), "at most"),
        (V2_SIGNATURE + b"\x20\x00\xff\xff", "at most"),  # even LOCAL
        (v2("203.0.113.7", tlvs=b"\x05\x00"), "cut short"),
        (v2("203.0.113.7", tlvs=b"\x05\x00\x09abc"), "longer than"),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", "CRLF"),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r", None),  # need more: the LF may come
        (b"PROXY " + b"x" * MAX_V1_LENGTH, "no CRLF within 107"),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n", "expected PROXY"),
        (b"PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n", "expected PROXY"),
        (b"PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n", "expected PROXY"),
        (b"PROXY TCP4 2001:db8::1 5.6.7.8 1 2\r\n", "not TCP4"),
        (b"PROXY TCP6 1.2.3.4 2001:db8::1 1 2\r\n", "not TCP6"),
        (b"PROXY TCP4 1.2.3.04 5.6.7.8 1 2\r\n", "not TCP4"),
        (b"PROXY TCP6 fe80::1%eth0 fe80::2 1 2\r\n", "scope"),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n", "over 65535"),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 080 2\r\n", "not a decimal"),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 +80 2\r\n", "not a decimal"),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 \xd9\xa1 2\r\n", "ASCII"),
    ],
)
def test_malformed_headers_are_refused(data: bytes, error: str | None) -> None:
    if error is None:
        assert parse_proxy_header(data) is None
        return
    with pytest.raises(ProxyHeaderError, match=error):
        parse_proxy_header(data)


def test_trusted_networks_and_peers() -> None:
    networks = trusted_networks(["127.0.0.1", "10.0.0.0/8", "fd00::/8"])
    assert is_trusted("127.0.0.1", networks)
    assert is_trusted("10.200.3.4", networks)
    assert is_trusted("::ffff:10.0.0.9", networks)  # a dual-stack socket's IPv4 peer
    assert is_trusted("fd12::1", networks)
    assert not is_trusted("127.0.0.2", networks)
    assert not is_trusted("11.0.0.1", networks)
    assert not is_trusted("?", networks)
    assert not is_trusted("127.0.0.1", ())


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ('["10.0.0.1/8"]', "proxy_protocol_from: 10.0.0.1/8 has host bits set"),
        ('["balancer.internal"]', "proxy_protocol_from: .*does not appear to be an IPv4 or IPv6"),
        ('"10.0.0.0/8"', "proxy_protocol_from must be a list"),
        ("[10]", "proxy_protocol_from must be a list"),
    ],
)
def test_a_wrong_proxy_protocol_from_is_refused_at_start(
    tmp_path: Path, value: str, error: str
) -> None:
    path = tmp_path / ".tchatator"
    path.write_text(f"proxy_protocol_from = {value}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=error):
        load_settings(path)
    path.write_text('proxy_protocol_from = [" 10.0.0.7", "10.0.0.0/8", "fd00::/8"]\n')
    assert load_settings(path)[0].proxy_protocol_from == ("10.0.0.7/32", "10.0.0.0/8", "fd00::/8")


# --------------------------------------------------------------------------- properties

ipv4 = st.ip_addresses(v=4).map(str)
ipv6 = st.ip_addresses(v=6).filter(lambda a: a.ipv4_mapped is None).map(str)
port = st.integers(0, 65535)
some_tlvs = (
    st.lists(st.tuples(st.integers(0, 255), st.binary(max_size=300)), max_size=8)
    .map(lambda items: b"".join(tlv(kind, value) for kind, value in items))
    .filter(lambda data: 36 + len(data) <= MAX_V2_PAYLOAD)
)


@st.composite
def headers(draw: st.DrawFn) -> tuple[bytes, ProxyHeader]:
    """A header this file encodes, and what it must parse to."""
    addresses = st.tuples(ipv4, ipv4) | st.tuples(ipv6, ipv6)
    source, destination = draw(addresses)
    ports = (draw(port), draw(port))
    expected_addresses = ((source, ports[0]), (destination, ports[1]))
    kind = draw(st.sampled_from(["v1", "v2", "local", "unknown"]))
    if kind == "v1":
        data = v1(source, destination, ports)
        return data, ProxyHeader(1, len(data), *expected_addresses)
    if kind == "unknown":
        junk = draw(st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=90))
        data = f"PROXY UNKNOWN {junk}"[: MAX_V1_LENGTH - 2].encode() + b"\r\n"
        return data, ProxyHeader(1, len(data))
    tlvs = draw(some_tlvs)
    if kind == "local":
        data = v2(source, destination, ports, command=0x0, tlvs=tlvs)
        return data, ProxyHeader(2, len(data))
    data = v2(source, destination, ports, tlvs=tlvs)
    return data, ProxyHeader(2, len(data), *expected_addresses)


@FAST
@given(headers(), st.binary(max_size=64), st.data())
def test_every_header_parses_back_from_any_split(
    case: tuple[bytes, ProxyHeader], after: bytes, data: st.DataObject
) -> None:
    """Whatever follows (the ClientHello) is not taken; any prefix needs more."""
    encoded, expected = case
    assert parse_proxy_header(encoded + after) == expected
    assert parse_proxy_header(bytearray(encoded)) == expected
    cut = data.draw(st.integers(0, len(encoded) - 1))
    assert parse_proxy_header(encoded[:cut]) is None


def _outcome(data: bytes) -> ProxyHeader | type[ProxyHeaderError] | None:
    try:
        return parse_proxy_header(data)
    except ProxyHeaderError:
        return ProxyHeaderError


garbage = (
    st.binary(max_size=200)
    | st.binary(max_size=120).map(lambda b: b"PROXY " + b)
    | st.binary(max_size=120).map(lambda b: b"PROXY TCP4 " + b)
    | st.binary(max_size=5000).map(lambda b: V2_SIGNATURE + b)
    | headers().flatmap(
        lambda case: st.tuples(st.integers(0, len(case[0]) - 1), st.integers(0, 255)).map(
            lambda change: case[0][: change[0]] + bytes([change[1]]) + case[0][change[0] + 1 :]
        )
    )
)


@FAST
@given(garbage, st.data())
@example(V2_SIGNATURE + b"\x21\x11\x00\x0c" + b"\0" * 12, None)
def test_any_bytes_give_a_header_need_more_or_an_error_within_the_bounds(
    data: bytes, draw: st.DataObject | None
) -> None:
    """Nothing else is raised; "need more" only below the bounds (so the server
    holds at most that much); more bytes never take back an answer or an error."""
    outcome = _outcome(data)
    if outcome is None:
        assert len(data) < (V2_LIMIT if data[:1] == b"\r" else MAX_V1_LENGTH)
    elif isinstance(outcome, ProxyHeader):
        assert outcome.length <= len(data)
        assert outcome.length <= (V2_LIMIT if outcome.version == 2 else MAX_V1_LENGTH)
        if outcome.source is not None:
            ipaddress.ip_address(outcome.source[0])
    if draw is None:
        return
    prefix = _outcome(data[: draw.draw(st.integers(0, len(data)))])
    assert prefix is None or prefix == outcome


# --------------------------------------------------------------------------- a real server

FAILED_LOGINS = 3
PER_ADDRESS = 4
HANDSHAKE_TIMEOUT = 2
BALANCER = "127.0.0.1"  # what the server trusts; every other loopback address is a client


@pytest.fixture(scope="module")
def behind(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = ServerProcess(
        tmp_path_factory.mktemp("proxied"),
        proxy_protocol_from=[BALANCER],
        max_failed_logins_per_minute=FAILED_LOGINS,
        max_connections_per_address=PER_ADDRESS,
        handshake_timeout=HANDSHAKE_TIMEOUT,
    ).start()
    yield server
    server.stop()


class ProxiedLine(Line):
    """A ``Line`` that sends ``header`` before its TLS handshake (as HAProxy's
    ``send-proxy-v2`` does), from ``source`` (default: the balancer's address).
    ``together``: the header and the ClientHello leave in one TCP segment."""

    def __init__(
        self,
        server: ServerProcess,
        header: bytes,
        source: str = BALANCER,
        *,
        together: bool = False,
        timeout: float = 10.0,
    ) -> None:
        raw = socket.create_connection(
            ("127.0.0.1", server.port), timeout=timeout, source_address=(source, 0)
        )
        if together:
            raw.send(header, socket.MSG_MORE)  # held until the next send: the ClientHello
        else:
            raw.sendall(header)
        self.sock = server.client_context().wrap_socket(raw, server_hostname="localhost")
        self.codec = ReplyReader()
        self.pushes = []


def _logs(server: ServerProcess, count: int = 200) -> list[dict]:
    with ProxiedLine(server, v2("192.0.2.250")) as admin:
        admin.login(ADMIN_KEY)
        return admin.ask(f"/logs {count}").body["logs"]


def test_each_client_behind_the_balancer_is_throttled_under_its_own_address(
    behind: ServerProcess,
) -> None:
    """One address's guesses lock out that address only; /logs shows the
    clients' addresses, not the balancer's. (Without the PROXY protocol every
    client was the balancer: one guesser locked out everybody's login.)"""
    pro = behind.add_user("pro", "Derrière le répartiteur")
    guesser, neighbour = "203.0.113.7", "198.51.100.9"
    for make in (v1, v2, v1):
        with ProxiedLine(behind, make(guesser, "10.0.0.1")) as line:
            assert line.ask("/connexion not-a-key").code == 401
    with ProxiedLine(behind, v2(guesser)) as line:
        refused = line.ask(f"/connexion {pro['api_key']}")  # even a good key
        assert refused.code == 429, refused
    for make in (v1, v2):
        with ProxiedLine(behind, make(neighbour, "10.0.0.1")) as line:
            assert line.ask(f"/connexion {pro['api_key']}").code == 200
    with ProxiedLine(behind, v2("2001:db8::42", "2001:db8::1")) as line:
        assert line.ask(f"/connexion {pro['api_key']}").code == 200
    peers = [entry["peer"] for entry in _logs(behind)]
    assert {guesser, neighbour, "2001:db8::42"} <= set(peers), peers
    assert BALANCER not in peers


def test_connections_per_address_count_each_client(behind: ServerProcess) -> None:
    """max_connections_per_address holds per client: one client's connections
    fill its own allowance, not the balancer's."""
    busy, other = "203.0.113.20", "203.0.113.21"
    lines = [ProxiedLine(behind, v2(busy)) for _ in range(PER_ADDRESS)]
    try:
        for line in lines:
            assert line.ask("/limites").code == 200
        with ProxiedLine(behind, v2(busy)) as extra:
            refused = extra.ask("/limites")
            assert refused.code == 429, refused
            assert "too many connections" in refused.body["error"]
        with ProxiedLine(behind, v1(other, "10.0.0.1")) as line:
            assert line.ask("/limites").code == 200
    finally:
        for line in lines:
            line.close()


def test_a_local_header_is_the_balancer_itself(behind: ServerProcess) -> None:
    """LOCAL (HAProxy's health checks with check-send-proxy): served, under the
    balancer's own address."""
    for header in (v2(None, command=0x0), b"PROXY UNKNOWN\r\n"):
        with ProxiedLine(behind, header) as line:
            assert line.ask("/limites").code == 200
    logs = _logs(behind)
    assert [entry["peer"] for entry in logs if entry["command"] == "/limites"][-2:] == [
        BALANCER,
        BALANCER,
    ], logs


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_the_header_and_the_client_hello_in_one_segment(
    behind: ServerProcess, tmp_path: Path, loop: str
) -> None:
    """What came with the header is the TLS layer's first input (lost, the
    handshake would wait for a ClientHello that already came)."""
    server = behind
    if loop == "uvloop":
        pytest.importorskip("uvloop")
        server = ServerProcess(
            tmp_path / "uvloop", proxy_protocol_from=[BALANCER], handshake_timeout=HANDSHAKE_TIMEOUT
        ).start(extra_args=("--uvloop",))
    try:
        for make in (v1, v2):
            with ProxiedLine(server, make("203.0.113.30", "10.0.0.1"), together=True) as line:
                line.login(ADMIN_KEY)
                assert line.ask("/logs 1").body["logs"][0]["peer"] == "203.0.113.30"
    finally:
        if server is not behind:
            server.stop()


def test_only_the_balancer_may_and_must_send_a_header(behind: ServerProcess) -> None:
    """From any other address a header is not believed (a client cannot pick
    its address): it is a broken TLS handshake. From the balancer, no header
    (or a broken one) closes the connection, with a log line, and no TLS."""
    spoofer = fresh_address()
    assert spoofer != BALANCER
    with pytest.raises((ssl.SSLError, ConnectionError)):
        ProxiedLine(behind, v1("192.0.2.66", "10.0.0.1"), source=spoofer)
    with pytest.raises((ssl.SSLError, ConnectionError)):
        ProxiedLine(behind, v2("192.0.2.66"), source=spoofer)
    with SourceLine(behind, spoofer) as line:  # without one: served, as itself
        assert line.ask("/limites").code == 200
    before = len(behind.output)
    with pytest.raises((ssl.SSLError, ConnectionError)):
        Line(behind)  # from 127.0.0.1, TLS at once
    with pytest.raises((ssl.SSLError, ConnectionError)):
        ProxiedLine(behind, b"PROXY TCP4 192.0.2.66 10.0.0.1 99999 1\r\n")
    _wait_for(lambda: len(behind.output) >= before + 2)
    said = behind.output[before:]
    assert any(
        "closing a connection from 127.0.0.1 (proxy_protocol_from): invalid PROXY header: no PROXY"
        in line
        for line in said
    ), said
    assert any("port 99999" in line for line in said), said
    logs = _logs(behind)
    assert any(entry["peer"] == spoofer and entry["command"] == "/limites" for entry in logs)
    assert "192.0.2.66" not in {entry["peer"] for entry in logs}


def test_a_balancer_that_sends_nothing_is_closed_at_the_deadline(behind: ServerProcess) -> None:
    """The header waits at most handshake_timeout from the accept, and at most
    one header's bytes: a silent or trickling connection, or one announcing
    a huge header, holds nothing long."""
    before = len(behind.output)
    with socket.create_connection(("127.0.0.1", behind.port)) as silent:
        started = time.monotonic()
        assert closed_by_peer(silent, HANDSHAKE_TIMEOUT + 3)
        assert time.monotonic() - started >= HANDSHAKE_TIMEOUT - 0.5
    with socket.create_connection(("127.0.0.1", behind.port)) as trickling:
        started = time.monotonic()
        trickling.sendall(V2_SIGNATURE[:5])
        time.sleep(1)
        trickling.sendall(V2_SIGNATURE[5:10])
        assert closed_by_peer(trickling, HANDSHAKE_TIMEOUT + 3)
        assert time.monotonic() - started <= HANDSHAKE_TIMEOUT + 1.5
    with socket.create_connection(("127.0.0.1", behind.port)) as huge:
        huge.sendall(V2_SIGNATURE + b"\x21\x11\xff\xff")
        assert closed_by_peer(huge, 1.0)  # at once, not after 64 KiB
    _wait_for(lambda: len(behind.output) >= before + 3)
    said = "\n".join(behind.output[before:])
    assert said.count("no PROXY header in time") == 2, said
    assert "65535 bytes of addresses and TLVs" in said, said
    with ProxiedLine(behind, v2("203.0.113.40")) as line:  # the counts came back down
        assert line.ask("/limites").code == 200


def test_sync_checks_proxy_protocol_from_and_applies_it_live(behind: ServerProcess) -> None:
    """A wrong value is refused by /sync, with the reason, and the running
    list stays; a right one applies to the next connections."""
    with SourceLine(behind, fresh_address()) as admin:
        admin.login(ADMIN_KEY)
        try:
            behind.rewrite_config(proxy_protocol_from=["127.0.0.0/8x"])
            reply = admin.ask("/sync")
            assert reply.code == 400, reply
            assert "proxy_protocol_from: '127.0.0.0/8x' does not appear" in reply.body["error"]
            with ProxiedLine(behind, v2("203.0.113.50")) as line:  # still trusted
                assert line.ask("/limites").code == 200
            behind.rewrite_config(proxy_protocol_from=[])
            reply = admin.ask("/sync")
            assert reply.code == 200, reply
            assert reply.body["reloaded"] == ["proxy_protocol_from"]
            with Line(behind) as line:  # no longer a balancer: plain TLS
                assert line.ask("/limites").code == 200
        finally:
            behind.rewrite_config(proxy_protocol_from=[BALANCER])
            assert admin.ask("/sync").code == 200


def _wait_for(condition, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
