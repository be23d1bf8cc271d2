"""The Pactocole, shared by the server, the tools and the desktop apps.

``codec`` (sans-IO framing, escapes), ``errors`` (status errors),
``models`` (typed reply bodies) and ``client`` (the async client library).
"""

from .client import ClientState, TchatatorClient, fetch_ca
from .codec import (
    NEED_DATA,
    LineError,
    Push,
    Reply,
    ReplyReader,
    Request,
    RequestReader,
    decode_text,
    encode_reply,
    encode_request,
    encode_text,
)
from .errors import ClientError, ConnectionLost, StatusError, TchatatorError
from .models import ConversationSummary, LogEntry, Message, Page, Restriction, Session, User

__all__ = [
    "NEED_DATA",
    "ClientError",
    "ClientState",
    "ConnectionLost",
    "ConversationSummary",
    "LineError",
    "LogEntry",
    "Message",
    "Page",
    "Push",
    "Reply",
    "ReplyReader",
    "Request",
    "RequestReader",
    "Restriction",
    "Session",
    "StatusError",
    "TchatatorClient",
    "TchatatorError",
    "User",
    "decode_text",
    "encode_reply",
    "encode_request",
    "encode_text",
    "fetch_ca",
]
