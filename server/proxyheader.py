"""The PROXY protocol header a load balancer puts before the client's bytes.

Behind HAProxy in TCP mode every connection comes from the balancer; with
``send-proxy-v2`` (binary) or ``send-proxy`` (text) it opens each connection
to an instance with one header naming the real client, then relays the
client's bytes (here: its TLS handshake) untouched. The specification:
https://www.haproxy.org/download/2.6/doc/proxy-protocol.txt (quoted below as
"spec" with its section).

Sans-IO, as ``protocol/codec.py``: ``parse_proxy_header(data)`` takes the
bytes received so far and returns a ``ProxyHeader`` (with the length it
took: what follows is the client's), ``None`` (need more bytes), or raises
``ProxyHeaderError``. It never asks for more than ``MAX_V1_LENGTH`` bytes
(version 1) or ``V2_PREFIX_LENGTH + MAX_V2_PAYLOAD`` (version 2): past
those, it has either answered or raised, so a caller that stops reading at
the first answer holds at most that much. An error is never taken back by
more bytes, and an answer never changed by them.

Which connections may carry a header is the caller's business
(``proxy_protocol_from``): a header is believed only from a trusted balancer,
and then required (spec 2: a receiver must not guess whether one is present).
``trusted_networks`` and ``is_trusted`` are the pure half of that check.
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "MAX_V1_LENGTH",
    "MAX_V2_PAYLOAD",
    "V2_SIGNATURE",
    "Network",
    "ProxyHeader",
    "ProxyHeaderError",
    "is_trusted",
    "parse_proxy_header",
    "trusted_networks",
]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

# spec 2.1: "a 108-byte buffer is always enough to store all the line and a
# trailing zero": the longest line, CRLF included, is 107 bytes.
MAX_V1_LENGTH = 107
V1_PREFIX = b"PROXY "
# spec 2.2: the binary header's 12-byte signature, then version and command,
# family and transport, and the length of what follows (big-endian).
V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
V2_PREFIX_LENGTH = 16
# The spec allows 65,535 bytes of addresses and TLVs. HAProxy sends 12 (TCP4)
# or 36 (TCP6) bytes of addresses, plus a few TLVs (unique id at most 128,
# authority at most 255, SSL details) when configured to: 4 KiB is ample,
# and a connection waiting for its header holds no more than that.
MAX_V2_PAYLOAD = 4096

_LOCAL, _PROXY = 0x0, 0x1
_UNSPEC, _INET, _INET6, _UNIX = 0x0, 0x1, 0x2, 0x3
_STREAM = 0x1
# spec 2.2: the size of the address block of each family (addresses, ports).
_ADDRESS_BLOCK = {_UNSPEC: 0, _INET: 12, _INET6: 36, _UNIX: 216}


class ProxyHeaderError(ValueError):
    """The bytes are not a PROXY protocol header this server accepts."""


@dataclass(frozen=True, slots=True)
class ProxyHeader:
    """A complete header.

    ``length`` is how many bytes it took: the client's stream starts after.
    ``source`` and ``destination`` are ``(address, port)`` of the relayed
    connection (the client, and the address it reached on the balancer), or
    None when the header carries none to use: a ``LOCAL`` header (the
    balancer's own connection, e.g. a health check), ``UNKNOWN`` (version 1)
    or an unspecified or UNIX-socket family (version 2). The receiver then
    uses the connection's real endpoints (spec 2.1, 2.2). An IPv4 address
    sent as IPv4-mapped IPv6 is given as IPv4, so one client has one spelling.
    """

    version: int
    length: int
    source: tuple[str, int] | None = None
    destination: tuple[str, int] | None = None


def parse_proxy_header(data: bytes | bytearray | memoryview) -> ProxyHeader | None:
    """The header at the start of ``data``, or None if more bytes are needed.

    Raises:
        ProxyHeaderError: ``data`` does not start with a header (the first
            bytes are neither signature), or with a malformed or unsupported
            one, or one longer than this server accepts.
    """
    if not data:
        return None
    if data[0] == V2_SIGNATURE[0]:  # "\r": only version 2 starts so
        return _parse_v2(bytes(data[: V2_PREFIX_LENGTH + MAX_V2_PAYLOAD]))
    if data[0] == V1_PREFIX[0]:
        return _parse_v1(bytes(data[:MAX_V1_LENGTH]))
    raise ProxyHeaderError("no PROXY header (neither signature)")


def _parse_v2(head: bytes) -> ProxyHeader | None:
    if not V2_SIGNATURE.startswith(head[: len(V2_SIGNATURE)]):
        raise ProxyHeaderError("not a version 2 signature")
    if len(head) < V2_PREFIX_LENGTH:
        return None
    version, command = head[12] >> 4, head[12] & 0x0F
    if version != 2:
        raise ProxyHeaderError(f"version {version} after the version 2 signature")
    if command not in (_LOCAL, _PROXY):
        raise ProxyHeaderError(f"unknown command {command:#x}")
    family, transport = head[13] >> 4, head[13] & 0x0F
    (payload,) = struct.unpack_from("!H", head, 14)
    if payload > MAX_V2_PAYLOAD:
        raise ProxyHeaderError(f"{payload} bytes of addresses and TLVs (at most {MAX_V2_PAYLOAD})")
    if command == _PROXY:
        # LOCAL: "the receiver must ... discard the protocol block including
        # the family" (spec 2.2), so only PROXY's family is checked.
        if family not in _ADDRESS_BLOCK or transport > 0x2:
            raise ProxyHeaderError(f"unknown family/transport {head[13]:#04x}")
        if family != _UNSPEC and transport != _STREAM:
            raise ProxyHeaderError("a datagram (or unspecified) transport over a TCP connection")
        if payload < _ADDRESS_BLOCK[family]:
            raise ProxyHeaderError(f"{payload} bytes: too short for the addresses of its family")
    end = V2_PREFIX_LENGTH + payload
    if len(head) < end:
        return None
    block = head[V2_PREFIX_LENGTH:end]
    if command == _LOCAL:
        return ProxyHeader(2, end)
    _check_tlvs(block[_ADDRESS_BLOCK[family] :])
    source: Address
    destination: Address
    if family == _INET:
        source, destination = ipaddress.IPv4Address(block[:4]), ipaddress.IPv4Address(block[4:8])
        ports = struct.unpack_from("!HH", block, 8)
    elif family == _INET6:
        source, destination = ipaddress.IPv6Address(block[:16]), ipaddress.IPv6Address(block[16:32])
        ports = struct.unpack_from("!HH", block, 32)
    else:  # UNSPEC, UNIX: no IP address to use (spec: the real endpoints then)
        return ProxyHeader(2, end)
    return ProxyHeader(
        2, end, (str(_unmapped(source)), ports[0]), (str(_unmapped(destination)), ports[1])
    )


def _check_tlvs(tlvs: bytes) -> None:
    """The TLVs after the addresses (spec 2.2.x) must tile what is left exactly:
    type (1 byte), length (2, big-endian), value. Their contents are not used
    (so a CRC32c TLV is not checked: the spec makes that optional)."""
    at = 0
    while at < len(tlvs):
        if len(tlvs) - at < 3:
            raise ProxyHeaderError("a TLV cut short")
        (size,) = struct.unpack_from("!H", tlvs, at + 1)
        at += 3 + size
        if at > len(tlvs):
            raise ProxyHeaderError("a TLV longer than the header")


def _parse_v1(head: bytes) -> ProxyHeader | None:
    if not head.startswith(V1_PREFIX[: len(head)]):
        raise ProxyHeaderError("not a PROXY line")
    end = head.find(b"\r\n")
    if end < 0:
        if b"\n" in head or b"\r" in head[:-1]:
            raise ProxyHeaderError("a PROXY line not ended by CRLF")
        if len(head) >= MAX_V1_LENGTH:
            raise ProxyHeaderError(f"no CRLF within {MAX_V1_LENGTH} bytes")
        return None
    length = end + 2
    try:
        line = head[:end].decode("ascii")
    except UnicodeDecodeError:
        raise ProxyHeaderError("a PROXY line that is not ASCII") from None
    words = line.split(" ")
    if len(words) >= 2 and words[1] == "UNKNOWN":
        # spec 2.1: "the receiver must ignore anything presented before the
        # CRLF is found" and use the real endpoints.
        return ProxyHeader(1, length)
    if len(words) != 6 or words[1] not in ("TCP4", "TCP6"):
        raise ProxyHeaderError("expected PROXY TCP4|TCP6 <source> <destination> <ports>")
    family = ipaddress.IPv4Address if words[1] == "TCP4" else ipaddress.IPv6Address
    if "%" in words[2] or "%" in words[3]:
        raise ProxyHeaderError("an IPv6 address with a scope")  # not an address to count by
    try:
        source, destination = family(words[2]), family(words[3])
    except ValueError:
        raise ProxyHeaderError(f"an address that is not {words[1]}") from None
    ports = tuple(_port(word) for word in words[4:])
    return ProxyHeader(
        1, length, (str(_unmapped(source)), ports[0]), (str(_unmapped(destination)), ports[1])
    )


def _port(word: str) -> int:
    # spec 2.1: decimal, 0..65535, "leading zeroes must not be emitted".
    if (
        not (word.isascii() and word.isdigit())
        or len(word) > 5
        or (len(word) > 1 and word[0] == "0")
    ):
        raise ProxyHeaderError(f"port {word!r} is not a decimal number")
    port = int(word)
    if port > 65535:
        raise ProxyHeaderError(f"port {port} is over 65535")
    return port


def _unmapped(address: Address) -> Address:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


# --- who may send one -----------------------------------------------------------------------


def trusted_networks(texts: Iterable[str]) -> tuple[Network, ...]:
    """``proxy_protocol_from``'s addresses and networks ("10.0.0.7", "10.0.0.0/8",
    "fd00::/8").

    Raises:
        ValueError: one is neither (host bits set after the "/" included: a
            typo there would trust another network than meant).
    """
    return tuple(ipaddress.ip_network(text.strip(), strict=True) for text in texts)


def is_trusted(peer: str, networks: tuple[Network, ...]) -> bool:
    """Whether the address a connection comes from is one of ``networks``
    (an IPv4-mapped IPv6 peer, as a dual-stack socket sees IPv4, counts as IPv4)."""
    try:
        address = _unmapped(ipaddress.ip_address(peer))
    except ValueError:
        return False
    return any(address in network for network in networks)
