"""The names of the benchmark's scenarios, defined once.

``run`` records each scenario's results under its name, ``report`` reads them
back into tables and plots, and ``tests/test_bench_quick.py`` checks they are
all there: each of them spells a name only through this module.
"""

from __future__ import annotations

__all__ = [
    "CALIBRATED",
    "CONVERSATION_DEEP",
    "CONVERSATION_PAGE0",
    "DELIVERY",
    "HANDSHAKE",
    "IDLE_MEMORY",
    "LISTE",
    "LISTE_DEEP",
    "MESSAGE",
    "MESSAGE_CLOSED",
    "MESSAGE_CONNECTIONS",
    "MESSAGE_PIPELINED",
    "PIPELINED_CONNECTIONS",
    "READS",
    "THROUGHPUT",
    "message_closed",
    "message_pipelined",
]

IDLE_MEMORY = "idle_memory"  # idle authenticated TLS connections: server memory
HANDSHAKE = "handshake"  # connect + TLS handshake + /connexion + close
DELIVERY = "delivery"  # live delivery to /push listeners

# /message at each connection count, closed loop and pipelined.
MESSAGE_CLOSED = "message_closed_"
MESSAGE_PIPELINED = "message_pipelined_"
MESSAGE_CONNECTIONS = (1, 50, 500)
PIPELINED_CONNECTIONS = (1, 50)


def message_closed(connections: int) -> str:
    return f"{MESSAGE_CLOSED}{connections}"


def message_pipelined(connections: int) -> str:
    return f"{MESSAGE_PIPELINED}{connections}"


# The /message scenario the targets and the profile are about (50 connections).
MESSAGE = message_closed(50)

# Reads on the filled database.
LISTE = "liste"
LISTE_DEEP = "liste_deep"
CONVERSATION_PAGE0 = "conversation_page0"
CONVERSATION_DEEP = "conversation_deep"
READS = (LISTE, LISTE_DEEP, CONVERSATION_PAGE0, CONVERSATION_DEEP)

# Every throughput scenario, in the order of the report's tables.
THROUGHPUT = (
    *(message_closed(count) for count in MESSAGE_CONNECTIONS),
    *(message_pipelined(count) for count in PIPELINED_CONNECTIONS),
    *READS,
)

# The closed-loop scenarios at the calibration's connection count, placed on its curve.
CALIBRATED = {
    MESSAGE: "`/message`",
    LISTE: "`/liste` page 0",
    LISTE_DEEP: "`/liste` deep page",
    CONVERSATION_PAGE0: "`/conversation` page 0",
    CONVERSATION_DEEP: "`/conversation` deep page",
}
